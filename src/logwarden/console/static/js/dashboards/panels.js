// Visualizations of a frame (sources.js): time series, bar, table, single stat, pie. A click on a point, bar or
// slice calls onPick({filter, start, end}) so the page can open Discover there.

import uPlot from "../../vendor/uplot/uPlot.esm.js";
import { cellText, formatCount, formatTs, h } from "../dom.js";
import { sum } from "./sources.js";

const PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"];
const LEVEL_VARS = { FATAL: "--level-fatal", ERROR: "--level-error", WARN: "--level-warn", INFO: "--level-info", DEBUG: "--level-debug", TRACE: "--level-trace" };
const MAX_SERIES = 10;
const MAX_CATEGORIES = 20;
const HEIGHT = 190;

function cssVar(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || "#888";
}

function colour(name, i) {
  return LEVEL_VARS[name] ? cssVar(LEVEL_VARS[name]) : PALETTE[i % PALETTE.length];
}

function axes(xValues) {
  const base = { stroke: cssVar("--muted"), grid: { stroke: cssVar("--grid") }, ticks: { show: false } };
  return [{ ...base, grid: { show: false }, ...(xValues ? { values: xValues } : {}) }, { ...base, size: 60 }];
}

/** A number for people: 12,408 · 3.25 · 0.0123. */
export function formatValue(v) {
  if (v === null || v === undefined || Number.isNaN(v)) return "—";
  if (Number.isInteger(v)) return formatCount(v);
  const abs = Math.abs(v);
  return abs >= 100 ? formatCount(Math.round(v)) : v.toFixed(abs >= 1 ? 2 : 4).replace(/\.?0+$/, "");
}

/** One number per name, from any frame (a series sums over time; a table takes its first numeric column). */
function asCategories(frame) {
  if (frame.kind === "categories") return frame;
  if (frame.kind === "series") {
    return { labels: frame.series.map(([n]) => n), values: frame.series.map(([, v]) => sum(v)), filters: frame.filters, filter: frame.filter };
  }
  return { labels: frame.rows.map((r) => cellText(r[0])), values: frame.rows.map(() => 1), filter: frame.filter };
}

function asTable(frame) {
  if (frame.kind === "table") return frame;
  if (frame.kind === "series") {
    return {
      columns: [{ name: "series", type: "string" }, { name: "total", type: "number" }, { name: "last", type: "number" }],
      rows: frame.series.map(([n, v]) => [n, sum(v), [...v].reverse().find((x) => x !== null) ?? null]),
    };
  }
  return { columns: [{ name: "name", type: "string" }, { name: "value", type: "number" }], rows: frame.labels.map((l, i) => [l, frame.values[i]]) };
}

// Styles through the CSSOM: the page's CSP (style-src 'self') refuses style attributes.
function styled(el, style) {
  Object.assign(el.style, style);
  return el;
}

/** Two filters that must both hold (an OR at the top of the first is kept apart by parentheses). */
function combine(a, b) {
  if (!a || !b) return a || b || "";
  return `${hasTopLevelOr(a) ? `(${a})` : a} ${b}`;
}

function hasTopLevelOr(q) {
  let depth = 0;
  let quote = null;
  for (let i = 0; i < q.length; i++) {
    const c = q[i];
    if (quote) {
      if (c === "\\") i++;
      else if (c === quote) quote = null;
    } else if (c === '"' || c === "'") quote = c;
    else if (c === "(") depth++;
    else if (c === ")") depth--;
    else if (depth === 0 && /^\sOR\s/.test(q.slice(i, i + 4))) return true;
  }
  return false;
}

function timeseries(frame, width, onPick) {
  const el = h("div", { class: "panel-chart", dataset: { kind: "timeseries" } });
  const shown = frame.series.slice(0, MAX_SERIES);
  const opts = {
    width,
    height: HEIGHT,
    scales: { x: { time: true } },
    axes: axes(),
    cursor: { drag: { x: false, y: false } },
    legend: { show: shown.length > 1, live: false },
    series: [{}, ...shown.map(([name], i) => ({ label: name, stroke: colour(name, i), width: 2, points: { show: false }, value: (u, v) => formatValue(v) }))],
  };
  const plot = new uPlot(opts, [frame.xs, ...shown.map(([, v]) => v)], el);
  plot.over.addEventListener("click", () => {
    const i = plot.cursor.idx;
    if (i === null || i === undefined || frame.self) return;
    const start = new Date(frame.xs[i] * 1000);
    const end = new Date((frame.xs[i] + (frame.step || 60)) * 1000);
    const only = shown.length === 1 && frame.filters ? frame.filters[0] : "";
    onPick({ filter: combine(frame.filter, only), start: start.toISOString(), end: end.toISOString() });
  });
  plot.over.title = frame.self ? "" : "Click a point: the lines of that bucket in Discover";
  return el;
}

