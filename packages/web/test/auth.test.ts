import { describe, expect, test } from "vitest";
import { browserAs, createWorld, passwords, TestBrowser } from "./helpers.js";

describe("sign in and sessions", () => {
  test("the login page renders a labelled form with a CSRF token and strict security headers", async () => {
    const { app } = await createWorld();
    const response = await app.inject({ method: "GET", url: "/login" });
    expect(response.statusCode).toBe(200);
    expect(response.headers["content-type"]).toContain("text/html");
    expect(response.body).toMatch(/<label for="login-username">/);
    expect(response.body).toMatch(/name="_csrf" value="[^"]+"/);
    expect(response.body).toContain('<main id="main"');
    const csp = String(response.headers["content-security-policy"]);
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain("unsafe-inline");
    expect(response.headers["x-content-type-options"]).toBe("nosniff");
    expect(response.headers["referrer-policy"]).toBe("no-referrer");
    expect(response.body).not.toMatch(/<script>(?!<\/script>)/); // no inline scripts
  });

  test("a correct login sets an httpOnly SameSite=Strict session cookie and opens the dashboard", async () => {
    const { app } = await createWorld();
    const browser = new TestBrowser(app);
    await browser.get("/login");
    const response = await browser.post("/login", { username: "alice", password: passwords.alice });
    expect(response.statusCode).toBe(303);
    expect(response.headers.location).toBe("/dashboard");
    const setCookie = ([] as string[])
      .concat(response.headers["set-cookie"] ?? [])
      .find((cookie) => cookie.startsWith("lectern_session="));
    expect(setCookie).toMatch(/HttpOnly/i);
    expect(setCookie).toMatch(/SameSite=Strict/i);
    expect(setCookie).not.toMatch(/Secure/i); // plain http here; Secure over https
    const dashboard = await browser.follow(response);
    expect(dashboard.statusCode).toBe(200);
    expect(dashboard.body).toContain("Hello, Alice Student");
  });

  test("the session cookie is Secure when the request came over https", async () => {
    const { app } = await createWorld({ trustProxy: true });
    const browser = new TestBrowser(app);
    await browser.get("/login");
    const response = await browser.post(
      "/login",
      { username: "alice", password: passwords.alice },
      { headers: { "x-forwarded-proto": "https" } },
    );
    const setCookie = ([] as string[])
      .concat(response.headers["set-cookie"] ?? [])
      .find((cookie) => cookie.startsWith("lectern_session="));
    expect(setCookie).toMatch(/Secure/);
  });

  test("a wrong password re-renders the form with a 401 and keeps the username", async () => {
    const { app } = await createWorld();
    const browser = new TestBrowser(app);
    await browser.get("/login");
    const response = await browser.post("/login", { username: "alice", password: "not-the-password" });
    expect(response.statusCode).toBe(401);
    expect(response.body).toContain("Wrong username or password.");
    expect(response.body).toContain('value="alice"');
    expect(browser.cookies.has("lectern_session")).toBe(false);
  });

  test("empty fields are a 400", async () => {
    const { app } = await createWorld();
    const browser = new TestBrowser(app);
    await browser.get("/login");
    const response = await browser.post("/login", { username: "", password: "" });
    expect(response.statusCode).toBe(400);
  });

  test("a login without a CSRF token is refused with 403 and signs nobody in", async () => {
    const { app } = await createWorld();
    const browser = new TestBrowser(app);
    await browser.get("/login");
    const response = await browser.post("/login", { username: "alice", password: passwords.alice }, { csrf: false });
    expect(response.statusCode).toBe(403);
    expect(response.body).toContain("This form has expired");
    expect(browser.cookies.has("lectern_session")).toBe(false);
    const forged = await browser.post(
      "/login",
      { username: "alice", password: passwords.alice },
      { csrf: "forged-token" },
    );
    expect(forged.statusCode).toBe(403);
  });

  test("sign-in is rate limited per client", async () => {
    const { app } = await createWorld({ loginAttemptsPerMinute: 3 });
    const browser = new TestBrowser(app);
    await browser.get("/login");
    const statuses: number[] = [];
    for (let attempt = 0; attempt < 5; attempt += 1) {
      statuses.push((await browser.post("/login", { username: "alice", password: "wrong-password!!" })).statusCode);
    }
    expect(statuses).toEqual([401, 401, 401, 429, 429]);
    const limited = await browser.post("/login", { username: "alice", password: passwords.alice });
    expect(limited.statusCode).toBe(429);
    expect(limited.body).toContain("Too many");
  });

  test("pages redirect a signed-out visitor to sign in and come back afterwards", async () => {
    const { app } = await createWorld();
    const browser = new TestBrowser(app);
    for (const url of [
      "/dashboard",
      "/courses/c1",
      "/assignments/a1",
      "/grades",
      "/grading",
      "/tutor",
      "/admin/users",
      "/admin/cluster",
      "/files/f1",
    ]) {
      const response = await browser.get(url);
      expect(response.statusCode, url).toBe(303);
      expect(response.headers.location, url).toBe(`/login?next=${encodeURIComponent(url)}`);
    }
    const loginPage = await browser.get("/login?next=%2Fgrades");
    expect(loginPage.body).toContain('name="next" value="/grades"');
    const response = await browser.post("/login", { username: "alice", password: passwords.alice, next: "/grades" });
    expect(response.headers.location).toBe("/grades");
  });

  test("an off-site next address is ignored", async () => {
    const { app } = await createWorld();
    const browser = new TestBrowser(app);
    await browser.get("/login");
    for (const next of ["//evil.example/", "https://evil.example/", "/\\evil.example"]) {
      const response = await browser.post("/login", { username: "alice", password: passwords.alice, next });
      expect(response.headers.location).toBe("/dashboard");
    }
  });

  test("a forged or tampered session cookie counts as signed out", async () => {
    const { app } = await createWorld();
    const alice = await browserAs({ app, api: undefined as never }, "alice");
    const real = alice.cookies.get("lectern_session") ?? "";
    const [header, payload, signature] = real.split(".");
    const claims = JSON.parse(Buffer.from(payload ?? "", "base64url").toString()) as Record<string, unknown>;
    const promoted = Buffer.from(JSON.stringify({ ...claims, role: "admin" })).toString("base64url");
    alice.cookies.set("lectern_session", `${header}.${promoted}.${signature}`);
    const response = await alice.get("/admin/users");
    expect(response.statusCode).toBe(303);
    expect(response.headers.location).toMatch(/^\/login/);
  });

  test("register creates a student, signs them in and shows a welcome", async () => {
    const { app } = await createWorld();
    const browser = new TestBrowser(app);
    await browser.get("/register");
    const password = "a-long-enough-password";
    const response = await browser.post("/register", {
      displayName: "Carol",
      username: "carol",
      password,
      confirm: password,
    });
    expect(response.statusCode).toBe(303);
    const dashboard = await browser.follow(response);
    expect(dashboard.body).toContain("Welcome to Lectern!");
    expect(dashboard.body).toContain("Hello, Carol");
    expect(dashboard.body).toContain("You are not in any course yet");
  });

  test("register refuses a taken username, a short password and differing passwords, keeping the input", async () => {
    const { app } = await createWorld();
    const browser = new TestBrowser(app);
    await browser.get("/register");
    const taken = await browser.post("/register", {
      displayName: "A",
      username: "alice",
      password: "long-password-1",
      confirm: "long-password-1",
    });
    expect(taken.statusCode).toBe(409);
    expect(taken.body).toContain("is taken");
    expect(taken.body).toContain('value="alice"');
    const short = await browser.post("/register", {
      displayName: "D",
      username: "dave",
      password: "short",
      confirm: "short",
    });
    expect(short.statusCode).toBe(400);
    expect(short.body).toContain("password must have");
    const differ = await browser.post("/register", {
      displayName: "D",
      username: "dave",
      password: "long-password-1",
      confirm: "long-password-2",
    });
    expect(differ.statusCode).toBe(400);
    expect(differ.body).toContain("The two passwords differ.");
  });

  test("sign out clears the cookie and revokes the service token", async () => {
    const world = await createWorld();
    const alice = await browserAs(world, "alice");
    const response = await alice.post("/logout");
    expect(response.statusCode).toBe(303);
    expect(response.headers.location).toBe("/login");
    expect(alice.cookies.has("lectern_session")).toBe(false);
    expect((await alice.get("/dashboard")).statusCode).toBe(303);
  });

  test("a token the service no longer accepts ends the session with a message", async () => {
    const world = await createWorld();
    const alice = await browserAs(world, "alice");
    const cookie = alice.cookies.get("lectern_session") ?? "";
    // Revoke through the API behind the web front's back (e.g. logout on another device).
    const claims = JSON.parse(Buffer.from(cookie.split(".")[1] ?? "", "base64url").toString()) as { tok: string };
    await world.api.logout(claims.tok, { idempotencyKey: "revoke-from-elsewhere-1" });
    const response = await alice.get("/dashboard");
    expect(response.statusCode).toBe(303);
    expect(response.headers.location).toBe("/login?next=%2Fdashboard");
    expect(alice.cookies.has("lectern_session")).toBe(false);
    const login = await alice.follow(response);
    expect(login.body).toContain("Your session has ended");
  });

  test("the front door sends visitors to sign in and users to their dashboard", async () => {
    const world = await createWorld();
    expect((await world.app.inject({ url: "/" })).headers.location).toBe("/login");
    const alice = await browserAs(world, "alice");
    expect((await alice.get("/")).headers.location).toBe("/dashboard");
    expect((await alice.get("/login")).headers.location).toBe("/dashboard");
  });
});
