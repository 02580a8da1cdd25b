import { html, type SafeHtml } from "../html.js";
import { formatBytes } from "./format.js";
import { formGuards, type PageContext } from "./layout.js";

/**
 * A multipart form with a file input and a progress bar. The CSRF token rides in the action's query
 * (a multipart body is read only after the check); public/upload.js sends it as a header instead,
 * checks the size before uploading, and shows progress.
 */
export function uploadForm(
  context: PageContext,
  options: {
    action: string;
    id: string;
    maxBytes: number;
    fileLabel: string;
    fileRequired: boolean;
    fields: SafeHtml;
    submitLabel: string;
  },
): SafeHtml {
  const separator = options.action.includes("?") ? "&" : "?";
  return html`<form method="post" enctype="multipart/form-data" action="${options.action}${separator}_csrf=${encodeURIComponent(context.csrfToken)}"
 class="stacked-form" data-upload data-max-bytes="${options.maxBytes}" data-csrf="${context.csrfToken}">
${formGuards(context)}
${options.fields}
<label for="${options.id}-file">${options.fileLabel}</label>
<input id="${options.id}-file" name="file" type="file"${options.fileRequired ? html` required` : html``} aria-describedby="${options.id}-limit">
<p class="hint" id="${options.id}-limit">At most ${formatBytes(options.maxBytes)}.</p>
<progress class="upload-progress" max="100" value="0" hidden aria-label="Upload progress"></progress>
<p class="upload-status" role="status" aria-live="polite"></p>
<button type="submit">${options.submitLabel}</button>
</form>`;
}
