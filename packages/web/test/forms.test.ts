import { describe, expect, test } from "vitest";
import { browserAs, courseWorld } from "./helpers.js";

/** Every post form on a page, as its opening tag plus body. */
function postForms(body: string): string[] {
  return [...body.matchAll(/<form method="post"[\s\S]*?<\/form>/g)].map((match) => match[0]);
}

describe("every form on every page", () => {
  test("carries a CSRF token and, when it writes, an idempotency key; every input has a label", async () => {
    const world = await courseWorld();
    const admin = await browserAs(world, "admin");
    await world.alice.postMultipart(`/assignments/${world.assignmentId}/submit`, { text: "x" }, undefined);
    await world.alice.post(`/courses/${world.courseId}/questions`, { text: "Q?" });
    await world.teacher.get(`/courses/${world.courseId}`);
    await world.teacher.postMultipart(`/courses/${world.courseId}/materials`, { title: "Notes" }, undefined);
    const coursePage = (await world.teacher.get(`/courses/${world.courseId}`)).body;
    const deleteMaterial = /href="(\/courses\/[^"]+\/materials\/[^"]+\/delete)"/.exec(coursePage)?.[1] ?? "";
    expect(deleteMaterial).not.toBe("");
    const pages: Array<[typeof world.alice, string]> = [
      [world.alice, "/dashboard"],
      [world.alice, `/courses/${world.courseId}`],
      [world.alice, `/assignments/${world.assignmentId}`],
      [world.alice, "/tutor"],
      [world.teacher, "/dashboard"],
      [world.teacher, "/courses/new"],
      [world.teacher, `/courses/${world.courseId}`],
      [world.teacher, `/assignments/${world.assignmentId}`],
      [world.teacher, deleteMaterial],
      [world.teacher, "/tutor"],
      [admin, "/admin/users"],
      [admin, "/admin/cluster"],
    ];
    let checked = 0;
    for (const [browser, url] of pages) {
      const body = (await browser.get(url)).body;
      for (const form of postForms(body)) {
        const where = `${url}: ${form.slice(0, 120)}`;
        expect(form.includes('name="_csrf" value="') || /action="[^"]*_csrf=/.test(form), where).toBe(true);
        if (!form.includes('action="/logout"')) expect(form, where).toMatch(/name="_idem" value="[A-Za-z0-9_-]{16,}"/);
        for (const input of form.matchAll(/<(?:input|textarea|select)(?![^>]*type="hidden")[^>]*\bid="([^"]+)"/g)) {
          expect(body, `${where} #${input[1]}`).toContain(`for="${input[1]}"`);
        }
        checked += 1;
      }
      expect(body, url).not.toMatch(/<script(?![^>]*\bsrc="\/static\/)/); // no inline scripts
    }
    expect(checked).toBeGreaterThan(20);
  });

  test("a download keeps a hostile file name out of the header and the page", async () => {
    const { alice, assignmentId } = await courseWorld();
    await alice.get(`/assignments/${assignmentId}`);
    const name = "<i>cv<i>; x=1 ü.txt";
    await alice.postMultipart(`/assignments/${assignmentId}/submit`, { text: "" }, { name, content: "cv" });
    const page = await alice.get(`/assignments/${assignmentId}`);
    expect(page.body).toContain("&lt;i&gt;cv&lt;i&gt;; x=1 ü.txt");
    const fileId = /href="\/files\/([^"]+)"/.exec(page.body)?.[1] ?? "";
    const download = await alice.get(`/files/${fileId}`);
    expect(download.headers["content-disposition"]).toBe(
      `attachment; filename="_i_cv_i__ x_1 _.txt"; filename*=UTF-8''${encodeURIComponent(name)}`,
    );
  });
});
