import { describe, expect, test } from "vitest";
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
