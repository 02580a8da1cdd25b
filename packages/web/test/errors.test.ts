import { describe, expect, test } from "vitest";
import { ApiError } from "../src/lms-api.js";
import { browserAs, createWorld } from "./helpers.js";

describe("error pages", () => {
  test("an unknown address gets a 404 page with a way onward", async () => {
    const world = await createWorld();
    const response = await world.app.inject({ url: "/no/such/page" });
    expect(response.statusCode).toBe(404);
    expect(response.headers["content-type"]).toContain("text/html");
    expect(response.body).toContain('<h1 id="error-title">Not found</h1>');
    expect(response.body).toContain('href="/login"');
    const alice = await browserAs(world, "alice");
    expect((await alice.get("/courses/c999")).statusCode).toBe(404);
    expect((await alice.get("/courses/c999")).body).toContain('href="/dashboard"');
  });

  test("a service outage shows a short retry page with Retry-After, and passes", async () => {
    const world = await createWorld();
    const alice = await browserAs(world, "alice");
    world.api.outage = new ApiError("UNAVAILABLE", "no leader");
    const response = await alice.get("/dashboard");
    expect(response.statusCode).toBe(503);
    expect(response.headers["retry-after"]).toBe("1");
    expect(response.body).toContain("Lectern is busy for a moment");
    expect(response.body).toContain("will not be applied twice");
    expect(alice.cookies.has("lectern_session")).toBe(true); // an outage signs nobody out
    world.api.outage = undefined;
    expect((await alice.get("/dashboard")).statusCode).toBe(200);
  });

  test("an outage during a form post keeps the user signed in and says to resend", async () => {
    const world = await createWorld();
    const teacher = await browserAs(world, "teacher");
    await teacher.get("/courses/new");
    world.api.outage = new ApiError("UNAVAILABLE", "leader changed");
    const response = await teacher.post("/courses", { title: "T" });
    expect(response.statusCode).toBe(503);
    expect(response.body).toContain("go back and send the form again");
  });

  test("an unexpected failure is a 500 page that reveals nothing", async () => {
    const world = await createWorld();
    const alice = await browserAs(world, "alice");
    world.api.listCourses = async () => {
      throw new Error("secret internal detail at /srv/db");
    };
    const response = await alice.get("/dashboard");
    expect(response.statusCode).toBe(500);
    expect(response.body).toContain("Something went wrong");
    expect(response.body).not.toContain("secret internal detail");
  });

  test("the health endpoint lists every node and stays up while any node answers", async () => {
    const world = await createWorld();
    const healthy = await world.app.inject({ url: "/healthz" });
    expect(healthy.statusCode).toBe(200);
    expect(healthy.body).toBe("healthy: 3 checks passed\nok   node n1\nok   node n2\nok   node n3\n");
    world.api.setNodeUp("n2", false);
    const degraded = await world.app.inject({ url: "/healthz" });
    expect(degraded.statusCode).toBe(200);
    expect(degraded.body).toContain("FAIL node n2: unreachable");
    world.api.setNodeUp("n1", false);
    world.api.setNodeUp("n3", false);
    expect((await world.app.inject({ url: "/healthz" })).statusCode).toBe(503);
  });

  test("static assets are served with the strict CSP and no directory listing", async () => {
    const world = await createWorld();
    const css = await world.app.inject({ url: "/static/style.css" });
    expect(css.statusCode).toBe(200);
    expect(css.headers["content-type"]).toContain("text/css");
    expect((await world.app.inject({ url: "/static/cluster.js" })).statusCode).toBe(200);
    const folder = await world.app.inject({ url: "/static/" });
    expect([403, 404]).toContain(folder.statusCode);
    expect(folder.body).not.toContain("upload.js"); // no listing of the folder
    expect((await world.app.inject({ url: "/static/../package.json" })).statusCode).toBe(404);
  });

  test("buildApp refuses a short cookie secret", async () => {
    const { buildApp } = await import("../src/app.js");
    const { FakeLmsApi } = await import("../src/testing/fake-lms-api.js");
    await expect(buildApp({ api: new FakeLmsApi(), cookieSecret: "short" })).rejects.toThrow(/at least 32/);
  });
});
