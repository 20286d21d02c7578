// The panel editor (title, visualization, query, width, with a preview) and the new-dashboard form.

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

/** createPanelEditor({range(), onSave(panel, index)}) → {el, open(panel?, index?), close()} */
export function createPanelEditor({ range, onSave }) {
  let index = null;
  const title = h("input", { type: "text", class: "pe-title", required: true, placeholder: "Errors by service", "aria-label": "Panel title" });
  const viz = h("select", { class: "pe-viz", "aria-label": "Visualization" }, VIZ.map(([v, label]) => h("option", { value: v }, label)));
  const query = h("input", { type: "text", class: "pe-query", spellcheck: "false", placeholder: "level:error | timechart count() by service", "aria-label": "Panel query" });
  const width = h("select", { class: "pe-width", "aria-label": "Width" }, [1, 2, 3].map((w) => h("option", { value: String(w) }, `${w} column${w > 1 ? "s" : ""}`)));
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
      h("label", { class: "pe-query-label" }, "Query ", query),
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
    return { title: title.value.trim(), viz: viz.value, source: "query", query: query.value.trim(), width: Number(width.value) };
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
