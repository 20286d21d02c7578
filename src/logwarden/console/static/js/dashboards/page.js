// Dashboards (/dashboards?d=<id>&start=…&end=…): the built-in Overview and the tenant's dashboards, a grid of
// panels driven by one time picker (the same start/end parameters as Discover), with auto-refresh.

import { DEFAULT_START } from "../state.js";
import { h } from "../dom.js";
import { createTimePicker } from "../timepicker.js";
import { createDashboard, deleteDashboard, fieldsOf, listDashboards, saveDashboard } from "./client.js";
import { createNameForm, createPanelEditor } from "./editor.js";
import { renderViz } from "./panels.js";
import { can } from "../login/session.js";
import { loadPanel, sampleSelf, selfSamples } from "./sources.js";

const REFRESH = [
  ["", "Off"],
  ["10s", "10s"],
  ["30s", "30s"],
  ["1m", "1m"],
  ["5m", "5m"],
];
const SELF_INTERVAL_MS = 5000;

/** logwarden's own figures come from /metrics, which needs `audit.read`: a role without it does not see them. */
function shown(panel) {
  return panel.source !== "self" || can("audit.read");
}

function seconds(text) {
  const m = /^(\d+)([smh])$/.exec(text || "");
  return m ? Number(m[1]) * { s: 1, m: 60, h: 3600 }[m[2]] : 0;
}

/** The page's state from the address: dashboard id, time range, refresh override. */
function readUrl() {
  const p = new URLSearchParams(location.search);
  return { d: p.get("d") || "overview", start: p.get("start") || DEFAULT_START, end: p.get("end") || "", refresh: p.get("refresh") };
}

function writeUrl(state, { replace = false } = {}) {
  const p = new URLSearchParams();
  p.set("d", state.d);
  p.set("start", state.start);
  if (state.end) p.set("end", state.end);
  if (state.refresh !== null && state.refresh !== undefined) p.set("refresh", state.refresh);
  const url = `${location.pathname}?${p}`;
  if (url === location.pathname + location.search) return;
  if (replace) history.replaceState(null, "", url);
  else history.pushState(null, "", url);
}

/** Discover's address for a filter and a range (the same parameters it reads). */
export function discoverUrl(q, start, end) {
  const p = new URLSearchParams();
  if (q) p.set("q", q);
  p.set("start", start || DEFAULT_START);
  if (end) p.set("end", end);
  return `/?${p}`;
}

