import { afterEach, test } from "vitest";
import { actor, Cleanup, Harness, passwordHash } from "./harness.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());
test("timing", async () => {
  const h = await Harness.level(cleanup);
  const admin = actor("admin", "admin");
  const alice = actor("alice", "instructor");
  await h.ok("bootstrapAdmin", null, { userId: "admin", username: "admin", displayName: "Admin", passwordHash });
  await h.ok("createInstructor", admin, { userId: "alice", username: "alice", displayName: "Alice", passwordHash });
  await h.ok("createCourse", alice, { courseId: "c1", title: "T", description: "" });
  const rows = [];
  for (let round = 0; round < 4; round++) {
    const c0 = process.cpuUsage();
    const n = 4000;
    for (let i = 0; i < n; i += 8) {
      const entries = [];
      for (let j = 0; j < 8; j++)
        entries.push(
          h.entry(
            h.command("postFeedbackNote", alice, {
              noteId: `n${round}-${i + j}`,
              courseId: "c1",
              text: "x".repeat(256),
            } as never),
          ),
        );
      await h.machine.apply(entries);
    }
    const c = process.cpuUsage(c0);
    if (round > 0) rows.push(((c.user + c.system) / n).toFixed(1));
  }
  console.log("ROW µs CPU/apply", rows.join(" "));
}, 120000);
