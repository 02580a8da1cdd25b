import { html, type SafeHtml } from "../html.js";
import type { PageContext, PageOptions } from "./layout.js";

/** A page explaining a failure, with a way onward. */
export function errorPage(
  context: PageContext,
  error: { title: string; message: string; statusCode: number; retry?: boolean },
): PageOptions {
  const onward: SafeHtml = error.retry
    ? html`<p>This usually passes within a second or two. <a href="">Reload the page</a>, or go back and send the form again: it will not be applied twice.</p>`
    : html`<p><a href="${context.viewer === undefined ? "/login" : "/dashboard"}">Go to ${context.viewer === undefined ? "sign in" : "your dashboard"}</a></p>`;
  return {
    title: error.title,
    main: html`<section class="error-page" aria-labelledby="error-title">
<h1 id="error-title">${error.title}</h1>
<p class="error-code">Error ${error.statusCode}</p>
<p>${error.message}</p>
${onward}
</section>`,
  };
}
