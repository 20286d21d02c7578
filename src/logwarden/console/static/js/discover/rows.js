// Log rows: one builder for search results and live mode (level bar, time, service, host, columns, message),
// and the expanded view with every field, the raw JSON and the links to context and trace.

import { cellText, formatTs, h } from "../dom.js";
import { appendHighlighted } from "../highlight.js";

const CORE_SHOWN = new Set(["ts", "level", "service", "host", "message"]);

/** A field's value in a line: a core key, an extracted key, or an attribute (`attrs.x` or bare `x`). */
export function fieldValue(line, name) {
  if (name in line && name !== "attrs") return line[name];
  const attrs = line.attrs || {};
  if (name.startsWith("attrs.") && name.slice(6) in attrs) return attrs[name.slice(6)];
  return attrs[name];
}

export function levelClass(level) {
  return `lvl-${String(level || "none").toLowerCase()}`;
}

const FIXED = ["col-toggle", "col-ts", "col-level", "col-service", "col-host"];
const TITLES = ["", "Time", "Level", "Service", "Host"];

/** Grid columns of the rows: fixed ones, `columns` chosen fields, then the message taking the rest. */
export function gridColumns(columns) {
  return `22px 200px 56px 110px 90px ${columns.map(() => "120px ").join("")}minmax(0, 1fr)`;
}

/** The header row for `columns` (chosen fields between host and message). */
export function headerRow(columns) {
  return h(
    "div",
    { class: "hits-head", role: "row" },
    FIXED.map((cls, i) => h("div", { class: `cell ${cls}`, role: "columnheader" }, TITLES[i])),
    columns.map((c) => h("div", { class: "cell col-extra", role: "columnheader" }, c)),
    h("div", { class: "cell col-message", role: "columnheader" }, "Message"),
  );
}

function cell(row, cls, text) {
  const div = document.createElement("div");
  div.className = `cell ${cls}`;
  div.setAttribute("role", "cell");
  div.textContent = text;
  row.append(div);
  return div;
}

/**
 * One row; cheap enough for live mode (textContent only, one regex pass over the message). Rows are grid
 * boxes, not table rows, so `content-visibility: auto` lets the browser skip the thousands off screen.
 */
export function lineRow(line, columns, regex) {
  const row = document.createElement("div");
  row.className = `hit ${levelClass(line.level)}`;
  row.setAttribute("role", "row");
  row.tabIndex = 0;
  if (line.log_id) row.dataset.logId = line.log_id;
  cell(row, "col-toggle", "▸");
  cell(row, "col-ts", formatTs(line.ts));
  cell(row, "col-level", line.level || "");
  cell(row, "col-service", line.service || "");
  cell(row, "col-host", line.host || "");
  for (const c of columns) cell(row, "col-extra", cellText(fieldValue(line, c)));
  appendHighlighted(cell(row, "col-message", ""), line.message, regex);
  row._line = line; // the expanded view reads it back
  return row;
}

/** Every field of a line as [name, value] rows: core fields, then attributes (`attrs.` dropped). */
export function allFields(line) {
  const rows = [];
  for (const [k, v] of Object.entries(line)) if (k !== "attrs" && v !== null && v !== undefined) rows.push([k, v]);
  for (const [k, v] of Object.entries(line.attrs || {})) rows.push([k in line ? `attrs.${k}` : k, v]);
  return rows;
}

/** The expanded view under a row: fields with filter buttons, the JSON, and context / trace actions. */
export function detailRow(line, { onFilter, onContext, onTrace, onToggleColumn }) {
  const table = h(
    "table",
    { class: "fields-table" },
    h(
      "tbody",
      {},
      allFields(line).map(([name, value]) =>
        h(
          "tr",
          {},
          h(
            "td",
            { class: "actions" },
            h("button", { type: "button", class: "mini plus", title: "Filter for value", onclick: () => onFilter(name, value, false) }, "+"),
            h("button", { type: "button", class: "mini minus", title: "Filter out value", onclick: () => onFilter(name, value, true) }, "−"),
            h("button", { type: "button", class: "mini", title: "Toggle column", onclick: () => onToggleColumn(name) }, "▦"),
          ),
          h("th", {}, name),
          h("td", { class: CORE_SHOWN.has(name) ? "value core" : "value" }, cellText(value)),
        ),
      ),
    ),
  );
  const buttons = h(
    "div",
    { class: "detail-actions" },
    line.log_id ? h("button", { type: "button", class: "context-button", onclick: () => onContext(line) }, "Lines around this one") : null,
    line.trace_id ? h("button", { type: "button", class: "trace-button", onclick: () => onTrace(line) }, "Whole trace") : null,
  );
  const json = h("pre", { class: "json" }, JSON.stringify(line, null, 2));
  return h("div", { class: "detail", role: "row" }, buttons, h("div", { class: "detail-grid" }, table, json));
}
