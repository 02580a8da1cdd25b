import { describe, expect, test, vi } from "vitest";
import { ApiError } from "../src/lms-api.js";
import { maxShownTutorExchanges } from "../src/views/tutor-page.js";
import { browserAs, createWorld } from "./helpers.js";

const ndjson = { accept: "application/x-ndjson" };

function events(body: string): Array<{ type: string; text?: string; message?: string }> {
  return body
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => JSON.parse(line));
}

describe("AI tutor", () => {
  test("the page has a labelled form and loads the streaming script", async () => {
    const world = await createWorld();
    const alice = await browserAs(world, "alice");
    const page = await alice.get("/tutor?materialId=m7");
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('<label for="tutor-question">');
    expect(page.body).toContain('<script src="/static/tutor.js" defer></script>');
    expect(page.body).toContain('name="materialId" value="m7"');
  });

  test("a script request streams the answer piece by piece as NDJSON", async () => {
    const world = await createWorld();
    const alice = await browserAs(world, "alice");
    await alice.get("/tutor");
    const response = await alice.post("/tutor", { question: "What is a term?" }, { headers: ndjson });
    expect(response.statusCode).toBe(200);
    expect(response.headers["content-type"]).toContain("application/x-ndjson");
    const received = events(response.body);
    expect(received.length).toBeGreaterThan(3);
    expect(received.at(-1)).toEqual({ type: "done" });
    const text = received
      .filter((event) => event.type === "piece")
      .map((event) => event.text)
      .join("");
    expect(text).toContain('Think about what "What is a term?" asks');
  });

  test("a tutor that is down answers the script with 503 and a clear message", async () => {
    const world = await createWorld();
    world.api.tutor.available = false;
    const alice = await browserAs(world, "alice");
    await alice.get("/tutor");
    const response = await alice.post("/tutor", { question: "Hello?" }, { headers: ndjson });
    expect(response.statusCode).toBe(503);
    expect(response.json()).toMatchObject({ error: expect.stringContaining("The AI tutor is unavailable right now") });
    expect((await alice.get("/dashboard")).statusCode).toBe(200); // everything else keeps working
  });

  test("a tutor failing mid-answer ends the stream with an error line", async () => {
    const world = await createWorld();
    world.api.tutor.failAfterPieces = 2;
    const alice = await browserAs(world, "alice");
    await alice.get("/tutor");
    const received = events((await alice.post("/tutor", { question: "Why?" }, { headers: ndjson })).body);
    expect(received.map((event) => event.type)).toEqual(["piece", "piece", "error"]);
    expect(received[2]?.message).toContain("unavailable");
  });

  test("without the script the answer comes back on the page, escaped", async () => {
    const world = await createWorld();
    const alice = await browserAs(world, "alice");
    await alice.get("/tutor");
    const response = await alice.post("/tutor", { question: "<b>bold</b>?" });
    expect(response.statusCode).toBe(200);
    expect(response.body).toContain("&lt;b&gt;bold&lt;/b&gt;?");
    expect(response.body).not.toContain("<b>bold</b>");
    world.api.tutor.available = false;
    await alice.get("/tutor");
    const down = await alice.post("/tutor", { question: "Again?" });
    expect(down.statusCode).toBe(503);
    expect(down.body).toContain("The AI tutor is unavailable right now");
    expect(down.body).toContain("Again?"); // the question is kept for a retry
  });

  test("the tutor needs a question, a signed-in user and a CSRF token", async () => {
    const world = await createWorld();
    const alice = await browserAs(world, "alice");
    await alice.get("/tutor");
    const empty = await alice.post("/tutor", { question: " " });
    expect(empty.statusCode).toBe(400);
    expect(empty.body).toContain("Type a question for the tutor.");
    expect((await alice.post("/tutor", { question: "x" }, { csrf: false, headers: ndjson })).statusCode).toBe(403);
    const signedOut = await world.app.inject({
      method: "POST",
      url: "/tutor",
      headers: { ...ndjson, "content-type": "application/x-www-form-urlencoded" },
      payload: "question=x",
    });
    expect(signedOut.statusCode).toBe(401);
  });
});

