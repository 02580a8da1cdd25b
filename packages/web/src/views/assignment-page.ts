import { html, path, type SafeHtml } from "../html.js";
import type { Assignment, CourseDetail, FileRef, Grade, Submission, User } from "../lms-api.js";
import { formatBytes, formatPoints, timeTag } from "./format.js";
import { formGuards, type PageContext, type PageOptions } from "./layout.js";
import { uploadForm } from "./upload-form.js";

export interface StudentAssignmentData {
  readonly kind: "student";
  readonly assignment: Assignment;
  readonly detail: CourseDetail;
  /** Oldest first. */
  readonly attempts: readonly Submission[];
  /** Present only once released. */
  readonly grade: Grade | undefined;
  readonly nowMs: number;
  readonly maxUploadBytes: number;
}

export interface InstructorAssignmentData {
  readonly kind: "instructor";
  readonly assignment: Assignment;
  readonly detail: CourseDetail;
  readonly students: readonly User[];
  /** Latest attempt per student. */
  readonly latest: readonly Submission[];
  readonly grades: readonly Grade[];
}

export type AssignmentPageData = StudentAssignmentData | InstructorAssignmentData;

/** One assignment: the student's submit form and history, or the instructor's grading table. */
export function assignmentPage(context: PageContext, data: AssignmentPageData): PageOptions {
  const { assignment, detail } = data;
  return {
    title: assignment.title,
    scripts: data.kind === "student" ? ["upload.js"] : [],
    main: html`<header class="page-header">
<p class="breadcrumb"><a href="/dashboard">Dashboard</a> › <a href="${path`/courses/${detail.course.id}`}">${detail.course.title}</a></p>
<h1>${assignment.title}</h1>
<dl class="facts">
<div><dt>Due</dt><dd>${assignment.dueAtMs === 0 ? "No due date" : timeTag(assignment.dueAtMs)}</dd></div>
<div><dt>Points</dt><dd>${formatPoints(assignment.maxPoints)}</dd></div>
<div><dt>Grades</dt><dd>${assignment.gradesReleasedAtMs === 0 ? "not released yet" : html`released ${timeTag(assignment.gradesReleasedAtMs)}`}</dd></div>
</dl>
${assignment.description === "" ? html`` : html`<p class="description">${assignment.description}</p>`}
</header>
${data.kind === "student" ? studentView(context, data) : instructorView(context, data)}`,
  };
}

/** Download links for a submission's files. */
export function fileLinks(files: readonly FileRef[]): SafeHtml {
  if (files.length === 0) return html``;
  return html`<ul class="file-list">${files.map(
    (file) =>
      html`<li><a href="${path`/files/${file.fileId}`}">${file.name}</a> <span class="muted">${formatBytes(file.sizeBytes)}</span></li>`,
  )}</ul>`;
}

/** A student's attempts, newest first. */
export function attemptList(attempts: readonly Submission[], emptyText: string): SafeHtml {
  if (attempts.length === 0) return html`<p class="empty">${emptyText}</p>`;
  return html`<ol class="item-list attempts" reversed>${[...attempts].reverse().map(
    (
      attempt,
    ) => html`<li><p><strong>Attempt ${attempt.attempt}</strong> · ${timeTag(attempt.submittedAtMs)}${attempt.late ? html` <span class="badge badge-late">late</span>` : html``}</p>
${attempt.text === "" ? html`` : html`<p class="submission-text">${attempt.text}</p>`}
${fileLinks(attempt.files)}</li>`,
  )}</ol>`;
}

function studentView(context: PageContext, data: StudentAssignmentData): SafeHtml {
  const { assignment, grade } = data;
  const overdue = assignment.dueAtMs !== 0 && assignment.dueAtMs < data.nowMs;
  return html`<section class="card" aria-labelledby="grade-title">
<h2 id="grade-title">Your grade</h2>
${
  grade === undefined
    ? html`<p class="empty">${assignment.gradesReleasedAtMs === 0 ? "Grades for this assignment have not been released yet." : "You have no grade for this assignment."}</p>`
    : html`<p class="grade"><strong>${formatPoints(grade.points)}</strong> / ${formatPoints(assignment.maxPoints)}</p>
${grade.feedback === "" ? html`` : html`<div class="feedback"><p class="answer-label">Feedback</p><p>${grade.feedback}</p></div>`}`
}
</section>
<section class="card" aria-labelledby="submit-title">
<h2 id="submit-title">${data.attempts.length === 0 ? "Submit your work" : "Submit again"}</h2>
${overdue ? html`<p class="notice">The due date has passed: a submission now is marked late.</p>` : html``}
${uploadForm(context, {
  action: path`/assignments/${assignment.id}/submit`,
  id: "submission",
  maxBytes: data.maxUploadBytes,
  fileLabel: "File",
  fileRequired: false,
  submitLabel: "Submit",
  fields: html`<label for="submission-text">Text (optional if you attach a file)</label>
<textarea id="submission-text" name="text" rows="4" maxlength="10000"></textarea>`,
})}
</section>
<section class="card" aria-labelledby="history-title">
<h2 id="history-title">Your submissions</h2>
${attemptList(data.attempts, "You have not submitted anything yet.")}
</section>`;
}

