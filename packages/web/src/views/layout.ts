import { html, type SafeHtml } from "../html.js";
import type { Flash } from "../http/flash.js";
import { idempotencyFieldName, newIdempotencyKey } from "../http/forms.js";
import type { Viewer } from "../http/session.js";

/** What every page needs besides its own content. */
export interface PageContext {
  readonly viewer: Viewer | undefined;
  /** A CSRF token for this page's forms. */
  readonly csrfToken: string;
  readonly flash: Flash | undefined;
  /** The path being shown, to mark the current navigation link. */
  readonly currentPath: string;
}

export interface PageOptions {
  readonly title: string;
  readonly main: SafeHtml;
  /** Scripts from /static (never inline: the CSP allows 'self' only). */
  readonly scripts?: readonly string[];
}

/** The hidden fields every state-changing form carries: the CSRF token and an idempotency key. */
export function formGuards(context: PageContext): SafeHtml {
  return html`<input type="hidden" name="_csrf" value="${context.csrfToken}"><input type="hidden" name="${idempotencyFieldName}" value="${newIdempotencyKey()}">`;
}

/** A whole HTML document around a page's main content. */
export function layout(context: PageContext, page: PageOptions): SafeHtml {
  const scripts = page.scripts ?? [];
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${page.title} · Lectern</title>
<link rel="stylesheet" href="/static/style.css">
${scripts.map((script) => html`<script src="/static/${script}" defer></script>`)}
</head>
<body>
<a class="skip-link" href="#main">Skip to content</a>
<header class="site-header">
<a class="brand" href="/">Lectern</a>
${navigation(context)}
</header>
<main id="main" tabindex="-1">
${flashMessage(context.flash)}
${page.main}
</main>
<footer class="site-footer"><p>Lectern — courses replicated with Raft.</p></footer>
</body>
</html>`;
}

function flashMessage(flash: Flash | undefined): SafeHtml {
  if (flash === undefined) return html``;
  return flash.kind === "error"
    ? html`<div class="flash flash-error" role="alert">${flash.text}</div>`
    : html`<div class="flash flash-success" role="status">${flash.text}</div>`;
}

function navigation(context: PageContext): SafeHtml {
  const viewer = context.viewer;
  if (viewer === undefined) {
    return html`<nav aria-label="Main"><ul class="nav-links">
${navLink(context, "/login", "Sign in")}
${navLink(context, "/register", "Register")}
</ul></nav>`;
  }
  const links: Array<[string, string]> = [["/dashboard", "Dashboard"]];
  if (viewer.role === "student") links.push(["/grades", "My grades"], ["/tutor", "AI tutor"]);
  if (viewer.role === "instructor")
    links.push(["/grading", "Needs grading"], ["/courses/new", "New course"], ["/tutor", "AI tutor"]);
  if (viewer.role === "admin")
    links.push(["/courses/new", "New course"], ["/admin/users", "Users"], ["/admin/cluster", "Cluster"]);
  return html`<nav aria-label="Main"><ul class="nav-links">
${links.map(([href, label]) => navLink(context, href, label))}
</ul></nav>
<div class="account">
<span class="account-name">${viewer.displayName} <span class="role-badge">${viewer.role}</span></span>
<form method="post" action="/logout" class="inline-form">
<input type="hidden" name="_csrf" value="${context.csrfToken}">
<button type="submit" class="button-link">Sign out</button>
</form>
</div>`;
}

function navLink(context: PageContext, href: string, label: string): SafeHtml {
  const current = context.currentPath === href;
  return html`<li><a href="${href}"${current ? html` aria-current="page"` : html``}>${label}</a></li>`;
}
