import { html, path, type SafeHtml } from "../html.js";
import type { Assignment, CourseDetail, CoursePage, FeedbackNote, Grade, Material, Submission } from "../lms-api.js";
import { formatBytes, formatPoints, timeTag } from "./format.js";
import { formGuards, type PageContext, type PageOptions } from "./layout.js";
import { uploadForm } from "./upload-form.js";

/** What GetCoursePage answered (lms-api.ts `CoursePage`), and what the page adds to it. */
export interface CoursePageData extends Omit<CoursePage, "viewerRole"> {
  /** Whether the viewer gets the instructor's view (routes/ownership.ts `managesCourse`). */
  readonly isOwner: boolean;
  readonly nowMs: number;
  readonly maxUploadBytes: number;
}

/** A course: materials, assignments and questions; for its instructor also codes, students and forms. */
export function coursePage(context: PageContext, data: CoursePageData): PageOptions {
  const { course, instructor } = data.detail;
  return {
    title: course.title,
    scripts: ["upload.js"],
    main: html`<header class="page-header">
<p class="breadcrumb"><a href="/dashboard">Dashboard</a></p>
<h1>${course.title}</h1>
<p class="muted">Taught by ${instructor.displayName} · ${course.studentCount} ${course.studentCount === 1 ? "student" : "students"}</p>
${course.description === "" ? html`` : html`<p class="description">${course.description}</p>`}
${
  data.isOwner
    ? html`<ul class="toolbar">
<li><a class="button" href="${path`/courses/${course.id}/grades.csv`}" download>Export grades (CSV)</a></li>
<li><a class="button secondary" href="${path`/courses/${course.id}/grade-history`}">Grade history</a></li>
<li><a class="button secondary" href="${path`/grading`}?courseId=${encodeURIComponent(course.id)}">Needs grading</a></li>
</ul>`
    : html``
}
</header>
${assignmentsSection(context, data)}
${feedbackSection(context, data)}
${materialsSection(context, data)}
${questionsSection(context, data)}
${data.isOwner ? html`${joinCodesSection(context, data)}${studentsSection(context, data)}` : html``}`,
  };
}

function assignmentsSection(context: PageContext, data: CoursePageData): SafeHtml {
  const course = data.detail.course;
  const latest = new Map(data.mySubmissions.map((submission) => [submission.assignmentId, submission]));
  const grades = new Map(data.myGrades.map((grade) => [grade.assignmentId, grade]));
  const rows = data.assignments.map((assignment) => {
    const due = assignment.dueAtMs === 0 ? html`<span class="muted">none</span>` : timeTag(assignment.dueAtMs);
    let status: SafeHtml;
    if (data.isOwner) {
      status =
        assignment.gradesReleasedAtMs === 0
          ? html`<span class="badge">grades hidden</span>`
          : html`<span class="badge badge-ok">grades released</span>`;
    } else {
      status = studentStatus(assignment, latest.get(assignment.id), grades.get(assignment.id), data.nowMs);
    }
    return html`<tr><th scope="row"><a href="${path`/assignments/${assignment.id}`}">${assignment.title}</a></th><td>${due}</td><td>${formatPoints(assignment.maxPoints)}</td><td>${status}</td></tr>`;
  });
  return html`<section aria-labelledby="assignments-title" class="card">
<h2 id="assignments-title">Assignments</h2>
${
  rows.length === 0
    ? html`<p class="empty">${data.isOwner ? "No assignments yet. Create one below." : "No assignments have been posted yet."}</p>`
    : html`<div class="table-wrap"><table><thead><tr><th scope="col">Assignment</th><th scope="col">Due</th><th scope="col">Points</th><th scope="col">Status</th></tr></thead><tbody>${rows}</tbody></table></div>`
}
${
  data.isOwner
    ? html`<details class="form-details"><summary>New assignment</summary>
<form method="post" action="${path`/courses/${course.id}/assignments`}" class="stacked-form">
${formGuards(context)}
<label for="assignment-title">Title</label>
<input id="assignment-title" name="title" required maxlength="200">
<label for="assignment-description">Description</label>
<textarea id="assignment-description" name="description" rows="4" maxlength="20000"></textarea>
<label for="assignment-due">Due (UTC, optional)</label>
<input id="assignment-due" name="dueAt" type="datetime-local">
<label for="assignment-points">Maximum points</label>
<input id="assignment-points" name="maxPoints" type="number" min="0.01" max="100000" step="0.01" value="100" required>
<button type="submit">Create assignment</button>
</form></details>`
    : html``
}
</section>`;
}

function studentStatus(
  assignment: Assignment,
  latest: Submission | undefined,
  grade: Grade | undefined,
  nowMs: number,
): SafeHtml {
  if (grade !== undefined) {
    return html`<span class="badge badge-ok">graded ${formatPoints(grade.points)} / ${formatPoints(assignment.maxPoints)}</span>`;
  }
  if (latest !== undefined) {
    return html`<span class="badge">submitted (attempt ${latest.attempt})</span>${latest.late ? html` <span class="badge badge-late">late</span>` : html``}`;
  }
  if (assignment.dueAtMs !== 0 && assignment.dueAtMs < nowMs)
    return html`<span class="badge badge-late">overdue</span>`;
  return html`<span class="muted">not submitted</span>`;
}

