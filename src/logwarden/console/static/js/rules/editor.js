// The rule editor: the form on the left (validation messages from the API next to their field) and the
// backtest preview on the right, run before saving.

import { apiPost } from "../api.js";
import { h } from "../dom.js";
import { apiSend } from "../alerts/send.js";
import { createPreview } from "./preview.js";

export const TYPES = ["threshold", "absence", "aggregate", "anomaly", "cardinality", "change", "list", "new_value", "pattern", "ratio", "sequence", "spike"];
const SEVERITIES = ["info", "warning", "critical"];
// The fields the form has inputs for; any other setting of the rule is edited as JSON under "Other settings".
const FORM_KEYS = ["name", "type", "query", "group_by", "window", "threshold", "for", "severity", "description", "enabled"];

/** Each API problem ("rule.threshold: Input should be…") under its field: {field → [messages]}, rest under "". */
export function problemsByField(message, fields) {
  const out = {};
  for (const part of String(message).split(/;\s+(?=(?:rule\.)?[a-z_]+(?:\.[\w]+)*:)/)) {
    const m = part.match(/^(?:rule\.)?([a-z_]+)[.:]/);
    const key = m && fields.includes(m[1]) ? m[1] : "";
    (out[key] ||= []).push(part);
  }
  return out;
}

