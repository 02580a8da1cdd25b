import type { FastifyInstance } from "fastify";
import { runFormAction } from "../http/form-action.js";
import { checkboxField, formBody, formIdempotencyKey, textField } from "../http/forms.js";
import { requireRole, viewerOf } from "../http/guards.js";
import { badRequest } from "../http/http-error.js";
import { renderPage } from "../http/page.js";
import { clusterPage, usersPage } from "../views/admin-pages.js";
import type { RouteDeps } from "./route-deps.js";

/** Admin pages: users, instructor accounts, the live cluster view and member changes. */
export function registerAdminRoutes(app: FastifyInstance, deps: RouteDeps): void {
  const { api } = deps;
  const adminPage = { preHandler: requireRole("admin") };
  const adminForm = { preHandler: [requireRole("admin"), app.csrfProtection] };

  app.get("/admin/users", adminPage, async (request, reply) => {
    const viewer = viewerOf(request);
    const [instructors, students] = await Promise.all([
      api.listInstructors(viewer.token),
      api.listStudents(viewer.token, {}),
    ]);
    return renderPage(request, reply, (context) => usersPage(context, { instructors, students }));
  });

  app.post("/admin/instructors", adminForm, async (request, reply) => {
    const viewer = viewerOf(request);
    const body = formBody(request.body);
    return runFormAction(reply, "/admin/users", async () => {
      const user = await api.createUser(viewer.token, {
        username: textField(body, "username"),
        password: textField(body, "password", { keepSpace: true }),
        displayName: textField(body, "displayName"),
        role: checkboxField(body, "admin") ? "admin" : "instructor",
        idempotencyKey: formIdempotencyKey(body),
      });
      return { redirectTo: "/admin/users", message: `Account ${user.username} (${user.role}) created.` };
    });
  });

  app.get("/admin/cluster", adminPage, async (request, reply) => {
    const status = await api.getClusterStatus(viewerOf(request).token);
    return renderPage(request, reply, (context) =>
      clusterPage(context, { status, pollIntervalMs: deps.clusterPollIntervalMs }),
    );
  });

  app.get("/admin/cluster/status.json", adminPage, async (request, reply) => {
    const status = await api.getClusterStatus(viewerOf(request).token);
    return reply.header("cache-control", "no-store").send(status);
  });

  app.post("/admin/cluster/members", adminForm, async (request, reply) => {
    const viewer = viewerOf(request);
    const body = formBody(request.body);
    return runFormAction(
      reply,
      "/admin/cluster",
      async () => {
        const nodeId = textField(body, "nodeId");
        const asLearner = checkboxField(body, "asLearner");
        await api.addMember(viewer.token, {
          nodeId,
          address: textField(body, "address"),
          asLearner,
          idempotencyKey: formIdempotencyKey(body),
        });
        return { redirectTo: "/admin/cluster", message: `Node ${nodeId} added${asLearner ? " as a learner" : ""}.` };
      },
      ["NOT_FOUND"],
    );
  });

  app.post("/admin/cluster/leadership", adminForm, async (request, reply) => {
    const viewer = viewerOf(request);
    const body = formBody(request.body);
    return runFormAction(
      reply,
      "/admin/cluster",
      async () => {
        const nodeId = textField(body, "nodeId");
        if (nodeId === "") throw badRequest("Choose the node that should lead.");
        const { leaderId } = await api.transferLeadership(viewer.token, {
          targetNodeId: nodeId,
          idempotencyKey: formIdempotencyKey(body),
        });
        return { redirectTo: "/admin/cluster", message: transferOutcome(nodeId, leaderId) };
      },
      ["NOT_FOUND"],
    );
  });

  app.post<{ Params: { nodeId: string } }>(
    "/admin/cluster/members/:nodeId/promote",
    adminForm,
    async (request, reply) => {
      const viewer = viewerOf(request);
      const body = formBody(request.body);
      const { nodeId } = request.params;
      return runFormAction(
        reply,
        "/admin/cluster",
        async () => {
          await api.promoteMember(viewer.token, { nodeId, idempotencyKey: formIdempotencyKey(body) });
          return { redirectTo: "/admin/cluster", message: `Node ${nodeId} is now a voter.` };
        },
        ["NOT_FOUND"],
      );
    },
  );

  app.post<{ Params: { nodeId: string } }>(
    "/admin/cluster/members/:nodeId/remove",
    adminForm,
    async (request, reply) => {
      const viewer = viewerOf(request);
      const body = formBody(request.body);
      const { nodeId } = request.params;
      return runFormAction(
        reply,
        "/admin/cluster",
        async () => {
          if (!checkboxField(body, "confirm")) throw badRequest(`Tick the box to confirm removing ${nodeId}.`);
          await api.removeMember(viewer.token, { nodeId, idempotencyKey: formIdempotencyKey(body) });
          return { redirectTo: "/admin/cluster", message: `Node ${nodeId} removed.` };
        },
        ["NOT_FOUND"],
      );
    },
  );
}

/** What the admin reads after a transfer: whether the chosen node leads now, and if not, who does. */
export function transferOutcome(target: string, leaderId: string): string {
  if (leaderId === target) return `Leadership transferred: ${target} is the leader now.`;
  if (leaderId === "") return `Asked ${target} to take over; no leader is known yet. Watch the table below.`;
  return `Asked ${target} to take over, but ${leaderId} is the leader now.`;
}
