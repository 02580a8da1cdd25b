import { describe, expect, test } from "vitest";
import { transferOutcome } from "../src/routes/admin-routes.js";
import { browserAs, courseWorld, createWorld, idFromLocation, TestBrowser } from "./helpers.js";

describe("admin pages", () => {
  test("the dashboard lists every course without opening other instructors' (contents stay with members)", async () => {
    const world = await courseWorld();
    const admin = await browserAs(world, "admin");
    const dashboard = await admin.get("/dashboard");
    expect(dashboard.body).toContain("All courses");
    expect(dashboard.body).toContain("Distributed Systems");
    expect(dashboard.body).not.toContain(`href="/courses/${world.courseId}"`);
    // As the service answers: an admin may know every course (PERMISSION_DENIED, not NOT_FOUND).
    expect((await admin.get(`/courses/${world.courseId}`)).statusCode).toBe(403);
  });

  test("an admin creates a course, owns it and sees the instructor's view of it", async () => {
    const world = await courseWorld();
    const admin = await browserAs(world, "admin");
    expect((await admin.get("/courses/new")).statusCode).toBe(200);
    const created = await admin.post("/courses", { title: "Admin's course", description: "" });
    const ownId = idFromLocation(created, "/courses");
    const page = await admin.get(`/courses/${ownId}`);
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain("Admin&#39;s course");
    expect(page.body).toContain("Join codes");
    expect((await admin.get("/dashboard")).body).toContain(`href="/courses/${ownId}"`);
    // A student still may not.
    const alice = await browserAs(world, "alice");
    expect((await alice.get("/courses/new")).statusCode).toBe(403);
  });

  test("the users page lists instructors and students and creates instructors", async () => {
    const world = await createWorld();
    const admin = await browserAs(world, "admin");
    const page = await admin.get("/admin/users");
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain("Tess Teacher");
    expect(page.body).toContain("Alice Student");
    const created = await admin.post("/admin/instructors", {
      displayName: "Ivy",
      username: "ivy",
      password: "ivy-password-123",
    });
    expect((await admin.follow(created)).body).toContain("Account ivy (instructor) created.");
    const taken = await admin.post("/admin/instructors", {
      displayName: "Ivy",
      username: "ivy",
      password: "ivy-password-123",
    });
    expect((await admin.follow(taken)).body).toContain("is taken");
    const ivy = new TestBrowser(world.app);
    await ivy.get("/login");
    const login = await ivy.post("/login", { username: "ivy", password: "ivy-password-123" });
    expect(login.statusCode).toBe(303);
    expect((await ivy.follow(login)).body).toContain("Needs grading");
  });

  test("non-admins get 403 on every admin page and form", async () => {
    const world = await createWorld();
    for (const user of ["alice", "teacher"] as const) {
      const browser = await browserAs(world, user);
      for (const url of ["/admin/users", "/admin/cluster", "/admin/cluster/status.json"]) {
        expect((await browser.get(url)).statusCode, `${user} ${url}`).toBe(403);
      }
      for (const url of [
        "/admin/instructors",
        "/admin/cluster/members",
        "/admin/cluster/members/n2/remove",
        "/admin/cluster/members/n2/promote",
        "/admin/cluster/leadership",
      ]) {
        expect(
          (await browser.post(url, { nodeId: "n9", address: "127.0.0.1:1", confirm: "1" })).statusCode,
          `${user} ${url}`,
        ).toBe(403);
      }
    }
  });

  test("the cluster page shows every node and polls a JSON endpoint from a script", async () => {
    const world = await createWorld();
    const admin = await browserAs(world, "admin");
    const page = await admin.get("/admin/cluster");
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('<script src="/static/cluster.js" defer></script>');
    expect(page.body).toContain('data-poll-url="/admin/cluster/status.json"');
    expect(page.body).toContain('data-interval-ms="500"');
    for (const node of ["n1", "n2", "n3"]) expect(page.body).toContain(`data-node="${node}"`);
    const first = (await admin.get("/admin/cluster/status.json", { accept: "application/json" })).json();
    expect(first.leaderId).toBe("n1");
    expect(first.nodes.map((node: { nodeId: string }) => node.nodeId)).toEqual(["n1", "n2", "n3"]);
    world.api.setNodeUp("n1", false);
    const second = (await admin.get("/admin/cluster/status.json", { accept: "application/json" })).json();
    expect(second.leaderId).toBe("n2");
    expect(second.nodes[0]).toMatchObject({ nodeId: "n1", reachable: false, role: "unknown" });
    expect(second.nodes[1]).toMatchObject({ nodeId: "n2", role: "leader" });
    expect(second.nodes[1].term).toBeGreaterThan(first.nodes[1].term);
  });

  test("the status endpoint answers a signed-out script with 401 JSON, not a redirect", async () => {
    const world = await createWorld();
    const response = await world.app.inject({
      url: "/admin/cluster/status.json",
      headers: { accept: "application/json" },
    });
    expect(response.statusCode).toBe(401);
    expect(response.json()).toHaveProperty("error");
  });

  test("members can be added as learners, promoted and removed (with confirmation)", async () => {
    const world = await createWorld();
    const admin = await browserAs(world, "admin");
    await admin.get("/admin/cluster");
    const added = await admin.post("/admin/cluster/members", {
      nodeId: "n4",
      address: "127.0.0.1:50054",
      asLearner: "1",
    });
    const page = await admin.follow(added);
    expect(page.body).toContain("Node n4 added as a learner.");
    expect(page.body).toContain("Promote to voter");
    const bad = await admin.post("/admin/cluster/members", { nodeId: "n5", address: "not an address" });
    expect((await admin.follow(bad)).body).toContain("address must be host:port.");
    const promoted = await admin.post("/admin/cluster/members/n4/promote");
    expect((await admin.follow(promoted)).body).toContain("Node n4 is now a voter.");
    const again = await admin.post("/admin/cluster/members/n4/promote");
    expect((await admin.follow(again)).body).toContain("is not a learner");
    const unconfirmed = await admin.post("/admin/cluster/members/n4/remove");
    expect((await admin.follow(unconfirmed)).body).toContain("Tick the box to confirm removing n4.");
    const removed = await admin.post("/admin/cluster/members/n4/remove", { confirm: "1" });
    const after = await admin.follow(removed);
    expect(after.body).toContain("Node n4 removed.");
    expect(after.body).not.toContain('data-node="n4"');
    const unknown = await admin.post("/admin/cluster/members/n9/remove", { confirm: "1" });
    expect((await admin.follow(unknown)).body).toContain("No member n9.");
  });

  test("the admin dashboard links to users and the cluster", async () => {
    const world = await createWorld();
    const admin = await browserAs(world, "admin");
    const page = await admin.get("/dashboard");
    expect(page.body).toContain('href="/admin/cluster"');
    expect(page.body).toContain("No courses exist yet.");
  });

  test("leadership moves to the chosen voter and the cluster page says so", async () => {
    const world = await createWorld();
    const admin = await browserAs(world, "admin");
    const page = await admin.get("/admin/cluster");
    expect(page.body).toContain('<h2 id="leadership-title">Leadership</h2>');
    expect(page.body).toContain('<label for="leadership-target">New leader</label>');
    expect(page.body).toContain('<option value="n2">n2</option>');
    expect(page.body).toContain('<option value="n3">n3</option>');
    expect(page.body).not.toContain('<option value="n1">'); // the leader itself is not offered
    const moved = await admin.post("/admin/cluster/leadership", { nodeId: "n2" });
    expect(moved.statusCode).toBe(303);
    expect(moved.headers.location).toBe("/admin/cluster");
    const after = await admin.follow(moved);
    expect(after.body).toContain("Leadership transferred: n2 is the leader now.");
    expect(after.body).toContain("<strong>n2</strong> leads.");
    expect(after.body).toContain('<option value="n1">n1</option>');
    const status = (await admin.get("/admin/cluster/status.json", { accept: "application/json" })).json();
    expect(status.leaderId).toBe("n2");
    expect(status.nodes[1]).toMatchObject({ nodeId: "n2", role: "leader" });
  });

  test("a transfer that cannot happen is explained on the cluster page", async () => {
    const world = await createWorld();
    const admin = await browserAs(world, "admin");
    await admin.get("/admin/cluster");
    const none = await admin.post("/admin/cluster/leadership", { nodeId: "" });
    expect((await admin.follow(none)).body).toContain("Choose the node that should lead.");
    const unknown = await admin.post("/admin/cluster/leadership", { nodeId: "n9" });
    expect((await admin.follow(unknown)).body).toContain("No member n9.");
    world.api.setNodeUp("n3", false);
    const down = await admin.post("/admin/cluster/leadership", { nodeId: "n3" });
    const downPage = await admin.follow(down);
    expect(downPage.body).toContain("n3 did not take over in time.");
    expect(downPage.body).toContain('<option value="n3">n3 (not answering)</option>');
    await admin.post("/admin/cluster/members", { nodeId: "n4", address: "127.0.0.1:50054", asLearner: "1" });
    await admin.get("/admin/cluster");
    const learner = await admin.post("/admin/cluster/leadership", { nodeId: "n4" });
    expect((await admin.follow(learner)).body).toContain("n4 is not a voter.");
    const missingToken = await admin.post("/admin/cluster/leadership", { nodeId: "n2" }, { csrf: false });
    expect(missingToken.statusCode).toBe(403);
    const status = (await admin.get("/admin/cluster/status.json", { accept: "application/json" })).json();
    expect(status.leaderId).toBe("n1");
  });

  test("the outcome names who leads when it is not the node asked for", () => {
    expect(transferOutcome("n2", "n2")).toBe("Leadership transferred: n2 is the leader now.");
    expect(transferOutcome("n2", "n3")).toBe("Asked n2 to take over, but n3 is the leader now.");
    expect(transferOutcome("n2", "")).toContain("no leader is known yet");
  });
});
