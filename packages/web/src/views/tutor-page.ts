import { html, path, type SafeHtml } from "../html.js";
import type { TutorExchange } from "../lms-api.js";
import { timeTag } from "./format.js";
import { formGuards, type PageContext, type PageOptions } from "./layout.js";

/** Past exchanges shown on the tutor page, newest first; older ones are left out. */
export const maxShownTutorExchanges = 20;

export interface TutorPageState {
  readonly materialId?: string;
  readonly question?: string;
  /** A finished answer (the no-script path). */
  readonly answer?: string;
  /** Why there is no answer, e.g. the tutor is unavailable. */
  readonly error?: string;
  /** The viewer's earlier exchanges; undefined when they could not be read just now. */
  readonly history?: readonly TutorExchange[];
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
</section>
${historySection(state.history)}`,
  };
}

function historySection(history: readonly TutorExchange[] | undefined): SafeHtml {
  const heading = html`<h2 id="history-title">Your earlier questions</h2>`;
  if (history === undefined) {
    return html`<section aria-labelledby="history-title" class="card">${heading}
<p class="notice">Your earlier questions could not be loaded just now. Reload the page to try again.</p></section>`;
  }
  const newestFirst = [...history].sort((a, b) => b.askedAtMs - a.askedAtMs);
  const shown = newestFirst.slice(0, maxShownTutorExchanges);
  return html`<section aria-labelledby="history-title" class="card">${heading}
${
  shown.length === 0
    ? html`<p class="empty">You have not asked the tutor anything yet.</p>`
    : html`<ul class="item-list">${shown.map(
        (exchange) => html`<li>
<p class="question-text">${exchange.question}</p>
<p class="muted">Asked ${timeTag(exchange.askedAtMs)}${exchange.courseId === "" ? html`` : html` · about a material of <a href="${path`/courses/${exchange.courseId}`}">one of your courses</a>`}${exchange.model === "" ? html`` : html` · ${exchange.model}`}</p>
<details><summary>Answer</summary><p class="answer">${exchange.answer}</p></details>
</li>`,
      )}</ul>`
}
${newestFirst.length > shown.length ? html`<p class="muted">Showing your ${shown.length} most recent questions of ${newestFirst.length}.</p>` : html``}
</section>`;
}
