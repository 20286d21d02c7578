// The "new silence" dialog: matchers (pre-filled from an alert's labels), a duration preset, who and why.

import { apiPost } from "../api.js";
import { h } from "../dom.js";
import { currentUser, openModal, rememberUser } from "../alerts/modal.js";

export const DURATIONS = ["1h", "2h", "4h", "8h", "1d", "7d"];

/** `name="value"` lines from labels (tenant left out: a silence is per tenant already). */
export function labelMatchers(labels) {
  return Object.entries(labels || {})
    .filter(([name]) => name !== "tenant")
    .map(([name, value]) => `${name}=${JSON.stringify(String(value))}`);
}

/** openSilenceDialog({matchers: [...], onCreated(silence)}): POST /api/v1/silences from a form. */
export function openSilenceDialog({ matchers = [], onCreated }) {
  const matcherInput = h("textarea", { name: "matchers", class: "sl-matchers", rows: Math.max(3, matchers.length + 1), spellcheck: "false", required: true });
  matcherInput.value = matchers.join("\n");
  const duration = h("input", { type: "text", name: "duration", class: "sl-duration", value: "2h", size: 6, spellcheck: "false" });
  const presets = DURATIONS.map((d) =>
    h("button", { type: "button", class: "mini sl-preset", dataset: { duration: d }, onclick: () => (duration.value = d) }, d),
  );
  const by = h("input", { type: "text", name: "created_by", value: currentUser(), required: true });
  const comment = h("input", { type: "text", name: "comment", class: "sl-comment", placeholder: "why: deploying, known issue…", required: true });
  const error = h("p", { class: "error-message sl-error", role: "alert" });
  const form = h(
    "form",
    { class: "sl-form" },
    h("label", {}, "Matchers (one per line: name=\"value\", name=~\"regex\", name!=\"value\")", matcherInput),
    h("label", {}, "Duration ", h("span", { class: "sl-presets" }, duration, presets)),
    h("label", {}, "Created by", by),
    h("label", {}, "Comment", comment),
    error,
    h("div", { class: "sl-actions" }, h("button", { type: "submit", class: "primary" }, "Create silence")),
  );
  const dialog = openModal("New silence", form);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    error.textContent = "";
    const lines = matcherInput.value.split("\n").map((l) => l.trim()).filter(Boolean);
    try {
      const made = await apiPost("/api/v1/silences", {
        matchers: lines,
        duration: duration.value.trim(),
        created_by: by.value.trim(),
        comment: comment.value.trim(),
      });
      rememberUser(by.value.trim());
      dialog.close();
      onCreated?.(made);
    } catch (err) {
      error.textContent = err.message;
    }
  });
  return dialog;
}