function feedbackSection(context: PageContext, data: CoursePageData): SafeHtml {
  const course = data.detail.course;
  const studentNames = new Map(data.students.map((student) => [student.id, student.displayName]));
  const notes = [...data.feedback].sort((a, b) => b.createdAtMs - a.createdAtMs);
  const recipient = (note: FeedbackNote): SafeHtml => {
    if (note.studentId === "") return html`<span class="badge">whole course</span>`;
    if (!data.isOwner) return html`<span class="badge badge-ok">to you</span>`;
    return html`<span class="badge badge-ok">to ${studentNames.get(note.studentId) ?? "a former student"}</span>`;
  };
  return html`<section aria-labelledby="feedback" class="card">
<h2 id="feedback">Feedback</h2>
${
  notes.length === 0
    ? html`<p class="empty">${data.isOwner ? "No feedback notes yet. Post one to the whole course or to one student below." : "No feedback from your instructor yet."}</p>`
    : html`<ul class="item-list">${notes.map(
        (note) => html`<li><p class="feedback">${note.text}</p>
<p class="muted">${recipient(note)} · ${timeTag(note.createdAtMs)}</p></li>`,
      )}</ul>`
}
${
  data.isOwner
    ? html`<details class="form-details"><summary>Post a feedback note</summary>
<form method="post" action="${path`/courses/${course.id}/feedback`}" class="stacked-form">
${formGuards(context)}
<label for="feedback-to">To</label>
<select id="feedback-to" name="studentId">
<option value="">The whole course</option>
${data.students.map((student) => html`<option value="${student.id}">${student.displayName} (@${student.username})</option>`)}
</select>
<label for="feedback-text">Note</label>
<textarea id="feedback-text" name="text" rows="4" required maxlength="10000"></textarea>
<button type="submit">Post feedback</button>
</form></details>`
    : html``
}
</section>`;
}

function materialsSection(context: PageContext, data: CoursePageData): SafeHtml {
  const course = data.detail.course;
  return html`<section aria-labelledby="materials-title" class="card">
<h2 id="materials-title">Materials</h2>
${
  data.materials.length === 0
    ? html`<p class="empty">No materials yet.</p>`
    : html`<ul class="item-list">${data.materials.map(
        (material) => html`<li><h3 class="item-title">${material.title}</h3>
${material.description === "" ? html`` : html`<p>${material.description}</p>`}
${material.file === undefined ? html`` : html`<p><a href="${path`/files/${material.file.fileId}`}">${material.file.name}</a> <span class="muted">(${formatBytes(material.file.sizeBytes)})</span></p>`}
<p class="muted">Posted ${timeTag(material.postedAtMs)} · <a href="/tutor?materialId=${encodeURIComponent(material.id)}">Ask the tutor about this</a></p>
${data.isOwner ? html`<p><a class="button secondary" href="${path`/courses/${course.id}/materials/${material.id}/delete`}">Delete<span class="visually-hidden"> ${material.title}</span></a></p>` : html``}</li>`,
      )}</ul>`
}
${
  data.isOwner
    ? html`<details class="form-details"><summary>Post a material</summary>
${uploadForm(context, {
  action: path`/courses/${course.id}/materials`,
  id: "material",
  maxBytes: data.maxUploadBytes,
  fileLabel: "File (optional)",
  fileRequired: false,
  submitLabel: "Post material",
  fields: html`<label for="material-title">Title</label>
<input id="material-title" name="title" required maxlength="200">
<label for="material-description">Description</label>
<textarea id="material-description" name="description" rows="3" maxlength="20000"></textarea>`,
})}</details>`
    : html``
}
</section>`;
}

function questionsSection(context: PageContext, data: CoursePageData): SafeHtml {
  const course = data.detail.course;
  const studentNames = new Map(data.students.map((student) => [student.id, student.displayName]));
  return html`<section aria-labelledby="questions" class="card">
<h2 id="questions">Questions</h2>
${
  data.questions.length === 0
    ? html`<p class="empty">${data.isOwner ? "No questions from students yet." : "You have not asked anything yet."}</p>`
    : html`<ul class="item-list">${data.questions.map(
        (question) => html`<li class="question">
<p class="question-text">${question.text}</p>
<p class="muted">${data.isOwner ? html`${studentNames.get(question.askedBy) ?? "A student"} · ` : html``}asked ${timeTag(question.askedAtMs)}</p>
${
  question.status === "answered"
    ? html`<div class="answer"><p class="answer-label">Answer</p><p>${question.answer}</p></div>`
    : data.isOwner
      ? html`<form method="post" action="${path`/questions/${question.id}/answer`}" class="stacked-form">
${formGuards(context)}
<input type="hidden" name="courseId" value="${course.id}">
<label for="answer-${question.id}">Your answer</label>
<textarea id="answer-${question.id}" name="answer" rows="3" required maxlength="10000"></textarea>
<button type="submit">Answer</button>
</form>`
      : html`<p><span class="badge">waiting for an answer</span></p>`
}
</li>`,
      )}</ul>`
}
${
  data.isOwner || context.viewer?.role !== "student"
    ? html``
    : html`<form method="post" action="${path`/courses/${course.id}/questions`}" class="stacked-form">
${formGuards(context)}
<label for="question-text">Ask your instructor</label>
<textarea id="question-text" name="text" rows="3" required maxlength="5000"></textarea>
<button type="submit">Send question</button>
</form>`
}
</section>`;
}

