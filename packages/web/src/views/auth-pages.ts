import { html, type SafeHtml } from "../html.js";
import { formGuards, type PageContext, type PageOptions } from "./layout.js";

export interface AuthFormState {
  readonly username?: string;
  readonly displayName?: string;
  readonly error?: string;
  readonly next?: string;
}

function formError(error: string | undefined): SafeHtml {
  return error === undefined
    ? html``
    : html`<div class="flash flash-error" role="alert" id="form-error">${error}</div>`;
}

/** The sign-in page. */
export function loginPage(context: PageContext, state: AuthFormState = {}): PageOptions {
  return {
    title: "Sign in",
    main: html`<section class="narrow card" aria-labelledby="login-title">
<h1 id="login-title">Sign in</h1>
${formError(state.error)}
<form method="post" action="/login" class="stacked-form">
<input type="hidden" name="_csrf" value="${context.csrfToken}">
${state.next === undefined ? html`` : html`<input type="hidden" name="next" value="${state.next}">`}
<label for="login-username">Username</label>
<input id="login-username" name="username" autocomplete="username" required maxlength="32" value="${state.username ?? ""}"${state.error === undefined ? html`` : html` aria-describedby="form-error"`}>
<label for="login-password">Password</label>
<input id="login-password" name="password" type="password" autocomplete="current-password" required maxlength="256">
<button type="submit">Sign in</button>
</form>
<p>New student? <a href="/register">Create an account</a>.</p>
</section>`,
  };
}

/** The student registration page. */
export function registerPage(context: PageContext, state: AuthFormState = {}): PageOptions {
  return {
    title: "Register",
    main: html`<section class="narrow card" aria-labelledby="register-title">
<h1 id="register-title">Create a student account</h1>
${formError(state.error)}
<form method="post" action="/register" class="stacked-form">
${formGuards(context)}
<label for="register-name">Your name</label>
<input id="register-name" name="displayName" autocomplete="name" required maxlength="100" value="${state.displayName ?? ""}">
<label for="register-username">Username</label>
<input id="register-username" name="username" autocomplete="username" required minlength="3" maxlength="32" pattern="[a-z0-9_.\\-]{3,32}" aria-describedby="username-hint" value="${state.username ?? ""}">
<p class="hint" id="username-hint">3 to 32 characters: lower-case letters, digits, _ . -</p>
<label for="register-password">Password</label>
<input id="register-password" name="password" type="password" autocomplete="new-password" required minlength="12" maxlength="256" aria-describedby="password-hint">
<p class="hint" id="password-hint">At least 12 characters.</p>
<label for="register-confirm">Repeat the password</label>
<input id="register-confirm" name="confirm" type="password" autocomplete="new-password" required minlength="12" maxlength="256">
<button type="submit">Create account</button>
</form>
<p>Already registered? <a href="/login">Sign in</a>. Instructors get their account from an administrator.</p>
</section>`,
  };
}
