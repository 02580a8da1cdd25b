import type { Viewer } from "../http/session.js";
import type { LmsApi } from "../lms-api.js";
import type { CoursePageData } from "../views/course-page.js";
import { managesCourse } from "./ownership.js";

/**
 * Everything the course page shows, from one GetCoursePage call: one read barrier and one round
 * trip per page view instead of one per list (the gRPC adapter falls back to the paged lists for a
 * course too large for one message). The service decides what the viewer may read (a
 * course they may not see fails the whole call, so the page is a 404); the owner's view is chosen
 * here as everywhere else in the web front, by {@link managesCourse}.
 */
export async function loadCoursePage(
  api: LmsApi,
  viewer: Viewer,
  courseId: string,
  maxUploadBytes: number,
): Promise<CoursePageData> {
  const { viewerRole: _, ...page } = await api.getCoursePage(viewer.token, { courseId });
  const isOwner = managesCourse(viewer, page.detail.course);
  return {
    ...page,
    isOwner,
    joinCodes: isOwner ? page.joinCodes : [],
    students: isOwner ? page.students : [],
    nowMs: Date.now(),
    maxUploadBytes,
  };
}
