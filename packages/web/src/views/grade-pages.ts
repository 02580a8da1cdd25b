import { html, path, type SafeHtml } from "../html.js";
import type { Assignment, Course, Grade, GradeChange, NeedsGradingItem } from "../lms-api.js";
import { formatPoints, timeTag } from "./format.js";
import type { PageContext, PageOptions } from "./layout.js";

/** A student's released grades, course by course. */
export function myGradesPage(
  _context: PageContext,
  courses: ReadonlyArray<{ course: Course; assignments: readonly Assignment[]; grades: readonly Grade[] }>,
): PageOptions {
  const sections = courses.map(({ course, assignments, grades }) => {
    const titles = new Map(assignments.map((assignment) => [assignment.id, assignment]));
    return html`<section class="card" aria-labelledby="${`grades-${course.id}`}">
<h2 id="${`grades-${course.id}`}"><a href="${path`/courses/${course.id}`}">${course.title}</a></h2>
${
  grades.length === 0
    ? html`<p class="empty">No grades released yet.</p>`
    : html`<div class="table-wrap"><table><thead><tr><th scope="col">Assignment</th><th scope="col">Points</th><th scope="col">Feedback</th></tr></thead><tbody>
${grades.map((grade) => {
  const assignment = titles.get(grade.assignmentId);
  return html`<tr><th scope="row"><a href="${path`/assignments/${grade.assignmentId}`}">${assignment?.title ?? "Assignment"}</a></th>
<td>${formatPoints(grade.points)}${assignment === undefined ? html`` : html` / ${formatPoints(assignment.maxPoints)}`}</td><td>${grade.feedback}</td></tr>`;
})}
</tbody></table></div>`
}
</section>`;
  });
  return {
    title: "My grades",
    main: html`<h1>My grades</h1>
${sections.length === 0 ? html`<p class="empty">You are not in any course yet.</p>` : sections}`,
  };
}

/** The instructor's queue of assignments with ungraded work. */
export function needsGradingPage(_context: PageContext, items: readonly NeedsGradingItem[]): PageOptions {
  const total = items.reduce((sum, item) => sum + item.ungradedCount, 0);
  const late = items.reduce((sum, item) => sum + item.lateCount, 0);
  return {
    title: "Needs grading",
    main: html`<h1>Needs grading</h1>
${
  items.length === 0
    ? html`<p class="empty">All caught up: every latest submission has a grade.</p>`
    : html`<p>${total} ${total === 1 ? "submission waits" : "submissions wait"} for a grade${late > 0 ? html`, ${late} of them late` : html``}.</p>
<div class="table-wrap"><table><thead><tr><th scope="col">Assignment</th><th scope="col">Course</th><th scope="col">Due</th><th scope="col">Ungraded</th><th scope="col">Late</th></tr></thead><tbody>
${items.map(
  (
    item,
  ) => html`<tr><th scope="row"><a href="${path`/assignments/${item.assignmentId}`}">${item.assignmentTitle}</a></th>
<td><a href="${path`/courses/${item.courseId}`}">${item.courseTitle}</a></td><td>${timeTag(item.dueAtMs, "none")}</td>
<td>${item.ungradedCount}</td><td>${item.lateCount > 0 ? html`<span class="badge badge-late">${item.lateCount}</span>` : "0"}</td></tr>`,
)}
</tbody></table></div>`
}`,
  };
}

/** Every change to a course's grades, oldest first. */
export function gradeHistoryPage(
  _context: PageContext,
  data: {
    course: Course;
    changes: readonly GradeChange[];
    names: ReadonlyMap<string, string>;
    titles: ReadonlyMap<string, string>;
  },
): PageOptions {
  const name = (id: string): string => data.names.get(id) ?? id;
  const rows: SafeHtml[] = data.changes.map(
    (
      change,
    ) => html`<tr><td>${timeTag(change.changedAtMs)}</td><td>${data.titles.get(change.assignmentId) ?? change.assignmentId}</td>
<td>${name(change.studentId)}</td><td>${name(change.changedBy)}</td>
<td>${change.oldPoints === undefined ? "—" : formatPoints(change.oldPoints)} → ${formatPoints(change.newPoints)}</td>
<td>${change.oldFeedback === change.newFeedback ? html`<span class="muted">unchanged</span>` : html`<del>${change.oldFeedback}</del> <ins>${change.newFeedback}</ins>`}</td></tr>`,
  );
  return {
    title: `Grade history: ${data.course.title}`,
    main: html`<p class="breadcrumb"><a href="${path`/courses/${data.course.id}`}">${data.course.title}</a></p>
<h1>Grade history</h1>
${
  rows.length === 0
    ? html`<p class="empty">No grades have been given yet.</p>`
    : html`<div class="table-wrap"><table><thead><tr><th scope="col">When</th><th scope="col">Assignment</th><th scope="col">Student</th><th scope="col">By</th><th scope="col">Points</th><th scope="col">Feedback</th></tr></thead><tbody>${rows}</tbody></table></div>`
}`,
  };
}
