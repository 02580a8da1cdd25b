import { html, path, type SafeHtml } from "../html.js";
import type { Assignment, Course, NeedsGradingItem } from "../lms-api.js";
import { timeTag } from "./format.js";
import { formGuards, type PageContext, type PageOptions } from "./layout.js";

export interface StudentDashboard {
  readonly kind: "student";
  readonly courses: readonly Course[];
  /** Assignments with no submission yet, soonest due first. */
  readonly toDo: ReadonlyArray<{ course: Course; assignment: Assignment }>;
  readonly nowMs: number;
}

export interface InstructorDashboard {
  readonly kind: "instructor";
  readonly courses: readonly Course[];
  readonly needsGrading: readonly NeedsGradingItem[];
  readonly pendingQuestions: ReadonlyArray<{ course: Course; count: number }>;
}

export interface AdminDashboard {
  readonly kind: "admin";
  readonly courses: readonly Course[];
  /** The admin's own user id: only the courses they own open (the service keeps the rest's contents to members). */
  readonly viewerId: string;
}

export type Dashboard = StudentDashboard | InstructorDashboard | AdminDashboard;

/** The landing page after sign-in: my courses and what needs my attention. */
export function dashboardPage(context: PageContext, dashboard: Dashboard): PageOptions {
  const name = context.viewer?.displayName ?? "";
  return {
    title: "Dashboard",
    main: html`<h1>Hello, ${name}</h1>
${attention(context, dashboard)}
<section aria-labelledby="courses-title">
<h2 id="courses-title">${dashboard.kind === "admin" ? "All courses" : "My courses"}</h2>
${courseList(dashboard)}
</section>`,
  };
}

function attention(context: PageContext, dashboard: Dashboard): SafeHtml {
  if (dashboard.kind === "student") {
    return html`<section aria-labelledby="todo-title" class="card">
<h2 id="todo-title">To do</h2>
${
  dashboard.toDo.length === 0
    ? html`<p class="empty">Nothing is waiting for you. Well done!</p>`
    : html`<ul class="item-list">${dashboard.toDo.map(
        ({ course, assignment }) => html`<li><a href="${path`/assignments/${assignment.id}`}">${assignment.title}</a>
<span class="muted">${course.title}</span>
${assignment.dueAtMs === 0 ? html`<span class="muted">no due date</span>` : html`<span class="${assignment.dueAtMs < dashboard.nowMs ? "badge badge-late" : "muted"}">${assignment.dueAtMs < dashboard.nowMs ? "overdue since " : "due "}${timeTag(assignment.dueAtMs)}</span>`}</li>`,
      )}</ul>`
}
</section>
<section aria-labelledby="join-title" class="card">
<h2 id="join-title">Join a course</h2>
<form method="post" action="/courses/join" class="inline-fields">
${formGuards(context)}
<label for="join-code">Join code</label>
<input id="join-code" name="code" required maxlength="32" autocomplete="off" autocapitalize="characters">
<button type="submit">Join</button>
</form>
</section>`;
  }
  if (dashboard.kind === "instructor") {
    const questions = dashboard.pendingQuestions.filter((entry) => entry.count > 0);
    return html`<section aria-labelledby="attention-title" class="card">
<h2 id="attention-title">Needs your attention</h2>
${
  dashboard.needsGrading.length === 0 && questions.length === 0
    ? html`<p class="empty">No ungraded work and no open questions.</p>`
    : html`<ul class="item-list">
${dashboard.needsGrading.map(
  (
    item,
  ) => html`<li><a href="${path`/assignments/${item.assignmentId}`}">${item.assignmentTitle}</a> <span class="muted">${item.courseTitle}</span>
<span class="badge">${item.ungradedCount} to grade</span>${item.lateCount > 0 ? html` <span class="badge badge-late">${item.lateCount} late</span>` : html``}</li>`,
)}
${questions.map(
  ({ course, count }) =>
    html`<li><a href="${path`/courses/${course.id}`}#questions">${count} open ${count === 1 ? "question" : "questions"}</a> <span class="muted">${course.title}</span></li>`,
)}
</ul>`
}
</section>`;
  }
  return html`<section class="card" aria-labelledby="admin-title">
<h2 id="admin-title">Administration</h2>
<ul class="item-list"><li><a href="/admin/users">Users and instructor accounts</a></li><li><a href="/admin/cluster">Cluster status and members</a></li></ul>
</section>`;
}

function courseList(dashboard: Dashboard): SafeHtml {
  if (dashboard.courses.length === 0) {
    if (dashboard.kind === "student")
      return html`<p class="empty">You are not in any course yet. Ask your instructor for a join code.</p>`;
    if (dashboard.kind === "instructor")
      return html`<p class="empty">You have no courses yet. <a href="/courses/new">Create your first course</a>.</p>`;
    return html`<p class="empty">No courses exist yet.</p>`;
  }
  // An admin sees every course but reads the contents only of those they own (lms.proto).
  const opens = (course: Course) => dashboard.kind !== "admin" || course.instructorId === dashboard.viewerId;
  return html`<ul class="course-grid">${dashboard.courses.map(
    (course) => html`<li class="card course-card"><h3>${
      opens(course) ? html`<a href="${path`/courses/${course.id}`}">${course.title}</a>` : course.title
    }</h3>
<p>${course.description === "" ? html`<span class="muted">No description.</span>` : course.description}</p>
<p class="muted">${course.studentCount} ${course.studentCount === 1 ? "student" : "students"}</p></li>`,
  )}</ul>`;
}
