import { describe, expect, test, vi } from "vitest";
import { ApiError } from "../src/lms-api.js";
import { browserAs, courseWorld } from "./helpers.js";

/** A promise with its resolve function, to hold a fake call open. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open = () => {};
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

describe("how pages read the service", () => {
  test("the course page starts every read at once instead of waiting for the course first", async () => {
    const world = await courseWorld();
    const { api, alice, courseId } = world;
    const held = gate();
    const getCourse = api.getCourse.bind(api);
    vi.spyOn(api, "getCourse").mockImplementation(async (token, input) => {
      await held.promise;
      return getCourse(token, input);
    });
    // Spies call through: each records that its read started while the course read is held open.
    const lists = [
      vi.spyOn(api, "listAssignments"),
      vi.spyOn(api, "listMaterials"),
      vi.spyOn(api, "listQuestions"),
      vi.spyOn(api, "listFeedback"),
      vi.spyOn(api, "listSubmissions"),
      vi.spyOn(api, "listGrades"),
    ];
    const page = alice.get(`/courses/${courseId}`);
    await vi.waitFor(() => {
      for (const list of lists) expect(list).toHaveBeenCalledTimes(1);
    });
    held.open();
    expect((await page).statusCode).toBe(200);
  });

  test("a student's course page reads no owner-only lists; the owner's failures are not hidden", async () => {
    const world = await courseWorld();
    const { api, alice, teacher, courseId } = world;
    const joinCodes = vi.spyOn(api, "listJoinCodes");
    const students = vi.spyOn(api, "listStudents");
    expect((await alice.get(`/courses/${courseId}`)).statusCode).toBe(200);
    expect(joinCodes).not.toHaveBeenCalled();
    expect(students).not.toHaveBeenCalled();
    joinCodes.mockRejectedValueOnce(new ApiError("UNAVAILABLE", "no leader"));
    expect((await teacher.get(`/courses/${courseId}`)).statusCode).toBe(503);
  });

  test("another instructor's speculative owner-only reads are dropped: the page is a plain 404", async () => {
    const world = await courseWorld();
    const other = await browserAs(world, "other");
    const joinCodes = vi.spyOn(world.api, "listJoinCodes");
    const response = await other.get(`/courses/${world.courseId}`);
    expect(response.statusCode).toBe(404);
    expect(joinCodes).toHaveBeenCalledTimes(1); // started before the course said whose it is
  });

  test("the instructor dashboard lists the courses once and hands them to the needs-grading queue", async () => {
    const world = await courseWorld();
    const listCourses = vi.spyOn(world.api, "listCourses");
    const needsGrading = vi.spyOn(world.api, "listNeedsGrading");
    const page = await world.teacher.get("/dashboard");
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain("Distributed Systems");
    expect(listCourses).toHaveBeenCalledTimes(1);
    expect(needsGrading).toHaveBeenCalledWith(expect.any(String), {
      courses: [expect.objectContaining({ id: world.courseId })],
    });
  });
});
