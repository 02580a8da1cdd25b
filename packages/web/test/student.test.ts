import { createHash } from "node:crypto";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { browserAs, courseWorld } from "./helpers.js";

describe("student journeys", () => {
  test("joining by code lists the course on the dashboard with its assignment to do", async () => {
    const { alice, courseId } = await courseWorld();
    const dashboard = await alice.get("/dashboard");
    expect(dashboard.body).toContain("Distributed Systems");
    expect(dashboard.body).toContain(`href="/courses/${courseId}"`);
    expect(dashboard.body).toContain("Lab 1");
    const course = await alice.get(`/courses/${courseId}`);
    expect(course.statusCode).toBe(200);
    expect(course.body).toContain("Taught by Tess Teacher");
    expect(course.body).toContain("not submitted");
    expect(course.body).not.toContain("Join codes"); // instructor-only section
    expect(course.body).not.toContain("Export grades");
  });

  test("an unknown or revoked join code is explained on the dashboard and enrols nobody", async () => {
    const world = await courseWorld();
    const bob = await browserAs(world, "bob");
    const unknown = await bob.post("/courses/join", { code: "NOPE12" });
    expect(unknown.statusCode).toBe(303);
    expect(unknown.headers.location).toBe("/dashboard");
    expect((await bob.follow(unknown)).body).toContain("No course has this join code.");
    const empty = await bob.post("/courses/join", { code: "" });
    expect((await bob.follow(empty)).body).toContain("Enter a join code.");

    await world.teacher.get(`/courses/${world.courseId}`);
    const revoked = await world.teacher.post(`/courses/${world.courseId}/join-codes/${world.code}/revoke`);
    expect((await world.teacher.follow(revoked)).body).toContain(`Join code ${world.code} revoked.`);
    const refused = await bob.post("/courses/join", { code: world.code });
    expect((await bob.follow(refused)).body).toContain("revoked");
    expect((await bob.get(`/courses/${world.courseId}`)).statusCode).toBe(404);
  });

  test("joining needs a CSRF token and a student account", async () => {
    const world = await courseWorld();
    const bob = await browserAs(world, "bob");
    expect((await bob.post("/courses/join", { code: world.code }, { csrf: false })).statusCode).toBe(403);
    expect((await bob.get(`/courses/${world.courseId}`)).statusCode).toBe(404);
    const teacherJoin = await world.teacher.post("/courses/join", { code: world.code });
    expect(teacherJoin.statusCode).toBe(403);
    expect(teacherJoin.body).toContain("This page is for students only.");
  });

  test("submitting a file streams it, hashes it, shows it in the history and removes the temp file", async () => {
    const uploadTempDir = await mkdtemp(join(tmpdir(), "lectern-web-test-"));
    const { alice, api, assignmentId } = await courseWorld({ uploadTempDir });
    await alice.get(`/assignments/${assignmentId}`);
    const content = "fn main() { elect(); }\n".repeat(1000);
    const response = await alice.postMultipart(
      `/assignments/${assignmentId}/submit`,
      { text: "My lab" },
      { name: "lab1.rs", content, type: "text/plain" },
    );
    expect(response.statusCode).toBe(303);
    expect(response.headers.location).toBe(`/assignments/${assignmentId}`);
    const page = await alice.follow(response);
    expect(page.body).toContain("Submitted: attempt 1 is saved.");
    expect(page.body).toContain("lab1.rs");
    expect(page.body).toContain("My lab");
    expect(await readdir(uploadTempDir)).toEqual([]);
    const fileId = /href="\/files\/([^"]+)"/.exec(page.body)?.[1] ?? "";
    const download = await alice.get(`/files/${fileId}`);
    expect(download.statusCode).toBe(200);
    expect(download.body).toBe(content);
    expect(download.headers["content-disposition"]).toContain('attachment; filename="lab1.rs"');
    expect(download.headers["content-type"]).toBe("application/octet-stream");
    expect(download.headers["x-content-type-options"]).toBe("nosniff");
    expect(String(download.headers["content-security-policy"])).toContain("sandbox");
    const [submission] = await api.listSubmissions(await tokenOf(alice), { assignmentId });
    expect(submission?.files[0]?.sha256).toBe(createHash("sha256").update(content).digest("hex"));
    await rm(uploadTempDir, { recursive: true });
  });

  test("retrying the same upload never creates a second attempt; a changed file does", async () => {
    const { alice, assignmentId } = await courseWorld();
    await alice.get(`/assignments/${assignmentId}`);
    const file = { name: "a.txt", content: "version one" };
    await alice.postMultipart(`/assignments/${assignmentId}/submit`, { text: "" }, file);
    const retry = await alice.postMultipart(`/assignments/${assignmentId}/submit`, { text: "" }, file);
    expect((await alice.follow(retry)).body).toContain("attempt 1 is saved");
    const changed = await alice.postMultipart(
      `/assignments/${assignmentId}/submit`,
      { text: "" },
      { name: "a.txt", content: "version two" },
    );
    const page = await alice.follow(changed);
    expect(page.body).toContain("attempt 2 is saved");
    expect(page.body.match(/<strong>Attempt \d+<\/strong>/g)).toEqual([
      "<strong>Attempt 2</strong>",
      "<strong>Attempt 1</strong>",
    ]);
  });

  test("an oversize upload gets a clear 413 page, stores nothing and leaves no temp file", async () => {
    const uploadTempDir = await mkdtemp(join(tmpdir(), "lectern-web-test-"));
    const { alice, api, assignmentId } = await courseWorld({ maxUploadBytes: 1024, uploadTempDir });
    await alice.get(`/assignments/${assignmentId}`);
    const response = await alice.postMultipart(
      `/assignments/${assignmentId}/submit`,
      { text: "" },
      { name: "big.bin", content: new Uint8Array(4096) },
    );
    expect(response.statusCode).toBe(413);
    expect(response.body).toContain("File too large");
    expect(response.body).toContain("Files can be at most 1.0 KiB.");
    expect(await readdir(uploadTempDir)).toEqual([]);
    expect(await api.listSubmissions(await tokenOf(alice), { assignmentId })).toEqual([]);
    const json = await alice.postMultipart(
      `/assignments/${assignmentId}/submit`,
      { text: "" },
      { name: "big.bin", content: new Uint8Array(4096) },
      { headers: { accept: "application/json" } },
    );
    expect(json.statusCode).toBe(413);
    expect(json.json()).toMatchObject({ title: "File too large" });
    await rm(uploadTempDir, { recursive: true });
  });

  test("an empty submission is refused with the reason; upload script requests get JSON", async () => {
    const { alice, assignmentId } = await courseWorld();
    await alice.get(`/assignments/${assignmentId}`);
    const response = await alice.postMultipart(`/assignments/${assignmentId}/submit`, { text: "  " }, undefined);
    expect((await alice.follow(response)).body).toContain("A submission needs a file or some text.");
    const scripted = await alice.postMultipart(`/assignments/${assignmentId}/submit`, { text: "" }, undefined, {
      headers: { accept: "application/json" },
    });
    expect(scripted.statusCode).toBe(400);
    expect(scripted.json()).toMatchObject({ error: "A submission needs a file or some text." });
    const ok = await alice.postMultipart(`/assignments/${assignmentId}/submit`, { text: "answer" }, undefined, {
      headers: { accept: "application/json" },
    });
    expect(ok.json()).toEqual({ redirectTo: `/assignments/${assignmentId}` });
  });

  test("an upload without its CSRF token is refused before anything is stored", async () => {
    const { alice, api, assignmentId } = await courseWorld();
    await alice.get(`/assignments/${assignmentId}`);
    const response = await alice.postMultipart(
      `/assignments/${assignmentId}/submit`,
      { text: "x" },
      { name: "a.txt", content: "a" },
      { csrf: false },
    );
    expect(response.statusCode).toBe(403);
    expect(await api.listSubmissions(await tokenOf(alice), { assignmentId })).toEqual([]);
  });

  test("instructors cannot submit (403) and a student outside the course gets 404", async () => {
    const world = await courseWorld();
    await world.teacher.get(`/assignments/${world.assignmentId}`);
    const teacher = await world.teacher.postMultipart(
      `/assignments/${world.assignmentId}/submit`,
      { text: "x" },
      undefined,
    );
    expect(teacher.statusCode).toBe(403);
    const bob = await browserAs(world, "bob");
    expect((await bob.get(`/assignments/${world.assignmentId}`)).statusCode).toBe(404);
    const response = await bob.postMultipart(`/assignments/${world.assignmentId}/submit`, { text: "x" }, undefined);
    expect(response.statusCode).toBe(404);
  });

  test("grades stay hidden until released, then show with feedback on every page", async () => {
    const world = await courseWorld();
    const { alice, teacher, assignmentId, courseId, api } = world;
    await alice.get(`/assignments/${assignmentId}`);
    await alice.postMultipart(`/assignments/${assignmentId}/submit`, { text: "done" }, undefined);
    const aliceId = (await api.whoAmI(await tokenOf(alice))).id;
    await teacher.get(`/assignments/${assignmentId}`);
    const graded = await teacher.post(`/assignments/${assignmentId}/grade`, {
      studentId: aliceId,
      submissionId: "",
      points: "8.5",
      feedback: "Solid elections",
    });
    expect((await teacher.follow(graded)).body).toContain("Grade saved.");

    for (const url of [`/assignments/${assignmentId}`, `/courses/${courseId}`, "/grades"]) {
      const page = await alice.get(url);
      expect(page.body, url).not.toContain("8.5");
      expect(page.body, url).not.toContain("Solid elections");
    }
    expect((await alice.get(`/assignments/${assignmentId}`)).body).toContain("have not been released yet");

    await teacher.get(`/assignments/${assignmentId}`);
    const released = await teacher.post(`/assignments/${assignmentId}/release`, { released: "1" });
    expect((await teacher.follow(released)).body).toContain("Grades released to students.");
    expect((await alice.get(`/assignments/${assignmentId}`)).body).toContain("Solid elections");
    expect((await alice.get(`/courses/${courseId}`)).body).toContain("graded 8.5 / 10");
    const grades = await alice.get("/grades");
    expect(grades.body).toContain("Solid elections");
    expect(grades.body).toContain("8.5");
  });

  test("a student sees only their own submissions and files", async () => {
    const world = await courseWorld();
    const { alice, teacher, courseId, assignmentId, api } = world;
    const bob = await browserAs(world, "bob");
    await teacher.get(`/courses/${courseId}`);
    await teacher.post(`/courses/${courseId}/enrol`, { username: "bob" });
    await alice.get(`/assignments/${assignmentId}`);
    await alice.postMultipart(
      `/assignments/${assignmentId}/submit`,
      { text: "alice's secret answer" },
      { name: "alice.txt", content: "alice only" },
    );
    const alicePage = await alice.get(`/assignments/${assignmentId}`);
    const fileId = /href="\/files\/([^"]+)"/.exec(alicePage.body)?.[1] ?? "";
    const bobPage = await bob.get(`/assignments/${assignmentId}`);
    expect(bobPage.statusCode).toBe(200);
    expect(bobPage.body).not.toContain("alice's secret answer");
    expect(bobPage.body).not.toContain("alice.txt");
    expect((await bob.get(`/files/${fileId}`)).statusCode).toBe(404);
    const aliceId = (await api.whoAmI(await tokenOf(alice))).id;
    expect((await bob.get(`/assignments/${assignmentId}/students/${aliceId}`)).statusCode).toBe(403);
  });

  test("asking the instructor a question shows it as waiting, then with the answer", async () => {
    const { alice, teacher, courseId, api } = await courseWorld();
    await alice.get(`/courses/${courseId}`);
    const asked = await alice.post(`/courses/${courseId}/questions`, { text: "Is PreVote required?" });
    expect(asked.headers.location).toBe(`/courses/${courseId}#questions`);
    const page = await alice.follow(asked);
    expect(page.body).toContain("Is PreVote required?");
    expect(page.body).toContain("waiting for an answer");
    const empty = await alice.post(`/courses/${courseId}/questions`, { text: "" });
    expect((await alice.follow(empty)).body).toContain("question must not be empty.");

    const [question] = await api.listQuestions(await tokenOf(alice), { courseId });
    await teacher.get(`/courses/${courseId}`);
    const answered = await teacher.post(`/questions/${question?.id}/answer`, {
      courseId,
      answer: "Yes, with CheckQuorum.",
    });
    expect((await teacher.follow(answered)).body).toContain("Answer sent.");
    const again = await teacher.post(`/questions/${question?.id}/answer`, { courseId, answer: "twice" });
    expect((await teacher.follow(again)).body).toContain("already answered");
    expect((await alice.get(`/courses/${courseId}`)).body).toContain("Yes, with CheckQuorum.");
    expect((await alice.post(`/questions/${question?.id}/answer`, { courseId, answer: "me" })).statusCode).toBe(403);
  });
});

/** The service token inside a browser's session cookie (tests only). */
async function tokenOf(browser: { cookies: Map<string, string> }): Promise<string> {
  const cookie = browser.cookies.get("lectern_session") ?? "";
  return (JSON.parse(Buffer.from(cookie.split(".")[1] ?? "", "base64url").toString()) as { tok: string }).tok;
}
