// Upload forms with a progress bar. Without this script the forms still post normally.

(() => {
  function freshKey() {
    const bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
  }

  function formatMiB(bytes) {
    return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
  }

  function enhance(form) {
    const progress = form.querySelector(".upload-progress");
    const status = form.querySelector(".upload-status");
    const button = form.querySelector("button[type=submit]");
    const fileInput = form.querySelector("input[type=file]");
    const maxBytes = Number(form.dataset.maxBytes);

    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const file = fileInput?.files?.[0];
      if (file && Number.isFinite(maxBytes) && file.size > maxBytes) {
        status.textContent = `This file is ${formatMiB(file.size)}; the limit is ${formatMiB(maxBytes)}. Choose a smaller file.`;
        return;
      }
      const request = new XMLHttpRequest();
      request.open("POST", form.action);
      request.setRequestHeader("accept", "application/json");
      request.setRequestHeader("x-csrf-token", form.dataset.csrf || "");
      request.responseType = "json";
      progress.hidden = false;
      progress.value = 0;
      button.disabled = true;
      status.textContent = file ? "Uploading…" : "Sending…";

      request.upload.addEventListener("progress", (progressEvent) => {
        if (!progressEvent.lengthComputable) return;
        const percent = Math.round((progressEvent.loaded / progressEvent.total) * 100);
        progress.value = percent;
        status.textContent = `Uploading… ${percent}%`;
      });
      request.addEventListener("load", () => {
        const body = request.response || {};
        if (request.status >= 200 && request.status < 300 && typeof body.redirectTo === "string") {
          status.textContent = "Saved.";
          window.location.assign(body.redirectTo);
          return;
        }
        button.disabled = false;
        progress.hidden = true;
        if (request.status === 401) {
          status.textContent = "Your session has ended. Sign in again in another tab, then send the form again.";
          return;
        }
        status.textContent =
          typeof body.error === "string" ? body.error : `The upload failed (HTTP ${request.status}).`;
        // A rejected form gets a new key; an outage (5xx) keeps it so the retry is deduplicated.
        if (request.status < 500) {
          const keyField = form.querySelector("input[name=_idem]");
          if (keyField) keyField.value = freshKey();
        }
      });
      request.addEventListener("error", () => {
        button.disabled = false;
        progress.hidden = true;
        status.textContent = "The connection failed. Send the form again: it will not be saved twice.";
      });
      request.send(new FormData(form));
    });
  }

  for (const form of document.querySelectorAll("form[data-upload]")) enhance(form);
})();
