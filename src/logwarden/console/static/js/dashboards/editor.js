// The panel editor (title, visualization, width, what the panel reads — a query, a log metric, the alerts or
// logwarden's own figures — with a preview) and the new-dashboard form.

import { apiGet } from "../api.js";
import { h } from "../dom.js";
import { renderViz } from "./panels.js";
import { loadPanel } from "./sources.js";

export const VIZ = [
  ["timeseries", "Time series"],
  ["bar", "Bar"],
  ["table", "Table"],
  ["stat", "Single stat"],
  ["pie", "Pie"],
];

export const SOURCES = [
  ["query", "Query"],
  ["metric", "Log metric"],
  ["alerts", "Alerts by severity"],
  ["self", "logwarden's own figure"],
];
const FUNCTIONS = ["rate", "sum", "avg", "max", "p50", "p95", "p99"]; // GET /api/v1/metrics/query_range's fn
const FIGURES = [
  ["ingest_rate", "Ingest rate (lines/s)"],
  ["applier_lag", "Applier lag (bytes)"],
];

/** The panel the editor's fields describe (only the keys its source takes: the API refuses others). */
export function panelOf(fields) {
  const panel = { title: fields.title.trim(), viz: fields.viz, source: fields.source, width: Number(fields.width) };
  if (fields.source === "query") panel.query = fields.query.trim();
  if (fields.source === "metric") {
    panel.metric = fields.metric.trim();
    panel.fn = fields.fn;
    panel.by = fields.by.split(",").map((b) => b.trim()).filter(Boolean);
    if (fields.transform) panel.transform = fields.transform;
  }
  if (fields.source === "self") panel.figure = fields.figure;
  return panel;
}

