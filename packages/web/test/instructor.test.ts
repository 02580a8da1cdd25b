import { describe, expect, test } from "vitest";
import { browserAs, courseWorld, createWorld, idFromLocation } from "./helpers.js";

describe("instructor journeys", () => {
  test("creating a course needs a title and lands on the new course", async () => {
    const world = await createWorld();
    const teacher = await browserAs(world, "teacher");
    const page = await teacher.get("/courses/new");
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('<label for="course-title">Title</label>');
    const bad = await teacher.post("/courses", { title: "  ", description: "" });
    expect(bad.headers.location).toBe("/courses/new");
    expect((await teacher.follow(bad)).body).toContain("title must not be empty.");
    const created = await teacher.post("/courses", { title: "Compilers", description: "" });
    const courseId = idFromLocation(created, "/courses");
    const coursePage = await teacher.follow(created);
    expect(coursePage.body).toContain("Course created.");
    expect(coursePage.body).toContain("No join codes yet.");
    expect(coursePage.body).toContain("No students yet.");
    expect(coursePage.body).toContain("No assignments yet.");
    expect((await teacher.get("/dashboard")).body).toContain(`href="/courses/${courseId}"`);
  });

  test("a resent create-course form is applied once", async () => {
    const world = await createWorld();
    const teacher = await browserAs(world, "teacher");
    const form = (await teacher.get("/courses/new")).body;
    const key = /name="_idem" value="([^"]+)"/.exec(form)?.[1] ?? "";
    const first = await teacher.post("/courses", { title: "Once", description: "", _idem: key });
    const second = await teacher.post("/courses", { title: "Once", description: "", _idem: key });
    expect(second.headers.location).toBe(first.headers.location);
    expect((await teacher.get("/dashboard")).body.match(/>Once</g)).toHaveLength(1);
  });

  test("students and admins cannot use instructor forms (403), and forms need CSRF tokens", async () => {
    const world = await courseWorld();
    const { alice, courseId, assignmentId } = world;
    const forms: Array<[string, Record<string, string>]> = [
      ["/courses", { title: "x" }],
      [`/courses/${courseId}/join-codes`, {}],
      [`/courses/${courseId}/enrol`, { username: "bob" }],
      [`/courses/${courseId}/assignments`, { title: "x", maxPoints: "1" }],
      [`/assignments/${assignmentId}/grade`, { studentId: "u1", points: "1" }],
      [`/assignments/${assignmentId}/release`, { released: "1" }],
    ];
    for (const [url, form] of forms) {
      const response = await alice.post(url, form);
      expect(response.statusCode, url).toBe(403);
      expect(response.body, url).toContain("Not allowed");
    }
    for (const url of [
      "/courses/new",
      "/grading",
      `/courses/${courseId}/grades.csv`,
      `/courses/${courseId}/grade-history`,
    ]) {
      expect((await alice.get(url)).statusCode, url).toBe(403);
    }
    await world.teacher.get(`/courses/${courseId}`);
    for (const [url, form] of forms.slice(1)) {
      expect((await world.teacher.post(url, form, { csrf: false })).statusCode, url).toBe(403);
    }
  });

  test("another instructor cannot see or change the course", async () => {
    const world = await courseWorld();
    const other = await browserAs(world, "other");
    expect((await other.get(`/courses/${world.courseId}`)).statusCode).toBe(404);
    expect((await other.get(`/assignments/${world.assignmentId}`)).statusCode).toBe(404);
    expect((await other.get(`/courses/${world.courseId}/grades.csv`)).statusCode).toBe(404);
    await other.get("/dashboard");
    const enrol = await other.post(`/courses/${world.courseId}/enrol`, { username: "bob" });
    expect((await other.follow(enrol)).statusCode).toBe(404);
    expect((await world.teacher.get(`/courses/${world.courseId}`)).body).not.toContain("@bob");
  });

  test("join codes can be created with an expiry and revoked", async () => {
    const { teacher, courseId, code } = await courseWorld();
    const page = await teacher.get(`/courses/${courseId}`);
    expect(page.body).toContain(`<code>${code}</code>`);
    const withExpiry = await teacher.post(`/courses/${courseId}/join-codes`, { expiresAt: "2099-01-31T12:00" });
    const after = await teacher.follow(withExpiry);
    expect(after.body).toContain("2099-01-31 12:00 UTC");
    const badDate = await teacher.post(`/courses/${courseId}/join-codes`, { expiresAt: "tomorrow" });
    expect((await teacher.follow(badDate)).body).toContain("The expiry must be a date and time.");
  });

  test("enrolling by username adds the student; an unknown username is explained", async () => {
    const { teacher, courseId } = await courseWorld();
    await teacher.get(`/courses/${courseId}`);
    const enrolled = await teacher.post(`/courses/${courseId}/enrol`, { username: "bob" });
    const page = await teacher.follow(enrolled);
    expect(page.body).toContain("Bob Student is enrolled.");
    expect(page.body).toContain("@bob");
    const unknown = await teacher.post(`/courses/${courseId}/enrol`, { username: "nobody" });
    expect((await teacher.follow(unknown)).body).toContain("No student has the username");
  });

  test("materials upload with a file that enrolled students can download", async () => {
    const { teacher, alice, courseId } = await courseWorld();
    await teacher.get(`/courses/${courseId}`);
    const posted = await teacher.postMultipart(
      `/courses/${courseId}/materials`,
      { title: "Raft paper", description: "Read §5" },
      { name: "raft.pdf", content: "%PDF-1.4 fake", type: "application/pdf" },
    );
    expect(posted.statusCode).toBe(303);
    expect((await teacher.follow(posted)).body).toContain("Material &quot;Raft paper&quot; posted.");
    const page = await alice.get(`/courses/${courseId}`);
    expect(page.body).toContain("Raft paper");
    expect(page.body).toContain("Ask the tutor about this");
    const fileId = /href="\/files\/([^"]+)"/.exec(page.body)?.[1] ?? "";
    const download = await alice.get(`/files/${fileId}`);
    expect(download.statusCode).toBe(200);
    expect(download.body).toBe("%PDF-1.4 fake");
    const textOnly = await teacher.postMultipart(
      `/courses/${courseId}/materials`,
      { title: "Reading list", description: "" },
      undefined,
    );
    expect((await teacher.follow(textOnly)).body).toContain("Reading list");
    const untitled = await teacher.postMultipart(
      `/courses/${courseId}/materials`,
      { title: "", description: "" },
      undefined,
    );
    expect((await teacher.follow(untitled)).body).toContain("title must not be empty.");
  });

  test("assignments validate points and due dates", async () => {
    const { teacher, courseId } = await courseWorld();
    await teacher.get(`/courses/${courseId}`);
    const badPoints = await teacher.post(`/courses/${courseId}/assignments`, {
      title: "Lab 2",
      description: "",
      dueAt: "",
      maxPoints: "lots",
    });
    expect((await teacher.follow(badPoints)).body).toContain("max_points must be between 0 and 100000");
    const badDue = await teacher.post(`/courses/${courseId}/assignments`, {
      title: "Lab 2",
      description: "",
      dueAt: "31/01/2099",
      maxPoints: "5",
    });
    expect((await teacher.follow(badDue)).body).toContain("The due date must be a date and time.");
    const ok = await teacher.post(`/courses/${courseId}/assignments`, {
      title: "Lab 2",
      description: "Logs",
      dueAt: "2099-03-01T09:30",
      maxPoints: "5",
    });
    const page = await teacher.follow(ok);
    expect(page.body).toContain("Assignment &quot;Lab 2&quot; created.");
    expect(page.body).toContain("2099-03-01 09:30 UTC");
  });

  test("the grading flow: queue with late counts, grade, validation, history, release and CSV", async () => {
    const world = await courseWorld();
    const { teacher, alice, courseId, api } = world;
    await teacher.get(`/courses/${courseId}`);
    const past = await teacher.post(`/courses/${courseId}/assignments`, {
      title: "Overdue lab",
      description: "",
      dueAt: "2000-01-01T00:00",
      maxPoints: "10",
    });
    const pastId = idFromLocation(past, "/assignments");
    await alice.get(`/assignments/${pastId}`);
    const submitted = await alice.postMultipart(`/assignments/${pastId}/submit`, { text: "sorry, late" }, undefined);
    expect((await alice.follow(submitted)).body).toContain("marked late");

    const queue = await teacher.get("/grading");
    expect(queue.body).toContain("Overdue lab");
    expect(queue.body).toContain("1 submission waits for a grade, 1 of them late");
    expect((await teacher.get("/dashboard")).body).toContain("1 to grade");

    const page = await teacher.get(`/assignments/${pastId}`);
    expect(page.body).toContain("Alice Student");
    expect(page.body).toContain("sorry, late");
    expect(page.body).toContain("badge-late");
    const aliceId = /name="studentId" value="([^"]+)"/.exec(page.body)?.[1] ?? "";
    const tooMany = await teacher.post(`/assignments/${pastId}/grade`, {
      studentId: aliceId,
      points: "11",
      feedback: "",
    });
    expect((await teacher.follow(tooMany)).body).toContain("points must be between 0 and 10");
    const notNumber = await teacher.post(`/assignments/${pastId}/grade`, {
      studentId: aliceId,
      points: "ten",
      feedback: "",
    });
    expect((await teacher.follow(notNumber)).body).toContain("Points must be a number.");
    await teacher.post(`/assignments/${pastId}/grade`, { studentId: aliceId, points: "6", feedback: "Late but fine" });
    await teacher.get(`/assignments/${pastId}`);
    await teacher.post(`/assignments/${pastId}/grade`, { studentId: aliceId, points: "7", feedback: "Regraded" });
    expect((await teacher.get("/grading")).body).toContain("All caught up");

    const history = await teacher.get(`/courses/${courseId}/grade-history?assignmentId=${pastId}`);
    expect(history.statusCode).toBe(200);
    expect(history.body).toContain("— → 6");
    expect(history.body).toContain("6 → 7");
    expect(history.body).toContain("<del>Late but fine</del> <ins>Regraded</ins>");
    expect(history.body).toContain("Tess Teacher");

    const csv = await teacher.get(`/courses/${courseId}/grades.csv`);
    expect(csv.statusCode).toBe(200);
    expect(csv.headers["content-type"]).toContain("text/csv");
    expect(csv.headers["content-disposition"]).toContain(`attachment; filename="grades-${courseId}.csv"`);
    expect(csv.body).toContain('"alice","Alice Student","","7"');

    const attempts = await teacher.get(`/assignments/${pastId}/students/${aliceId}`);
    expect(attempts.body).toContain("Attempts by Alice Student");
    await teacher.get(`/assignments/${pastId}`);
    const hidden = await teacher.post(`/assignments/${pastId}/release`, { released: "0" });
    expect((await teacher.follow(hidden)).body).toContain("Grades hidden from students.");
    expect(
      await api.listGrades(
        await world.api.login({ username: "alice", password: "alice-password-1234" }).then((s) => s.token),
        { courseId },
      ),
    ).toEqual([]);
  });

  test("empty states on the queue and history", async () => {
    const { teacher, courseId } = await courseWorld();
    expect((await teacher.get("/grading")).body).toContain("All caught up");
    expect((await teacher.get(`/courses/${courseId}/grade-history`)).body).toContain("No grades have been given yet.");
  });
});