function bars(frame, width, onPick) {
  const c = asCategories(frame);
  const labels = c.labels.slice(0, MAX_CATEGORIES);
  const max = Math.max(...c.values.slice(0, MAX_CATEGORIES).map((v) => v || 0), 1);
  const list = h(
    "ol",
    { class: "panel-bars" },
    labels.map((label, i) => {
      const pct = (100 * (c.values[i] || 0)) / max;
      return h(
        "li",
        { title: `${label}: ${formatValue(c.values[i])}`, onclick: () => onPick({ filter: categoryFilter(c, frame, i) }) },
        h("span", { class: "bar-label" }, label),
        h("span", { class: "bar-track" }, styled(h("span", { class: "bar-fill" }), { width: `${pct.toFixed(1)}%`, background: colour(label, 0) })),
        h("span", { class: "bar-value" }, formatValue(c.values[i])),
      );
    }),
  );
  list.style.maxWidth = `${width}px`;
  return list;
}

function categoryFilter(c, frame, i) {
  if (c.filters) return combine(c.filter, c.filters[i]);
  if (frame.field) return combine(frame.filter, `${frame.field}:${JSON.stringify(c.labels[i])}`);
  return frame.filter || "";
}

function pie(frame, width, onPick) {
  const c = asCategories(frame);
  const total = sum(c.values);
  const size = Math.min(HEIGHT - 10, width / 2);
  const r = size / 2;
  const svgNs = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(svgNs, "svg");
  svg.setAttribute("viewBox", `${-r} ${-r} ${size} ${size}`);
  svg.setAttribute("width", String(size));
  svg.setAttribute("height", String(size));
  svg.setAttribute("role", "img");
  let angle = -Math.PI / 2;
  const legend = h("ul", { class: "pie-legend" });
  c.labels.slice(0, MAX_CATEGORIES).forEach((label, i) => {
    const share = (c.values[i] || 0) / total;
    const next = angle + share * 2 * Math.PI;
    const path = document.createElementNS(svgNs, share >= 0.9999 ? "circle" : "path");
    if (share >= 0.9999) path.setAttribute("r", String(r));
    else {
      const large = next - angle > Math.PI ? 1 : 0;
      const p = (a) => `${(r * Math.cos(a)).toFixed(2)} ${(r * Math.sin(a)).toFixed(2)}`;
      path.setAttribute("d", `M0 0 L${p(angle)} A${r} ${r} 0 ${large} 1 ${p(next)} Z`);
    }
    path.setAttribute("fill", colour(label, i));
    path.setAttribute("class", "pie-slice");
    path.addEventListener("click", () => onPick({ filter: categoryFilter(c, frame, i) }));
    const tip = document.createElementNS(svgNs, "title");
    tip.textContent = `${label}: ${formatValue(c.values[i])}`;
    path.append(tip);
    svg.append(path);
    legend.append(h("li", {}, styled(h("span", { class: "swatch" }), { background: colour(label, i) }), `${label} `, h("strong", {}, formatValue(c.values[i])), h("span", { class: "muted" }, ` ${(100 * share).toFixed(0)}%`)));
    angle = next;
  });
  return h("div", { class: "panel-pie" }, svg, legend);
}

function table(frame) {
  const t = asTable(frame);
  return h(
    "div",
    { class: "panel-table-wrap" },
    h(
      "table",
      { class: "stats-table panel-table" },
      h("thead", {}, h("tr", {}, t.columns.map((c) => h("th", { class: c.type }, c.name)))),
      h(
        "tbody",
        {},
        t.rows.map((r) =>
          h(
            "tr",
            {},
            r.map((v, i) => h("td", { class: t.columns[i].type }, t.columns[i].type === "timestamp" ? formatTs(v) : typeof v === "number" ? formatValue(v) : cellText(v))),
          ),
        ),
      ),
    ),
  );
}

function stat(frame) {
  let value;
  let note = "";
  if (frame.kind === "series") {
    // The latest value of the (summed) series: what a gauge-like figure is now.
    const last = frame.xs.length - 1;
    value = last < 0 ? null : frame.series.reduce((s, [, v]) => s + (v[last] || 0), 0);
    note = last < 0 ? "" : `at ${formatTs(new Date(frame.xs[last] * 1000).toISOString()).slice(11, 19)}`;
  } else if (frame.kind === "categories") value = sum(frame.values);
  else value = frame.total ?? frame.rows.length;
  return h("div", { class: "panel-stat" }, h("span", { class: "stat-value" }, formatValue(value)), h("span", { class: "muted stat-note" }, note));
}

function isEmpty(frame) {
  if (frame.kind === "series") return !frame.xs.length || !frame.series.length;
  if (frame.kind === "categories") return !frame.labels.length;
  return !frame.rows.length;
}

/** The element drawing `frame` as `viz` within `width` pixels. */
export function renderViz(viz, frame, width, onPick) {
  if (viz !== "stat" && isEmpty(frame)) return h("p", { class: "muted panel-empty" }, frame.empty || "No data in this range.");
  if (viz === "timeseries" && frame.kind === "series") return timeseries(frame, width, onPick);
  if (viz === "table") return table(frame);
  if (viz === "stat") return stat(frame);
  if (viz === "pie") return pie(frame, width, onPick);
  return bars(frame, width, onPick); // bar, and a time series of something that has no time axis
}
