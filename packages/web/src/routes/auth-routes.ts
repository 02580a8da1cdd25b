import type { FastifyInstance } from "fastify";
import { setFlash } from "../http/flash.js";
import { formBody, formIdempotencyKey, newIdempotencyKey, textField } from "../http/forms.js";
import { safeNextPath } from "../http/guards.js";
import { renderPage } from "../http/page.js";
import { endSession, startSession } from "../http/session.js";
import { isApiError } from "../lms-api.js";
import { loginPage, registerPage } from "../views/auth-pages.js";
import type { RouteDeps } from "./route-deps.js";

/** Sign in, register, sign out, and the front door. */
export function registerAuthRoutes(app: FastifyInstance, deps: RouteDeps): void {
  const { api } = deps;

  app.get("/", async (request, reply) => reply.redirect(request.viewer === undefined ? "/login" : "/dashboard", 303));

  app.get("/login", async (request, reply) => {
    if (request.viewer !== undefined) return reply.redirect("/dashboard", 303);
    const next = safeNextPath((request.query as { next?: unknown }).next);
    return renderPage(request, reply, (context) => loginPage(context, { next }));
  });

  app.post(
    "/login",
    {
      preHandler: app.csrfProtection,
      config: { rateLimit: { max: deps.loginAttemptsPerMinute, timeWindow: 60_000 } },
    },
    async (request, reply) => {
      const body = formBody(request.body);
      const username = textField(body, "username");
      const password = textField(body, "password", { keepSpace: true });
      const next = safeNextPath(textField(body, "next"));
      if (username === "" || password === "") {
        return renderPage(
          request,
          reply,
          (context) => loginPage(context, { username, next, error: "Enter your username and password." }),
          400,
        );
      }
      try {
        const session = await api.login({ username, password });
        startSession(app, reply, session);
        return reply.redirect(next ?? "/dashboard", 303);
      } catch (error) {
        if (!isApiError(error) || (error.code !== "UNAUTHENTICATED" && error.code !== "INVALID_ARGUMENT")) throw error;
        return renderPage(
          request,
          reply,
          (context) => loginPage(context, { username, next, error: "Wrong username or password." }),
          401,
        );
      }
    },
  );

  app.get("/register", async (request, reply) => {
    if (request.viewer !== undefined) return reply.redirect("/dashboard", 303);
    return renderPage(request, reply, (context) => registerPage(context));
  });

  app.post("/register", { preHandler: app.csrfProtection }, async (request, reply) => {
    const body = formBody(request.body);
    const state = { username: textField(body, "username"), displayName: textField(body, "displayName") };
    const password = textField(body, "password", { keepSpace: true });
    if (password !== textField(body, "confirm", { keepSpace: true })) {
      return renderPage(
        request,
        reply,
        (context) => registerPage(context, { ...state, error: "The two passwords differ." }),
        400,
      );
    }
    try {
      await api.register({ ...state, password, idempotencyKey: formIdempotencyKey(body) });
      startSession(app, reply, await api.login({ username: state.username, password }));
    } catch (error) {
      if (!isApiError(error) || (error.code !== "INVALID_ARGUMENT" && error.code !== "ALREADY_EXISTS")) throw error;
      const status = error.code === "ALREADY_EXISTS" ? 409 : 400;
      return renderPage(request, reply, (context) => registerPage(context, { ...state, error: error.message }), status);
    }
    setFlash(reply, {
      kind: "success",
      text: "Welcome to Lectern! Join a course with the code your instructor gave you.",
    });
    return reply.redirect("/dashboard", 303);
  });

  app.post("/logout", { preHandler: app.csrfProtection }, async (request, reply) => {
    const viewer = request.viewer;
    endSession(reply);
    if (viewer !== undefined) {
      try {
        await api.logout(viewer.token, { idempotencyKey: newIdempotencyKey() });
      } catch (error) {
        // The cookie is gone either way; an outage only delays revoking the token on the nodes.
        if (!isApiError(error)) throw error;
        request.log.warn({ code: error.code }, "logout could not revoke the token");
      }
    }
    return reply.redirect("/login", 303);
  });
}
