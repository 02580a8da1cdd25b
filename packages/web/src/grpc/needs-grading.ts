import type { Assignment, Course, Grade, NeedsGradingItem, Submission } from "../lms-api.js";

/** One course's state the needs-grading queue is computed from. */
export interface CourseGradingState {
  readonly course: Course;
  readonly assignments: readonly Assignment[];
  /** Every student's latest attempt at each assignment (ListSubmissions without all attempts). */
  readonly latestSubmissions: readonly Submission[];
  readonly grades: readonly Grade[];
}

/**
 * The needs-grading queue of one course: each assignment with latest attempts that have no grade
 * of that very attempt (a resubmission after grading needs grading again; the service's dashboard
 * counts by the same rule), with how many of those were late. lms.proto has no RPC for this, so it is computed from three lists.
 */
export function needsGradingOf(state: CourseGradingState): NeedsGradingItem[] {
  const grades = new Map(state.grades.map((grade) => [`${grade.assignmentId}:${grade.studentId}`, grade]));
  const latest = latestAttempts(state.latestSubmissions);
  const items: NeedsGradingItem[] = [];
  for (const assignment of state.assignments) {
    const ungraded = latest.filter((submission) => {
      if (submission.assignmentId !== assignment.id) return false;
      const grade = grades.get(`${assignment.id}:${submission.studentId}`);
      return grade === undefined || grade.submissionId !== submission.id;
    });
    if (ungraded.length === 0) continue;
    items.push({
      courseId: state.course.id,
      courseTitle: state.course.title,
      assignmentId: assignment.id,
      assignmentTitle: assignment.title,
      dueAtMs: assignment.dueAtMs,
      ungradedCount: ungraded.length,
      lateCount: ungraded.filter((submission) => submission.late).length,
    });
  }
  return items;
}

/** The highest attempt per (assignment, student), whatever order the list came in. */
function latestAttempts(submissions: readonly Submission[]): Submission[] {
  const latest = new Map<string, Submission>();
  for (const submission of submissions) {
    const key = `${submission.assignmentId}:${submission.studentId}`;
    const current = latest.get(key);
    if (current === undefined || submission.attempt > current.attempt) latest.set(key, submission);
  }
  return [...latest.values()];
}