/** createEditor({rule (an API rule view, or null for a new one), onSaved(view), notice}) → {el, focus()} */
export function createEditor({ rule, onSaved, notice = "" }) {
  const existing = Boolean(rule);
  const mapping = rule?.rule || { type: "threshold", query: "level:error", window: "5m", threshold: 10, severity: "warning" };
  const readOnly = rule?.source === "file";
  const inputs = {};
  const problems = {};

  function field(key, label, input, hint) {
    inputs[key] = input;
    input.id = `rl-${key}`;
    input.name = key;
    problems[key] = h("p", { class: "error-message rl-problem", id: `rl-${key}-problem`, role: "alert" });
    input.setAttribute("aria-describedby", `rl-${key}-problem`);
    return h("div", { class: `rl-field rl-field-${key}` }, h("label", { for: input.id }, label), input, hint ? h("p", { class: "hint" }, hint) : null, problems[key]);
  }
  const text = (value, extra = {}) => h("input", { type: "text", value: value ?? "", spellcheck: "false", ...extra });
  const select = (options, value) => h("select", {}, options.map((o) => h("option", { value: o, selected: o === value }, o)));

  const extras = Object.fromEntries(Object.entries(mapping).filter(([k]) => !FORM_KEYS.includes(k)));
  const enabled = h("input", { type: "checkbox", checked: mapping.enabled !== false });
  const otherSettings = h("textarea", { rows: 4, spellcheck: "false", class: "rl-extra" });
  otherSettings.value = Object.keys(extras).length ? JSON.stringify(extras, null, 2) : "";
  const group = text(rule?.group || "console");
  const general = h("p", { class: "error-message rl-general", role: "alert" });
  const saved = h("p", { class: "rl-saved", role: "status" }, notice);
  const preview = createPreview();
  const previewButton = h("button", { type: "button", class: "rl-preview-button" }, "Preview backtest");
  const saveButton = h("button", { type: "submit", class: "primary rl-save", disabled: readOnly }, existing ? "Save changes" : "Create rule");

  const form = h(
    "form",
    { class: "rl-form", "aria-label": "Rule", novalidate: true },
    field("name", "Name", text(mapping.name, { disabled: existing, placeholder: "checkout-errors", required: true }), existing ? "Names do not change." : "Letters, digits, - _ . : (unique)."),
    field("group", "Group", group),
    field("type", "Type", select(TYPES.includes(mapping.type) ? TYPES : [...TYPES, mapping.type], mapping.type)),
    field("query", "Query", text(mapping.query, { class: "rl-query", placeholder: "level:error service:checkout" }), "The search language without pipes; * for all lines."),
    field("group_by", "Group by", text((mapping.group_by || []).join(", "), { placeholder: "service, host" }), "Each group alerts on its own (comma separated)."),
    h(
      "div",
      { class: "rl-row" },
      field("window", "Window", text(mapping.window, { size: 6 })),
      field("threshold", "Threshold", text(mapping.threshold ?? "", { size: 6, inputmode: "decimal" })),
      field("for", "For", text(mapping.for ?? "0s", { size: 6 })),
      field("severity", "Severity", select(SEVERITIES, mapping.severity || "warning")),
    ),
    field("description", "Description", text(mapping.description)),
    field("extra", "Other settings (JSON)", otherSettings, "The type's other settings, e.g. {\"field\": \"duration_ms\", \"fn\": \"p95\"} (docs/rules.md)."),
    h("label", { class: "rl-enabled" }, enabled, " Enabled"),
    general,
    h("div", { class: "rl-actions" }, previewButton, saveButton, readOnly ? h("span", { class: "muted" }, `From the rule file ${rule.file}:${rule.line}: edit the file instead.`) : null),
    saved,
  );
  const el = h("div", { class: "rl-editor" }, form, preview.el);

  function clearProblems() {
    general.textContent = "";
    saved.textContent = "";
    for (const [key, p] of Object.entries(problems)) {
      p.textContent = "";
      inputs[key].removeAttribute("aria-invalid");
    }
  }

  function showProblems(message) {
    const found = problemsByField(message, Object.keys(inputs));
    let first = null;
    for (const [key, messages] of Object.entries(found)) {
      if (!key) {
        general.textContent = messages.join("; ");
        continue;
      }
      problems[key].textContent = messages.join("; ");
      inputs[key].setAttribute("aria-invalid", "true");
      first ||= inputs[key];
    }
    first?.focus();
  }

  /** The rule mapping from the form (numbers as numbers); null with a message when the JSON does not read. */
  function collect() {
    const out = {};
    let more = {};
    if (otherSettings.value.trim()) {
      try {
        more = JSON.parse(otherSettings.value);
      } catch (err) {
        problems.extra.textContent = `extra: not valid JSON (${err.message})`;
        inputs.extra.setAttribute("aria-invalid", "true");
        return null;
      }
    }
    const name = inputs.name.value.trim();
    if (name) out.name = name;
    out.type = inputs.type.value;
    out.query = inputs.query.value.trim();
    const groupBy = inputs.group_by.value.split(",").map((s) => s.trim()).filter(Boolean);
    if (groupBy.length) out.group_by = groupBy;
    if (inputs.window.value.trim()) out.window = inputs.window.value.trim();
    const threshold = inputs.threshold.value.trim();
    if (threshold) out.threshold = Number.isFinite(Number(threshold)) ? Number(threshold) : threshold;
    if (inputs.for.value.trim() && inputs.for.value.trim() !== "0s") out.for = inputs.for.value.trim();
    out.severity = inputs.severity.value;
    if (inputs.description.value.trim()) out.description = inputs.description.value.trim();
    if (!enabled.checked) out.enabled = false;
    return { ...out, ...more };
  }

  previewButton.addEventListener("click", async () => {
    clearProblems();
    const spec = collect();
    if (!spec) return;
    try {
      await preview.run(spec);
    } catch (err) {
      if (err.status === 400) showProblems(err.message);
    }
  });

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    clearProblems();
    const spec = collect();
    if (!spec) return;
    const body = { group: group.value.trim() || "console", rule: spec };
    if (rule?.interval) body.interval = rule.interval; // a scheduled rule's group keeps its interval
    try {
      const view = existing
        ? await apiSend("PUT", `/api/v1/rules/${encodeURIComponent(rule.name)}`, body)
        : await apiPost("/api/v1/rules", body);
      saved.textContent = `Saved ${view.name}.`;
      onSaved?.(view);
    } catch (err) {
      if (err.status === 400 || err.status === 409) showProblems(err.message);
      else general.textContent = `Saving failed: ${err.message}`;
    }
  });

  return { el, focus: () => (existing ? inputs.query : inputs.name).focus() };
}