/** The "earlier questions" section of the tutor page. */
function history(body: string): string {
  const start = body.indexOf('id="history-title"');
  if (start === -1) throw new Error("no history section");
  return body.slice(start, body.indexOf("</section>", start));
}

describe("AI tutor history", () => {
  test("a student sees their own earlier questions and answers, newest first, and no one else's", async () => {
    const world = await createWorld();
    const alice = await browserAs(world, "alice");
    const bob = await browserAs(world, "bob");
    expect(history((await alice.get("/tutor")).body)).toContain("You have not asked the tutor anything yet.");
    await alice.post("/tutor", { question: "What is a term?" });
    await alice.get("/tutor");
    await alice.post("/tutor", { question: "Why elect leaders?" }, { headers: ndjson });
    const page = history((await alice.get("/tutor")).body);
    expect(page.indexOf("Why elect leaders?")).toBeGreaterThan(-1);
    expect(page.indexOf("Why elect leaders?")).toBeLessThan(page.indexOf("What is a term?"));
    expect(page).toContain("<details><summary>Answer</summary>");
    expect(page).toContain("Think about what &quot;What is a term?&quot; asks");
    expect(page).toContain("fake-tutor");
    expect(history((await bob.get("/tutor")).body)).toContain("You have not asked the tutor anything yet.");
  });

  test("the page after a no-script answer already lists it; a failed answer is not recorded", async () => {
    const world = await createWorld();
    const alice = await browserAs(world, "alice");
    await alice.get("/tutor");
    const answered = await alice.post("/tutor", { question: "Is a log a list?" });
    expect(history(answered.body)).toContain("Is a log a list?");
    world.api.tutor.failAfterPieces = 1;
    await alice.get("/tutor");
    const failed = await alice.post("/tutor", { question: "Half an answer?" });
    expect(failed.statusCode).toBe(503);
    expect(history(failed.body)).not.toContain("Half an answer?");
  });

  test("questions and answers are escaped, and only the most recent ones are shown", async () => {
    const world = await createWorld();
    const alice = await browserAs(world, "alice");
    await alice.get("/tutor");
    await alice.post("/tutor", { question: "<img src=x onerror=alert(1)>" }, { headers: ndjson });
    const page = (await alice.get("/tutor")).body;
    expect(page).not.toContain("<img src=x");
    expect(history(page)).toContain("&lt;img src=x onerror=alert(1)&gt;");
    for (let n = 0; n < maxShownTutorExchanges; n++) {
      await alice.post("/tutor", { question: `Question ${n}` }, { headers: ndjson });
    }
    const many = history((await alice.get("/tutor")).body);
    expect(many.match(/<summary>Answer<\/summary>/g)).toHaveLength(maxShownTutorExchanges);
    expect(many).not.toContain("&lt;img src=x"); // the oldest fell off
    expect(many).toContain(
      `Showing your ${maxShownTutorExchanges} most recent questions of ${maxShownTutorExchanges + 1}.`,
    );
  });

  test("history the cluster cannot read right now leaves the tutor usable; other failures are errors", async () => {
    const world = await createWorld();
    const alice = await browserAs(world, "alice");
    const read = vi.spyOn(world.api, "listTutorExchanges");
    read.mockRejectedValueOnce(new ApiError("UNAVAILABLE", "no leader"));
    const page = await alice.get("/tutor");
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('<label for="tutor-question">');
    expect(history(page.body)).toContain("could not be loaded just now");
    read.mockRejectedValueOnce(new ApiError("UNAUTHENTICATED", "Your session has ended; sign in again."));
    const signedOut = await alice.get("/tutor");
    expect(signedOut.statusCode).toBe(303);
    expect(String(signedOut.headers.location)).toMatch(/^\/login/);
  });

  test("signed-out visitors are sent to sign in", async () => {
    const world = await createWorld();
    const response = await world.app.inject({ method: "GET", url: "/tutor" });
    expect(response.statusCode).toBe(303);
    expect(String(response.headers.location)).toMatch(/^\/login/);
  });
});
