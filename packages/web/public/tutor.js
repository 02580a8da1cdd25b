// Streams the tutor's answer piece by piece. Without this script the form posts and the page
// comes back with the whole answer.

(() => {
  const form = document.getElementById("tutor-form");
  const answer = document.getElementById("tutor-answer");
  const errorBox = document.getElementById("tutor-error");
  if (!form || !answer || !errorBox || !window.fetch || !window.TextDecoder) return;
  const button = form.querySelector("button[type=submit]");
  const keyField = form.querySelector("input[name=_idem]");

  function freshKey() {
    const bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
  }

  function showError(message) {
    errorBox.textContent = message;
    errorBox.classList.remove("hidden");
  }

  function handle(line) {
    if (line.trim() === "") return;
    const event = JSON.parse(line);
    if (event.type === "piece") answer.append(event.text);
    else if (event.type === "error") showError(event.message);
  }

  async function ask() {
    answer.textContent = "";
    errorBox.textContent = "";
    errorBox.classList.add("hidden");
    answer.setAttribute("aria-busy", "true");
    button.disabled = true;
    try {
      const response = await fetch(form.action, {
        method: "POST",
        headers: { accept: "application/x-ndjson", "x-csrf-token": form.dataset.csrf || "" },
        body: new URLSearchParams(new FormData(form)),
        credentials: "same-origin",
      });
      if (!response.ok || !response.body) {
        const body = await response.json().catch(() => ({}));
        showError(
          typeof body.error === "string" ? body.error : `The tutor could not answer (HTTP ${response.status}).`,
        );
        return;
      }
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let buffered = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffered += decoder.decode(value, { stream: true });
        const lines = buffered.split("\n");
        buffered = lines.pop() || "";
        for (const line of lines) handle(line);
      }
      handle(buffered + decoder.decode());
    } catch {
      showError("The connection to the tutor was lost. Try again.");
    } finally {
      answer.setAttribute("aria-busy", "false");
      button.disabled = false;
      if (keyField) keyField.value = freshKey(); // Each question is its own exchange.
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    ask();
  });
})();
