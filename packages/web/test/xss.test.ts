import { describe, expect, test } from "vitest";
import { browserAs, courseWorld, createWorld, TestBrowser } from "./helpers.js";

const payload = `<img src=x onerror="alert(1)">"'><script>alert(2)</script>`;

/** No page may contain the payload's markup unescaped. */
function expectEscaped(body: string, where: string, shown = true): void {
  expect(body, where).not.toContain("<script>alert(2)</script>");
  expect(body, where).not.toContain("<img src=x");
  expect(body, where).not.toMatch(/onerror="alert/);
  if (shown) expect(body, where).toContain("&lt;img src=x onerror=&quot;alert(1)&quot;&gt;");
}

describe("every user-supplied value is escaped", () => {
  test("course, assignment, material, question, answer, feedback and file names", async () => {
    const world = await courseWorld();
    const { teacher, alice, courseId, api } = world;
    const created = await teacher.post("/courses", { title: payload, description: payload });
    const xssCourse = (created.headers.location as string).split("/")[2] ?? "";
    await teacher.get(`/courses/${xssCourse}`);
    const assignment = await teacher.post(`/courses/${xssCourse}/assignments`, {
      title: payload,
      description: payload,
      dueAt: "",
      maxPoints: "5",
    });
    const assignmentId = (assignment.headers.location as string).split("/")[2] ?? "";
    await teacher.get(`/courses/${xssCourse}`);
    await teacher.postMultipart(
      `/courses/${xssCourse}/materials`,
      { title: payload, description: payload },
      { name: `${payload}.pdf`, content: "x" },
    );
    await teacher.get(`/courses/${xssCourse}`);
    await teacher.post(`/courses/${xssCourse}/enrol`, { username: "alice" });

    await alice.get(`/assignments/${assignmentId}`);
    await alice.postMultipart(
      `/assignments/${assignmentId}/submit`,
      { text: payload },
      { name: `${payload}.txt`, content: "y" },
    );
    await alice.get(`/courses/${xssCourse}`);
    await alice.post(`/courses/${xssCourse}/questions`, { text: payload });

    const aliceId =
      (
        await api.listStudents((await api.login({ username: "teacher", password: "teacher-password-123" })).token, {
          courseId: xssCourse,
        })
      )[0]?.id ?? "";
    await teacher.get(`/assignments/${assignmentId}`);
    await teacher.post(`/assignments/${assignmentId}/grade`, { studentId: aliceId, points: "5", feedback: payload });
    await teacher.get(`/assignments/${assignmentId}`);
    await teacher.post(`/assignments/${assignmentId}/grade`, {
      studentId: aliceId,
      points: "4",
      feedback: `${payload}!`,
    });
    await teacher.get(`/assignments/${assignmentId}`);
    await teacher.post(`/assignments/${assignmentId}/release`, { released: "1" });
    await teacher.get(`/courses/${xssCourse}`);
    await teacher.post(`/courses/${xssCourse}/feedback`, { studentId: aliceId, text: payload });
    const materialPage = (await teacher.get(`/courses/${xssCourse}`)).body;
    const deleteMaterial = /href="(\/courses\/[^"]+\/materials\/[^"]+\/delete)"/.exec(materialPage)?.[1] ?? "";
    expectEscaped((await teacher.get(deleteMaterial)).body, "teacher delete-material confirmation");

    for (const url of [
      "/dashboard",
      `/courses/${xssCourse}`,
      `/assignments/${assignmentId}`,
      `/courses/${xssCourse}/grade-history`,
      `/assignments/${assignmentId}/students/${aliceId}`,
    ]) {
      expectEscaped((await teacher.get(url)).body, `teacher ${url}`);
    }
    await alice.get("/tutor");
    await alice.post("/tutor", { question: payload }, { headers: { accept: "application/x-ndjson" } });
    for (const url of ["/dashboard", `/courses/${xssCourse}`, `/assignments/${assignmentId}`, "/grades", "/tutor"]) {
      expectEscaped((await alice.get(url)).body, `alice ${url}`);
    }
    expectEscaped((await teacher.get("/grading")).body, "teacher /grading", false);
    void courseId;
  });

  test("display names in the header and admin pages, and values echoed in flash messages", async () => {
    const world = await createWorld();
    const admin = await browserAs(world, "admin");
    await admin.get("/admin/users");
    const created = await admin.post("/admin/instructors", {
      displayName: payload,
      username: "mallory",
      password: "mallory-password-1",
    });
    expectEscaped((await admin.follow(created)).body, "users page");
    const bad = await admin.post("/admin/cluster/members", { nodeId: payload, address: "127.0.0.1:1" });
    expectEscaped((await admin.follow(bad)).body, "flash", false);
    const added = await admin.post("/admin/cluster/members", { nodeId: "n9", address: "127.0.0.1:1" });
    expect(added.statusCode).toBe(303);
    const mallory = new TestBrowser(world.app);
    await mallory.get("/login");
    await mallory.follow(await mallory.post("/login", { username: "mallory", password: "mallory-password-1" }));
    expectEscaped((await mallory.get("/dashboard")).body, "header of mallory");
  });

  test("a hostile display name at registration is escaped in the header", async () => {
    const world = await createWorld();
    const browser = new TestBrowser(world.app);
    await browser.get("/register");
    const response = await browser.post("/register", {
      displayName: payload,
      username: "evil",
      password: "evil-password-12",
      confirm: "evil-password-12",
    });
    expectEscaped((await browser.follow(response)).body, "dashboard after register");
  });
});