export function mountDashboards(container) {
  let state = readUrl();
  let dashboards = [];
  let current = null;
  let timer = null;
  let selfTimer = null;
  let abort = null;

  const select = h("select", { class: "db-select", "aria-label": "Dashboard", onchange: () => go({ ...state, d: select.value, refresh: null }) });
  const picker = createTimePicker({ start: state.start, end: state.end, onChange: (start, end) => go({ ...state, start, end }) });
  const refreshSelect = h(
    "select",
    { class: "db-refresh", "aria-label": "Auto-refresh", title: "Auto-refresh", onchange: () => go({ ...state, refresh: refreshSelect.value }, { replace: true }) },
    REFRESH.map(([v, label]) => h("option", { value: v }, `⟳ ${label}`)),
  );
  const refreshButton = h("button", { type: "button", class: "db-refresh-now", title: "Refresh now", onclick: () => draw() }, "↻ Refresh");
  const addButton = h("button", { type: "button", class: "db-add-panel", onclick: () => editor.open() }, "+ Panel");
  const newButton = h("button", { type: "button", class: "db-new", onclick: () => nameForm.open() }, "New dashboard");
  const copyButton = h("button", { type: "button", class: "db-copy", onclick: () => nameForm.open(`${current?.name || "Dashboard"} copy`) }, "Save a copy");
  const deleteButton = h("button", { type: "button", class: "db-delete danger", onclick: () => remove() }, "Delete");
  const status = h("span", { class: "db-status muted", role: "status" });
  const description = h("p", { class: "db-description muted" });
  const grid = h("div", { class: "db-grid" });
  let copying = false;
  const nameForm = createNameForm({
    onSubmit: async (name) => {
      const fields = copying ? { ...fieldsOf(current), name } : { name, description: "", panels: [], refresh: null };
      const made = await createDashboard(fields);
      dashboards = await listDashboards();
      go({ ...state, d: made.id, refresh: null });
    },
  });
  newButton.addEventListener("click", () => (copying = false));
  copyButton.addEventListener("click", () => (copying = true));
  const editor = createPanelEditor({
    range: () => ({ start: state.start, end: state.end }),
    onSave: async (panel, index) => {
      const panels = [...current.panels];
      if (index === null) panels.push(panel);
      else panels[index] = panel;
      await persist({ ...fieldsOf(current), panels });
    },
  });

  container.append(
    h(
      "div",
      { class: "dashboards" },
      h("div", { class: "db-toolbar" }, select, picker.el, refreshSelect, refreshButton, addButton, newButton, copyButton, deleteButton, status),
      nameForm.el,
      editor.el,
      description,
      grid,
    ),
  );

  async function persist(fields) {
    const saved = await saveDashboard(current.id, fields);
    dashboards = dashboards.map((d) => (d.id === saved.id ? saved : d));
    current = saved;
    draw();
  }

  async function remove() {
    if (!current || current.builtin) return;
    await deleteDashboard(current.id);
    dashboards = dashboards.filter((d) => d.id !== current.id);
    go({ ...state, d: "overview", refresh: null });
  }

  function go(next, { replace = false } = {}) {
    state = next;
    writeUrl(state, { replace });
    show();
  }

  function show() {
    current = dashboards.find((d) => d.id === state.d) || null;
    select.replaceChildren(...dashboards.map((d) => h("option", { value: d.id, selected: d.id === state.d }, d.builtin ? `${d.name} (built-in)` : d.name)));
    picker.set(state.start, state.end);
    refreshSelect.value = state.refresh ?? current?.refresh ?? "";
    const builtin = !current || current.builtin;
    addButton.hidden = builtin;
    deleteButton.hidden = builtin;
    editor.close();
    nameForm.close();
    if (!current) {
      grid.replaceChildren(h("p", { class: "error-message" }, `No dashboard with id “${state.d}”.`));
      return;
    }
    description.textContent = current.description || "";
    schedule();
    draw();
  }

  function schedule() {
    clearInterval(timer);
    clearInterval(selfTimer);
    const every = seconds(refreshSelect.value);
    if (every) timer = setInterval(() => draw({ refresh: true }), every * 1000);
    if (current?.panels.some((p) => p.source === "self" && shown(p))) {
      selfTimer = setInterval(() => sampleSelf().then(drawSelf).catch(() => {}), SELF_INTERVAL_MS);
    }
  }

  function panelEl(panel, index) {
    const body = h("div", { class: "panel-body" }, h("p", { class: "muted" }, "Loading…"));
    const tools = [];
    if ((panel.source || "query") === "query") {
      tools.push(h("a", { class: "panel-discover", href: discoverUrl(panel.query, state.start, state.end), title: "Open this query in Discover" }, "Discover ↗"));
    }
    if (!current.builtin) {
      tools.push(
        h("button", { type: "button", class: "icon-button panel-edit", title: "Edit panel", "aria-label": `Edit ${panel.title}`, onclick: () => editor.open(panel, index) }, "✎"),
        h("button", { type: "button", class: "icon-button panel-remove", title: "Remove panel", "aria-label": `Remove ${panel.title}`, onclick: () => persist({ ...fieldsOf(current), panels: current.panels.filter((_, i) => i !== index) }) }, "✕"),
      );
    }
    const el = h(
      "section",
      { class: `panel span-${panel.width || 1}`, "aria-label": panel.title, dataset: { source: panel.source || "query", viz: panel.viz } },
      h("header", { class: "panel-header" }, h("h3", {}, panel.title), h("span", { class: "panel-tools" }, tools)),
      body,
    );
    el.lwPanel = panel;
    el.lwBody = body;
    return el;
  }

  function onPick({ filter, start, end }) {
    location.href = discoverUrl(filter, start || state.start, start ? end : state.end);
  }

  async function fill(el, signal) {
    const { lwPanel: panel, lwBody: body } = el;
    try {
      const frame = await loadPanel(panel, { start: state.start, end: state.end }, signal);
      if (signal?.aborted) return;
      body.replaceChildren(renderViz(panel.viz, frame, Math.max(240, body.clientWidth - 8), onPick));
      el.dataset.loaded = "1";
    } catch (err) {
      if (err.name === "AbortError") return;
      body.replaceChildren(h("p", { class: "error-message" }, err.message));
      el.dataset.loaded = "error";
    }
  }

  /** Draw the panels; `refresh` keeps the drawn ones on screen until their new data is there (no flicker). */
  async function draw({ refresh = false } = {}) {
    if (!current) return;
    abort?.abort();
    abort = new AbortController();
    const signal = abort.signal;
    let els = [...grid.querySelectorAll(".panel")];
    const visible = current.panels.map((p, i) => [p, i]).filter(([p]) => shown(p));
    if (!refresh || els.length !== visible.length) {
      els = visible.map(([p, i]) => panelEl(p, i));
      grid.replaceChildren(...(els.length ? els : [h("p", { class: "muted db-empty" }, "No panels yet: “+ Panel” adds one (a query and a visualization).")]));
    }
    if (current.panels.some((p) => p.source === "self" && shown(p))) {
      await sampleSelf(signal).catch(() => {});
      // A rate needs two samples: take the second soon rather than at the next 5 s tick.
      if (selfSamples() < 2) setTimeout(() => sampleSelf().then(drawSelf).catch(() => {}), 1000);
    }
    const started = performance.now();
    await Promise.all(els.map((el) => fill(el, signal)));
    if (!signal.aborted) status.textContent = `updated ${new Date().toLocaleTimeString()} · ${Math.round(performance.now() - started)} ms`;
  }

  function drawSelf() {
    for (const el of grid.querySelectorAll('.panel[data-source="self"]')) fill(el);
  }

  async function start() {
    try {
      dashboards = await listDashboards();
    } catch (err) {
      grid.replaceChildren(h("p", { class: "error-message" }, err.message));
      return;
    }
    writeUrl(state, { replace: true });
    show();
  }

  start();
  return {
    onUrlChange() {
      state = readUrl();
      show();
    },
  };
}
