import { describe, expect, test } from "vitest";
import { browserAs, courseWorld, type TestBrowser } from "./helpers.js";

/** The section of the course page with the given heading id, so checks do not match other sections. */
function section(body: string, headingId: string): string {
  const start = body.indexOf(`id="${headingId}"`);
  if (start === -1) throw new Error(`no section ${headingId}`);
  const end = body.indexOf("</section>", start);
  return body.slice(start, end);
}

/** Alice's user id, read from the teacher's feedback form. */
async function studentIdOf(teacher: TestBrowser, courseId: string, name: string): Promise<string> {
  const page = await teacher.get(`/courses/${courseId}`);
  const match = new RegExp(`<option value="([^"]+)">${name} `).exec(page.body);
  if (match?.[1] === undefined) throw new Error(`no option for ${name}`);
  return match[1];
}

describe("feedback notes", () => {
  test("a note to the whole course reaches every student, a note to one student only that student", async () => {
    const world = await courseWorld();
    const { teacher, alice, courseId } = world;
    await teacher.post(`/courses/${courseId}/enrol`, { username: "bob" });
    const bob = await browserAs(world, "bob");
    const empty = section((await alice.get(`/courses/${courseId}`)).body, "feedback");
    expect(empty).toContain("No feedback from your instructor yet.");

    const aliceId = await studentIdOf(teacher, courseId, "Alice Student");
    const toAll = await teacher.post(`/courses/${courseId}/feedback`, { studentId: "", text: "Great first week." });
    expect(toAll.statusCode).toBe(303);
    expect(toAll.headers.location).toBe(`/courses/${courseId}#feedback`);
    expect((await teacher.follow(toAll)).body).toContain("Feedback posted to the whole course.");
    const toAlice = await teacher.post(`/courses/${courseId}/feedback`, {
      studentId: aliceId,
      text: "Alice: cite the thesis.",
    });
    expect((await teacher.follow(toAlice)).body).toContain("Feedback posted to the student.");

    const aliceNotes = section((await alice.get(`/courses/${courseId}`)).body, "feedback");
    expect(aliceNotes).toContain("Great first week.");
    expect(aliceNotes).toContain("Alice: cite the thesis.");
    expect(aliceNotes).toContain("to you");
    expect(aliceNotes).toContain("whole course");
    expect(aliceNotes).not.toContain("<form"); // students read notes, they do not post them

    const bobNotes = section((await bob.get(`/courses/${courseId}`)).body, "feedback");
    expect(bobNotes).toContain("Great first week.");
    expect(bobNotes).not.toContain("Alice: cite the thesis.");

    const teacherNotes = section((await teacher.get(`/courses/${courseId}`)).body, "feedback");
    expect(teacherNotes).toContain("to Alice Student");
    expect(teacherNotes).toContain('<label for="feedback-to">To</label>');
    expect(teacherNotes).toContain('<option value="">The whole course</option>');
    // Newest first.
    expect(teacherNotes.indexOf("Alice: cite the thesis.")).toBeLessThan(teacherNotes.indexOf("Great first week."));
  });

  test("bad input is flashed back on the course page and a resent form posts once", async () => {
    const { teacher, alice, courseId } = await courseWorld();
    await teacher.get(`/courses/${courseId}`);
    const blank = await teacher.post(`/courses/${courseId}/feedback`, { studentId: "", text: "   " });
    expect(blank.headers.location).toBe(`/courses/${courseId}#feedback`);
    expect((await teacher.follow(blank)).body).toContain("Write the feedback note first.");
    const stranger = await teacher.post(`/courses/${courseId}/feedback`, { studentId: "u999", text: "Hi" });
    expect((await teacher.follow(stranger)).body).toContain("is not enrolled in this course");
    const tooLong = await teacher.post(`/courses/${courseId}/feedback`, { studentId: "", text: "x".repeat(10_001) });
    expect((await teacher.follow(tooLong)).body).toContain("at most 10000 characters");

    const form = (await teacher.get(`/courses/${courseId}`)).body;
    const feedbackForm = section(form, "feedback");
    const key = /name="_idem" value="([^"]+)"/.exec(feedbackForm)?.[1] ?? "";
    await teacher.post(`/courses/${courseId}/feedback`, { studentId: "", text: "Once only.", _idem: key });
    await teacher.post(`/courses/${courseId}/feedback`, { studentId: "", text: "Once only.", _idem: key });
    expect(section((await alice.get(`/courses/${courseId}`)).body, "feedback").match(/Once only\./g)).toHaveLength(1);
  });

  test("students, other instructors, signed-out visitors and forms without a CSRF token cannot post", async () => {
    const world = await courseWorld();
    const { teacher, alice, courseId } = world;
    await alice.get(`/courses/${courseId}`);
    const byStudent = await alice.post(`/courses/${courseId}/feedback`, { studentId: "", text: "Self-praise" });
    expect(byStudent.statusCode).toBe(403);

    await teacher.get(`/courses/${courseId}`);
    const noToken = await teacher.post(`/courses/${courseId}/feedback`, { text: "x" }, { csrf: false });
    expect(noToken.statusCode).toBe(403);
    const forgedToken = await teacher.post(`/courses/${courseId}/feedback`, { text: "x" }, { csrf: "forged" });
    expect(forgedToken.statusCode).toBe(403);

    const other = await browserAs(world, "other");
    const byOther = await other.post(`/courses/${courseId}/feedback`, { studentId: "", text: "Not my course" });
    expect((await other.follow(byOther)).statusCode).toBe(404);

    const signedOut = await world.app.inject({
      method: "POST",
      url: `/courses/${courseId}/feedback`,
      headers: { "content-type": "application/x-www-form-urlencoded" },
      payload: "text=x",
    });
    expect(signedOut.statusCode).toBe(303);
    expect(String(signedOut.headers.location)).toMatch(/^\/login/);
    expect(section((await alice.get(`/courses/${courseId}`)).body, "feedback")).toContain(
      "No feedback from your instructor yet.",
    );
  });
});

