// Keeps the cluster table live: polls the status endpoint and rebuilds each node's row.

(() => {
  const table = document.getElementById("cluster-table");
  if (!table || !window.fetch) return;
  const body = table.querySelector("tbody");
  const leader = document.getElementById("cluster-leader");
  const updated = document.getElementById("cluster-updated");
  const errorBox = document.getElementById("cluster-error");
  const url = table.dataset.pollUrl;
  const intervalMs = Math.max(200, Number(table.dataset.intervalMs) || 500);

  function cell(tag, text, className) {
    const element = document.createElement(tag);
    element.textContent = text;
    if (className) element.className = className;
    return element;
  }

  function badge(up) {
    return cell("span", up ? "up" : "down", up ? "badge badge-ok" : "badge badge-late");
  }

  function row(node) {
    const tr = document.createElement("tr");
    tr.dataset.node = node.nodeId;
    if (node.role === "leader") tr.className = "is-leader";
    const name = cell("th", node.nodeId);
    name.scope = "row";
    const health = document.createElement("td");
    health.append(badge(node.reachable));
    if (node.error) health.append(" ", cell("span", node.error, "muted"));
    tr.append(
      name,
      health,
      cell("td", node.role),
      cell("td", node.kind),
      cell("td", String(node.term)),
      cell("td", String(node.commitIndex)),
      cell("td", String(node.appliedIndex)),
      cell("td", node.role === "leader" ? "—" : `${node.lastContactMsAgo} ms ago`),
      cell("td", node.address),
    );
    return tr;
  }

  function render(status) {
    body.replaceChildren(...status.nodes.map(row));
    leader.textContent = status.leaderId || "none";
    updated.textContent = `as of ${new Date(status.observedAtMs).toISOString().slice(11, 23)} UTC`;
    errorBox.classList.add("hidden");
  }

  async function poll() {
    try {
      const response = await fetch(url, { headers: { accept: "application/json" }, credentials: "same-origin" });
      if (response.status === 401) {
        errorBox.textContent = "Your session has ended. Reload the page to sign in again.";
        errorBox.classList.remove("hidden");
        return; // Stop polling: nothing will change until the user signs in.
      }
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      render(await response.json());
    } catch (error) {
      errorBox.textContent = `Cluster status unavailable (${error.message}); retrying…`;
      errorBox.classList.remove("hidden");
    }
    setTimeout(poll, intervalMs);
  }

  setTimeout(poll, intervalMs);
})();
