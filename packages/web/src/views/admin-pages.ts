import { html, path, type SafeHtml } from "../html.js";
import type { ClusterNodeStatus, ClusterStatus, User } from "../lms-api.js";
import { timeTag } from "./format.js";
import { formGuards, type PageContext, type PageOptions } from "./layout.js";

/** Admin: every instructor and student, and the form to create an instructor. */
export function usersPage(
  context: PageContext,
  data: { instructors: readonly User[]; students: readonly User[] },
): PageOptions {
  const table = (users: readonly User[], empty: string): SafeHtml =>
    users.length === 0
      ? html`<p class="empty">${empty}</p>`
      : html`<div class="table-wrap"><table><thead><tr><th scope="col">Name</th><th scope="col">Username</th><th scope="col">Since</th></tr></thead><tbody>
${users.map((user) => html`<tr><th scope="row">${user.displayName}</th><td>${user.username}</td><td>${timeTag(user.createdAtMs)}</td></tr>`)}
</tbody></table></div>`;
  return {
    title: "Users",
    main: html`<h1>Users</h1>
<section class="card" aria-labelledby="new-instructor-title">
<h2 id="new-instructor-title">Create an instructor</h2>
<form method="post" action="/admin/instructors" class="stacked-form">
${formGuards(context)}
<label for="instructor-name">Name</label>
<input id="instructor-name" name="displayName" required maxlength="100">
<label for="instructor-username">Username</label>
<input id="instructor-username" name="username" required minlength="3" maxlength="32" autocomplete="off">
<label for="instructor-password">Initial password</label>
<input id="instructor-password" name="password" type="password" required minlength="12" maxlength="256" autocomplete="new-password">
<label class="checkbox"><input type="checkbox" name="admin" value="1"> Make this account an administrator instead</label>
<button type="submit">Create account</button>
</form>
</section>
<section class="card" aria-labelledby="instructors-title"><h2 id="instructors-title">Instructors</h2>${table(data.instructors, "No instructors yet.")}</section>
<section class="card" aria-labelledby="students-title"><h2 id="students-title">Students</h2>${table(data.students, "No students have registered yet.")}</section>`,
  };
}

/** Admin: the live cluster view; public/cluster.js refreshes the table from the JSON endpoint. */
export function clusterPage(
  context: PageContext,
  data: { status: ClusterStatus; pollIntervalMs: number },
): PageOptions {
  const { status } = data;
  return {
    title: "Cluster",
    scripts: ["cluster.js"],
    main: html`<h1>Cluster</h1>
<p>Cluster <code>${status.clusterId}</code> · leader <strong id="cluster-leader">${status.leaderId === "" ? "none" : status.leaderId}</strong>
 · <span id="cluster-updated">as of ${timeTag(status.observedAtMs)}</span></p>
<div id="cluster-error" class="flash flash-error hidden" role="alert"></div>
<div class="table-wrap">
<table id="cluster-table" data-poll-url="/admin/cluster/status.json" data-interval-ms="${data.pollIntervalMs}">
<caption class="visually-hidden">Every node's state, refreshed live</caption>
<thead><tr><th scope="col">Node</th><th scope="col">Health</th><th scope="col">Role</th><th scope="col">Membership</th><th scope="col">Term</th><th scope="col">Commit</th><th scope="col">Applied</th><th scope="col">Last contact</th><th scope="col">Address</th></tr></thead>
<tbody aria-live="polite">${status.nodes.map(nodeRow)}</tbody>
</table>
</div>
${leadershipSection(context, status)}
<section class="card" aria-labelledby="members-title">
<h2 id="members-title">Members</h2>
<ul class="item-list">${status.nodes.map((node) => memberActions(context, node))}</ul>
<h3>Add a member</h3>
<form method="post" action="/admin/cluster/members" class="stacked-form">
${formGuards(context)}
<label for="member-id">Node id</label>
<input id="member-id" name="nodeId" required maxlength="64" pattern="[A-Za-z0-9][A-Za-z0-9_.\\-]*">
<label for="member-address">Address (host:port)</label>
<input id="member-address" name="address" required maxlength="300" placeholder="127.0.0.1:50054">
<label class="checkbox"><input type="checkbox" name="asLearner" value="1" checked> Add as a learner first (promote once caught up)</label>
<button type="submit">Add member</button>
</form>
</section>`,
  };
}

/** Hand leadership to another voter, e.g. before taking the leader's machine down for maintenance. */
function leadershipSection(context: PageContext, status: ClusterStatus): SafeHtml {
  const candidates = status.nodes.filter(
    (node) => node.nodeId !== status.leaderId && (node.kind === "voter" || node.kind === "unknown"),
  );
  return html`<section class="card" aria-labelledby="leadership-title">
<h2 id="leadership-title">Leadership</h2>
<p>${status.leaderId === "" ? html`There is no leader right now; the nodes are electing one.` : html`<strong>${status.leaderId}</strong> leads. Hand leadership to another voter before taking its machine down; writes pause for a moment while the new leader takes over.`}</p>
${
  status.leaderId === "" || candidates.length === 0
    ? html`<p class="empty">${status.leaderId === "" ? "Transfer is possible once a leader is elected." : "There is no other voter to take over."}</p>`
    : html`<form method="post" action="/admin/cluster/leadership" class="inline-fields">
${formGuards(context)}
<label for="leadership-target">New leader</label>
<select id="leadership-target" name="nodeId" required>
${candidates.map((node) => html`<option value="${node.nodeId}">${node.nodeId}${node.reachable ? html`` : html` (not answering)`}</option>`)}
</select>
<button type="submit">Transfer leadership</button>
</form>`
}
</section>`;
}

/** One node's table row; cluster.js builds the same cells. */
function nodeRow(node: ClusterNodeStatus): SafeHtml {
  const health = node.reachable
    ? html`<span class="badge badge-ok">up</span>`
    : html`<span class="badge badge-late">down</span>`;
  return html`<tr data-node="${node.nodeId}"${node.role === "leader" ? html` class="is-leader"` : html``}>
<th scope="row">${node.nodeId}</th><td>${health}${node.error === undefined ? html`` : html` <span class="muted">${node.error}</span>`}</td>
<td>${node.role}</td><td>${node.kind}</td><td>${node.term}</td><td>${node.commitIndex}</td><td>${node.appliedIndex}</td>
<td>${node.role === "leader" ? "—" : `${node.lastContactMsAgo} ms ago`}</td><td>${node.address}</td></tr>`;
}

function memberActions(context: PageContext, node: ClusterNodeStatus): SafeHtml {
  return html`<li class="member"><strong>${node.nodeId}</strong> <span class="muted">${node.kind}</span>
${
  node.kind === "learner"
    ? html`<form method="post" action="${path`/admin/cluster/members/${node.nodeId}/promote`}" class="inline-form">${formGuards(context)}<button type="submit">Promote to voter</button></form>`
    : html``
}
<form method="post" action="${path`/admin/cluster/members/${node.nodeId}/remove`}" class="inline-form">
${formGuards(context)}
<label class="checkbox"><input type="checkbox" name="confirm" value="1" required> I want to remove ${node.nodeId}</label>
<button type="submit" class="danger">Remove</button>
</form></li>`;
}
