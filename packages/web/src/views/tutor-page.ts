import { html } from "../html.js";
import { formGuards, type PageContext, type PageOptions } from "./layout.js";

export interface TutorPageState {
  readonly materialId?: string;
  readonly question?: string;
  /** A finished answer (the no-script path). */
  readonly answer?: string;
  /** Why there is no answer, e.g. the tutor is unavailable. */
  readonly error?: string;
}

/** Ask the AI tutor; public/tutor.js streams the answer in, without it the page reloads with it. */
export function tutorPage(context: PageContext, state: TutorPageState = {}): PageOptions {
  return {
    title: "AI tutor",
    scripts: ["tutor.js"],
    main: html`<h1>AI tutor</h1>
<p class="muted">The tutor is a language model: check what it says against your course materials.${state.materialId === undefined ? html`` : html` This question is about a course material you chose.`}</p>
<form method="post" action="/tutor" class="stacked-form" id="tutor-form" data-csrf="${context.csrfToken}">
${formGuards(context)}
${state.materialId === undefined ? html`` : html`<input type="hidden" name="materialId" value="${state.materialId}">`}
<label for="tutor-question">Your question</label>
<textarea id="tutor-question" name="question" rows="4" required maxlength="4000">${state.question ?? ""}</textarea>
<button type="submit">Ask</button>
</form>
<section aria-labelledby="answer-title" class="card tutor-answer-card">
<h2 id="answer-title">Answer</h2>
<div id="tutor-error" role="alert" class="${state.error === undefined ? "flash flash-error hidden" : "flash flash-error"}">${state.error ?? ""}</div>
<p id="tutor-answer" class="tutor-answer" aria-live="polite" aria-busy="false">${state.answer ?? ""}</p>
</section>`,
  };
}