describe("deleting a material", () => {
  async function withMaterial() {
    const world = await courseWorld();
    const { teacher, courseId } = world;
    await teacher.get(`/courses/${courseId}`);
    await teacher.postMultipart(
      `/courses/${courseId}/materials`,
      { title: "Old notes", description: "Superseded" },
      { name: "old.pdf", content: "%PDF-old" },
    );
    const page = (await teacher.get(`/courses/${courseId}`)).body;
    const confirmPath = /href="(\/courses\/[^"]+\/materials\/[^"]+\/delete)"/.exec(page)?.[1];
    if (confirmPath === undefined) throw new Error("no delete link on the course page");
    return { ...world, confirmPath };
  }

  test("takes a confirmation step: the link opens a page whose POST form deletes", async () => {
    const { teacher, alice, courseId, confirmPath } = await withMaterial();
    const confirm = await teacher.get(confirmPath);
    expect(confirm.statusCode).toBe(200);
    expect(confirm.body).toContain('<h1 id="delete-material-title">Delete this material?</h1>');
    expect(confirm.body).toContain("<strong>Old notes</strong> with the file <code>old.pdf</code>");
    expect(confirm.body).toMatch(new RegExp(`<form method="post" action="${confirmPath}"`));
    expect(confirm.body).toContain('name="_csrf" value="');
    expect(confirm.body).toContain('<button type="submit" class="danger">Delete material</button>');
    // Opening the confirmation page (twice) changes nothing.
    await teacher.get(confirmPath);
    expect((await alice.get(`/courses/${courseId}`)).body).toContain("Old notes");

    await teacher.get(confirmPath);
    const deleted = await teacher.post(confirmPath, { confirm: "1" });
    expect(deleted.statusCode).toBe(303);
    expect(deleted.headers.location).toBe(`/courses/${courseId}#materials-title`);
    const after = await teacher.follow(deleted);
    expect(after.body).toContain("Material deleted.");
    expect(after.body).not.toContain("Old notes");
    expect((await alice.get(`/courses/${courseId}`)).body).not.toContain("Old notes");
    expect((await teacher.get(confirmPath)).statusCode).toBe(404);
  });

  test("a post without the confirmation goes back to the confirmation page; a resent delete is harmless", async () => {
    const { teacher, alice, courseId, confirmPath } = await withMaterial();
    const form = (await teacher.get(confirmPath)).body;
    const unconfirmed = await teacher.post(confirmPath, {});
    expect(unconfirmed.headers.location).toBe(confirmPath);
    expect((await teacher.follow(unconfirmed)).body).toContain("Confirm that the material should be deleted.");
    expect((await alice.get(`/courses/${courseId}`)).body).toContain("Old notes");

    const key = /name="_idem" value="([^"]+)"/.exec(form)?.[1] ?? "";
    const first = await teacher.post(confirmPath, { confirm: "1", _idem: key });
    const resent = await teacher.post(confirmPath, { confirm: "1", _idem: key });
    expect(first.headers.location).toBe(`/courses/${courseId}#materials-title`);
    expect(resent.headers.location).toBe(`/courses/${courseId}#materials-title`);
    const fresh = await teacher.post(confirmPath, { confirm: "1" });
    expect(fresh.statusCode).toBe(404); // already gone
  });

  test("only the course's instructor may open the confirmation or delete, with a CSRF token", async () => {
    const world = await withMaterial();
    const { teacher, alice, courseId, confirmPath } = world;
    expect((await alice.get(confirmPath)).statusCode).toBe(403);
    expect((await alice.post(confirmPath, { confirm: "1" })).statusCode).toBe(403);
    expect((await alice.get(`/courses/${courseId}`)).body).not.toContain("/delete");

    const other = await browserAs(world, "other");
    expect((await other.get(confirmPath)).statusCode).toBe(404);
    await other.get("/dashboard");
    expect((await other.post(confirmPath, { confirm: "1" })).statusCode).toBe(404);

    await teacher.get(confirmPath);
    expect((await teacher.post(confirmPath, { confirm: "1" }, { csrf: false })).statusCode).toBe(403);
    expect((await teacher.get(`/courses/${courseId}/materials/m999/delete`)).statusCode).toBe(404);
    expect((await alice.get(`/courses/${courseId}`)).body).toContain("Old notes");
  });
});