function instructorView(context: PageContext, data: InstructorAssignmentData): SafeHtml {
  const { assignment } = data;
  const latest = new Map(data.latest.map((submission) => [submission.studentId, submission]));
  const grades = new Map(data.grades.map((grade) => [grade.studentId, grade]));
  const released = assignment.gradesReleasedAtMs !== 0;
  return html`<section class="card" aria-labelledby="release-title">
<h2 id="release-title">Release</h2>
<p>${released ? "Students can see their grades and feedback." : "Grades are hidden from students until you release them."}</p>
<form method="post" action="${path`/assignments/${assignment.id}/release`}" class="inline-form">
${formGuards(context)}
<input type="hidden" name="released" value="${released ? "0" : "1"}">
<button type="submit"${released ? html` class="secondary"` : html``}>${released ? "Hide grades again" : "Release grades"}</button>
</form>
<a class="button secondary" href="${path`/courses/${assignment.courseId}/grade-history`}?assignmentId=${encodeURIComponent(assignment.id)}">Grade history</a>
</section>
<section class="card" aria-labelledby="submissions-title">
<h2 id="submissions-title">Students</h2>
${
  data.students.length === 0
    ? html`<p class="empty">No students are enrolled yet.</p>`
    : html`<ul class="item-list grading-list">${data.students.map((student) =>
        gradingRow(context, assignment, student, latest.get(student.id), grades.get(student.id)),
      )}</ul>`
}
</section>`;
}

function gradingRow(
  context: PageContext,
  assignment: Assignment,
  student: User,
  submission: Submission | undefined,
  grade: Grade | undefined,
): SafeHtml {
  const formId = `grade-${student.id}`;
  const stale = grade !== undefined && submission !== undefined && grade.submissionId !== submission.id;
  return html`<li class="grading-row">
<h3 class="item-title">${student.displayName} <span class="muted">@${student.username}</span></h3>
${
  submission === undefined
    ? html`<p class="muted">No submission.</p>`
    : html`<p>Attempt ${submission.attempt} · ${timeTag(submission.submittedAtMs)}${submission.late ? html` <span class="badge badge-late">late</span>` : html``}
 · <a href="${path`/assignments/${assignment.id}/students/${student.id}`}">all attempts</a></p>
${submission.text === "" ? html`` : html`<p class="submission-text">${submission.text}</p>`}
${fileLinks(submission.files)}`
}
${grade === undefined ? html`<p><span class="badge">not graded</span></p>` : html`<p><span class="badge badge-ok">${formatPoints(grade.points)} / ${formatPoints(assignment.maxPoints)}</span>${stale ? html` <span class="badge badge-late">newer attempt since grading</span>` : html``}</p>`}
<form method="post" action="${path`/assignments/${assignment.id}/grade`}" class="grade-form">
${formGuards(context)}
<input type="hidden" name="studentId" value="${student.id}">
<input type="hidden" name="submissionId" value="${submission?.id ?? ""}">
<label for="${formId}-points">Points</label>
<input id="${formId}-points" name="points" type="number" min="0" max="${assignment.maxPoints}" step="0.01" required value="${grade === undefined ? "" : formatPoints(grade.points)}">
<label for="${formId}-feedback">Feedback</label>
<textarea id="${formId}-feedback" name="feedback" rows="2" maxlength="10000">${grade?.feedback ?? ""}</textarea>
<button type="submit">Save grade</button>
</form>
</li>`;
}

/** The instructor's view of one student's attempts at an assignment. */
export function studentAttemptsPage(
  _context: PageContext,
  data: { assignment: Assignment; student: User | undefined; studentId: string; attempts: readonly Submission[] },
): PageOptions {
  const name = data.student?.displayName ?? data.studentId;
  return {
    title: `${data.assignment.title}: ${name}`,
    main: html`<p class="breadcrumb"><a href="${path`/assignments/${data.assignment.id}`}">${data.assignment.title}</a></p>
<h1>Attempts by ${name}</h1>
${attemptList(data.attempts, "This student has not submitted anything.")}`,
  };
}
