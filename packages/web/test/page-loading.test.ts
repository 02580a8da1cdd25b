import { describe, expect, test, vi } from "vitest";
import { ApiError, type LmsApi } from "../src/lms-api.js";
import { browserAs, courseWorld } from "./helpers.js";

/** The single-list reads a page must no longer make: each would cost its own read barrier. */
const singleReads = [
  "getCourse",
  "listCourses",
  "listAssignments",
  "listMaterials",
  "listQuestions",
  "listFeedback",
  "listSubmissions",
  "listGrades",
  "listJoinCodes",
  "listStudents",
  "listNeedsGrading",
] as const satisfies readonly (keyof LmsApi)[];

/**
 * Counts the single-list reads made from outside `getCoursePage` / `getDashboard`: the fake
 * derives those two from its own list methods, which is no extra call to the service, while a
 * route calling a list method itself would be. Every spy calls through.
 */
function watchReads(api: LmsApi) {
  let insidePageRead = 0;
  let outsideCalls = 0;
  const pageRead = <K extends "getCoursePage" | "getDashboard">(name: K) => {
    const original = api[name].bind(api) as (...args: unknown[]) => Promise<unknown>;
    return vi.spyOn(api, name as "getCoursePage").mockImplementation(async (...args: unknown[]) => {
      insidePageRead += 1;
      try {
        return (await original(...args)) as Awaited<ReturnType<LmsApi["getCoursePage"]>>;
      } finally {
        insidePageRead -= 1;
      }
    });
  };
  const page = pageRead("getCoursePage");
  const dashboard = pageRead("getDashboard");
  for (const name of singleReads) {
    const original = api[name].bind(api) as (...args: unknown[]) => unknown;
    vi.spyOn(api, name as "getCourse").mockImplementation(((...args: unknown[]) => {
      if (insidePageRead === 0) outsideCalls += 1;
      return original(...args);
    }) as LmsApi["getCourse"]);
  }
  return { page, dashboard, outsideCalls: () => outsideCalls };
}

describe("how pages read the service", () => {
  test("the course page makes one call, for the student and for the owner", async () => {
    const world = await courseWorld();
    const { api, alice, teacher, courseId } = world;
    const page = vi.spyOn(api, "getCoursePage");
    for (const browser of [alice, teacher]) {
      page.mockClear();
      const response = await browser.get(`/courses/${courseId}`);
      expect(response.statusCode).toBe(200);
      expect(response.body).toContain("Distributed Systems");
      expect(page).toHaveBeenCalledTimes(1);
      expect(page).toHaveBeenCalledWith(expect.any(String), { courseId });
    }
  });

  test("no single-list read is made by the course page or the dashboard themselves", async () => {
    const world = await courseWorld();
    const { api, alice, teacher, courseId } = world;
    const watch = watchReads(api);
    for (const browser of [alice, teacher]) {
      expect((await browser.get(`/courses/${courseId}`)).statusCode).toBe(200);
      expect((await browser.get("/dashboard")).statusCode).toBe(200);
    }
    expect(watch.page).toHaveBeenCalledTimes(2);
    expect(watch.dashboard).toHaveBeenCalledTimes(2);
    expect(watch.outsideCalls()).toBe(0);
  });

  test("a failed page read is the page's status: a hidden course is a 404, an outage a 503", async () => {
    const world = await courseWorld();
    const other = await browserAs(world, "other");
    expect((await other.get(`/courses/${world.courseId}`)).statusCode).toBe(404);
    vi.spyOn(world.api, "getCoursePage").mockRejectedValueOnce(new ApiError("UNAVAILABLE", "no leader"));
    expect((await world.teacher.get(`/courses/${world.courseId}`)).statusCode).toBe(503);
    vi.spyOn(world.api, "getDashboard").mockRejectedValueOnce(new ApiError("UNAVAILABLE", "no leader"));
    expect((await world.teacher.get("/dashboard")).statusCode).toBe(503);
  });

  test("a student's course page shows no owner-only lists even if the answer carried some", async () => {
    const world = await courseWorld();
    const { api, alice, courseId } = world;
    const getCoursePage = api.getCoursePage.bind(api);
    vi.spyOn(api, "getCoursePage").mockImplementation(async (token, input) => ({
      ...(await getCoursePage(token, input)),
      joinCodes: [{ code: "LEAKED42", courseId, createdAtMs: 1, expiresAtMs: 0, revokedAtMs: 0, timesUsed: 0 }],
    }));
    const page = await alice.get(`/courses/${courseId}`);
    expect(page.statusCode).toBe(200);
    expect(page.body).not.toContain("LEAKED42");
  });
});
