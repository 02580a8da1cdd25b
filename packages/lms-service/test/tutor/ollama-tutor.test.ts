import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OllamaTutor } from "../../src/tutor/ollama-tutor.js";
import { TutorRequestError, TutorUnavailableError } from "../../src/tutor/tutor-errors.js";
import { MAX_GROUNDING_CHARS, MAX_QUESTION_CHARS } from "../../src/tutor/tutor-prompt.js";
import { FakeOllama } from "./fake-ollama.js";

async function collect(stream: AsyncIterable<string>): Promise<string[]> {
  const out: string[] = [];
  for await (const piece of stream) out.push(piece);
  return out;
}

describe("OllamaTutor against a local server speaking Ollama's streaming protocol", () => {
  const fake = new FakeOllama();
  let url = "";
  let tutor: OllamaTutor;
  beforeAll(async () => {
    url = await fake.start();
    tutor = new OllamaTutor({ baseUrl: url, model: "gemma2:2b", connectTimeoutMs: 500, idleTimeoutMs: 300 });
  });
  afterAll(async () => {
    await tutor.close();
    await fake.stop();
  });

  it("streams the answer piece by piece and sends the model, a system prompt and the question", async () => {
    fake.behaviour = { kind: "stream", pieces: ["A quorum ", "is a ", "majority ✓"], delayMs: 5 };
    expect(await collect(tutor.ask({ question: "  What is a quorum? ", courseTitle: "Distributed Systems" }))).toEqual([
      "A quorum ",
      "is a ",
      "majority ✓",
    ]);
    const sent = fake.requests.at(-1);
    expect(sent?.model).toBe("gemma2:2b");
    expect(sent?.stream).toBe(true);
    expect(sent?.messages.map((m) => m.role)).toEqual(["system", "user"]);
    expect(sent?.messages[0].content).toContain("Distributed Systems");
    expect(sent?.messages[1].content).toBe("What is a quorum?");
  });

  it("grounds the answer in a course material, shortened to fit a small model", async () => {
    fake.behaviour = { kind: "stream", pieces: ["ok"] };
    const text = "y".repeat(MAX_GROUNDING_CHARS + 50);
    await collect(tutor.ask({ question: "Explain", material: { title: "Week 3 notes", text } }));
    const system = fake.requests.at(-1)?.messages[0].content ?? "";
    expect(system).toContain('"Week 3 notes"');
    expect(system).toContain("[material shortened]");
    expect(system.length).toBeLessThan(MAX_GROUNDING_CHARS + 1_000);
  });

  it("refuses an empty or oversized question before calling the server", async () => {
    const before = fake.requests.length;
    await expect(collect(tutor.ask({ question: "   " }))).rejects.toBeInstanceOf(TutorRequestError);
    await expect(collect(tutor.ask({ question: "q".repeat(MAX_QUESTION_CHARS + 1) }))).rejects.toThrow(/longer than/);
    expect(fake.requests.length).toBe(before);
  });

  it("a missing model is UNAVAILABLE with the command that installs it", async () => {
    fake.behaviour = { kind: "status", status: 404, body: JSON.stringify({ error: "model 'gemma2:2b' not found" }) };
    const error = await collect(tutor.ask({ question: "hi" })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TutorUnavailableError);
    expect((error as TutorUnavailableError).code).toBe("UNAVAILABLE");
    expect(String(error)).toMatch(/ollama pull gemma2:2b/);
  });

  it.each([
    ["an HTTP 500", { kind: "status", status: 500, body: "boom" } as const, /HTTP 500/],
    ["a malformed line", { kind: "garbage" } as const, /malformed/],
    ["a stream cut before done", { kind: "cut" } as const, /ended the answer unexpectedly/],
    ["a stalled stream", { kind: "stall-after", pieces: ["half"] } as const, /stopped answering/],
  ])("%s is UNAVAILABLE with a clear message", async (_name, behaviour, message) => {
    fake.behaviour = behaviour;
    await expect(collect(tutor.ask({ question: "hi" }))).rejects.toThrow(message);
  });

  it("stopping early releases the request (the server sees the client go)", async () => {
    fake.behaviour = { kind: "stream", pieces: Array.from({ length: 50 }, (_, i) => `t${i} `), delayMs: 10 };
    for await (const piece of tutor.ask({ question: "long" })) {
      expect(piece).toBe("t0 ");
      break;
    }
    await new Promise((r) => setTimeout(r, 100));
    expect(fake.clientAborts).toBeGreaterThanOrEqual(1);
  });

  it("with no server listening, the tutor is UNAVAILABLE and says everything else keeps working", async () => {
    const stopped = new FakeOllama();
    const deadUrl = await stopped.start();
    await stopped.stop();
    const dead = new OllamaTutor({ baseUrl: deadUrl, model: "gemma2:2b", connectTimeoutMs: 500 });
    await expect(collect(dead.ask({ question: "hi" }))).rejects.toThrow(
      /no model server answers at .*Everything else keeps working/,
    );
    await dead.close();
  });
});