/** createPanelEditor({range(), onSave(panel, index)}) → {el, open(panel?, index?), close()} */
export function createPanelEditor({ range, onSave }) {
  let index = null;
  const title = h("input", { type: "text", class: "pe-title", required: true, placeholder: "Errors by service", "aria-label": "Panel title" });
  const viz = h("select", { class: "pe-viz", "aria-label": "Visualization" }, VIZ.map(([v, label]) => h("option", { value: v }, label)));
  const query = h("input", { type: "text", class: "pe-query", spellcheck: "false", placeholder: "level:error | timechart count() by service", "aria-label": "Panel query" });
  const width = h("select", { class: "pe-width", "aria-label": "Width" }, [1, 2, 3].map((w) => h("option", { value: String(w) }, `${w} column${w > 1 ? "s" : ""}`)));
  const source = h("select", { class: "pe-source", "aria-label": "Source" }, SOURCES.map(([v, label]) => h("option", { value: v }, label)));
  const metrics = h("datalist", { id: "pe-metrics" });
  const metric = h("input", { type: "text", class: "pe-metric", list: "pe-metrics", spellcheck: "false", placeholder: "logs_total", "aria-label": "Metric" });
  const fn = h("select", { class: "pe-fn", "aria-label": "Function" }, FUNCTIONS.map((f) => h("option", { value: f }, f)));
  const by = h("input", { type: "text", class: "pe-by", spellcheck: "false", placeholder: "service, level", "aria-label": "Series by labels" });
  const transform = h(
    "select",
    { class: "pe-transform", "aria-label": "Transform" },
    h("option", { value: "" }, "none"),
    h("option", { value: "error_percent" }, "error % (needs by level)"),
  );
  const figure = h("select", { class: "pe-figure", "aria-label": "Figure" }, FIGURES.map(([v, label]) => h("option", { value: v }, label)));
  // The fields of each source; only the chosen source's are shown.
  const bySource = {
    query: [h("label", { class: "pe-query-label" }, "Query ", query)],
    metric: [h("label", {}, "Metric ", metric, metrics), h("label", {}, "Function ", fn), h("label", {}, "By ", by), h("label", {}, "Transform ", transform)],
    alerts: [h("p", { class: "hint" }, "The pending and firing alerts, counted by severity.")],
    self: [h("label", {}, "Figure ", figure), h("p", { class: "hint" }, "Sampled from /metrics every 5 s while the page is open.")],
  };
  function showSource() {
    for (const [name, els] of Object.entries(bySource)) for (const el of els) el.hidden = name !== source.value;
  }
  source.addEventListener("change", showSource);
  const message = h("div", { class: "pe-message", role: "status" });
  const preview = h("div", { class: "pe-preview" });
  const submit = h("button", { type: "submit", class: "primary pe-save" }, "Add panel");
  const form = h(
    "form",
    { class: "panel-editor", hidden: true, "aria-label": "Panel editor", onsubmit: (e) => (e.preventDefault(), save()) },
    h(
      "div",
      { class: "pe-fields" },
      h("label", {}, "Title ", title),
      h("label", {}, "Visualization ", viz),
      h("label", {}, "Width ", width),
      h("label", {}, "Source ", source),
      Object.values(bySource),
    ),
    h(
      "div",
      { class: "pe-actions" },
      h("button", { type: "button", class: "pe-preview-button", onclick: () => show() }, "Preview"),
      submit,
      h("button", { type: "button", onclick: () => close() }, "Cancel"),
      message,
    ),
    preview,
  );

  function current() {
    const fields = { title: title.value, viz: viz.value, width: width.value, source: source.value, query: query.value };
    return panelOf({ ...fields, metric: metric.value, fn: fn.value, by: by.value, transform: transform.value, figure: figure.value });
  }
  async function loadMetricNames() {
    if (metrics.childElementCount) return;
    try {
      const body = await apiGet("/api/v1/metrics/definitions");
      metrics.replaceChildren(...(body.metrics || []).map((m) => h("option", { value: m.name })));
    } catch {
      // Completion only: a name can always be typed.
    }
  }
  async function show() {
    message.textContent = "";
    preview.replaceChildren(h("p", { class: "muted" }, "Loading…"));
    try {
      const frame = await loadPanel(current(), range());
      preview.replaceChildren(renderViz(viz.value, frame, Math.max(320, form.clientWidth - 40), () => {}));
    } catch (err) {
      preview.replaceChildren(h("p", { class: "error-message" }, err.message));
    }
  }
  async function save() {
    const panel = current();
    if (!panel.title) {
      message.textContent = "A panel needs a title.";
      message.className = "pe-message error-message";
      return;
    }
    try {
      await onSave(panel, index);
      close();
    } catch (err) {
      message.textContent = err.message;
      message.className = "pe-message error-message";
    }
  }
  function open(panel = null, at = null) {
    index = at;
    title.value = panel?.title || "";
    viz.value = panel?.viz || "timeseries";
    query.value = panel?.query || "";
    width.value = String(panel?.width || 1);
    source.value = panel?.source || "query";
    metric.value = panel?.metric || "";
    fn.value = panel?.fn || "rate";
    by.value = (panel?.by || []).join(", ");
    transform.value = panel?.transform || "";
    figure.value = panel?.figure || "ingest_rate";
    showSource();
    loadMetricNames();
    submit.textContent = at === null ? "Add panel" : "Save panel";
    message.textContent = "";
    preview.replaceChildren();
    form.hidden = false;
    title.focus();
  }
  function close() {
    form.hidden = true;
  }
  window.addEventListener("lw:escape", close);
  return { el: form, open, close };
}

/** createNameForm({label, onSubmit(name)}) → {el, open(value), close()}: a name field for new dashboards and copies. */
export function createNameForm({ onSubmit }) {
  const name = h("input", { type: "text", class: "nf-name", placeholder: "Dashboard name", "aria-label": "Dashboard name" });
  const message = h("span", { class: "nf-message error-message", role: "status" });
  const form = h(
    "form",
    { class: "name-form", hidden: true, onsubmit: (e) => (e.preventDefault(), submit()) },
    name,
    h("button", { type: "submit", class: "primary nf-create" }, "Create"),
    h("button", { type: "button", onclick: () => close() }, "Cancel"),
    message,
  );
  async function submit() {
    try {
      await onSubmit(name.value.trim());
      close();
    } catch (err) {
      message.textContent = err.message;
    }
  }
  function open(value = "") {
    name.value = value;
    message.textContent = "";
    form.hidden = false;
    name.focus();
    name.select();
  }
  function close() {
    form.hidden = true;
  }
  window.addEventListener("lw:escape", close);
  return { el: form, open, close };
}