function joinCodesSection(context: PageContext, data: CoursePageData): SafeHtml {
  const course = data.detail.course;
  return html`<section aria-labelledby="codes-title" class="card">
<h2 id="codes-title">Join codes</h2>
${
  data.joinCodes.length === 0
    ? html`<p class="empty">No join codes yet. Create one and give it to your students.</p>`
    : html`<div class="table-wrap"><table><thead><tr><th scope="col">Code</th><th scope="col">Created</th><th scope="col">Expires</th><th scope="col">Used</th><th scope="col">State</th></tr></thead><tbody>
${data.joinCodes.map((code) => {
  const expired = code.expiresAtMs !== 0 && code.expiresAtMs <= data.nowMs;
  const state =
    code.revokedAtMs !== 0
      ? html`<span class="badge badge-late">revoked</span>`
      : expired
        ? html`<span class="badge">expired</span>`
        : html`<form method="post" action="${path`/courses/${course.id}/join-codes/${code.code}/revoke`}" class="inline-form">${formGuards(context)}<button type="submit" class="secondary">Revoke <span class="visually-hidden">${code.code}</span></button></form>`;
  return html`<tr><th scope="row"><code>${code.code}</code></th><td>${timeTag(code.createdAtMs)}</td><td>${timeTag(code.expiresAtMs, "never")}</td><td>${code.timesUsed}</td><td>${state}</td></tr>`;
})}
</tbody></table></div>`
}
<form method="post" action="${path`/courses/${course.id}/join-codes`}" class="inline-fields">
${formGuards(context)}
<label for="code-expiry">Expires (UTC, optional)</label>
<input id="code-expiry" name="expiresAt" type="datetime-local">
<button type="submit">Create join code</button>
</form>
</section>`;
}

function studentsSection(context: PageContext, data: CoursePageData): SafeHtml {
  const course = data.detail.course;
  return html`<section aria-labelledby="students-title" class="card">
<h2 id="students-title">Students</h2>
${
  data.students.length === 0
    ? html`<p class="empty">No students yet. Share a join code or enrol a student by username.</p>`
    : html`<ul class="item-list columns">${data.students.map(
        (student) => html`<li>${student.displayName} <span class="muted">@${student.username}</span></li>`,
      )}</ul>`
}
<form method="post" action="${path`/courses/${course.id}/enrol`}" class="inline-fields">
${formGuards(context)}
<label for="enrol-username">Enrol by username</label>
<input id="enrol-username" name="username" required maxlength="32" autocomplete="off">
<button type="submit">Enrol</button>
</form>
</section>`;
}

/** The confirmation step before a material is deleted: a POST form, so no link can delete anything. */
export function deleteMaterialPage(
  context: PageContext,
  data: { detail: CourseDetail; material: Material },
): PageOptions {
  const { course } = data.detail;
  const { material } = data;
  const back = `${path`/courses/${course.id}`}#materials-title`;
  return {
    title: `Delete ${material.title}`,
    main: html`<section class="narrow card" aria-labelledby="delete-material-title">
<p class="breadcrumb"><a href="${path`/courses/${course.id}`}">${course.title}</a></p>
<h1 id="delete-material-title">Delete this material?</h1>
<p><strong>${material.title}</strong>${material.file === undefined ? html`` : html` with the file <code>${material.file.name}</code>`}, posted ${timeTag(material.postedAtMs)}.</p>
<p>Students will no longer see it in ${course.title}. This cannot be undone.</p>
<form method="post" action="${path`/courses/${course.id}/materials/${material.id}/delete`}" class="inline-fields">
${formGuards(context)}
<input type="hidden" name="confirm" value="1">
<button type="submit" class="danger">Delete material</button>
<a class="button secondary" href="${back}">Keep it</a>
</form>
</section>`,
  };
}

/** The form to create a course. */
export function newCoursePage(context: PageContext): PageOptions {
  return {
    title: "New course",
    main: html`<section class="narrow card" aria-labelledby="new-course-title">
<h1 id="new-course-title">New course</h1>
<form method="post" action="/courses" class="stacked-form">
${formGuards(context)}
<label for="course-title">Title</label>
<input id="course-title" name="title" required maxlength="200">
<label for="course-description">Description</label>
<textarea id="course-description" name="description" rows="4" maxlength="20000"></textarea>
<button type="submit">Create course</button>
</form>
</section>`,
  };
}
