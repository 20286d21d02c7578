// Stats, top, rare and timechart results: a table and a chart (lines over time for timechart, bars otherwise).

import uPlot from "../../vendor/uplot/uPlot.esm.js";
import { cellText, formatCount, h } from "../dom.js";

const PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"];
const MAX_SERIES = 10;
const MAX_BARS = 40;

function cssVar(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || "#888";
}

function axes(xValues) {
  const base = { stroke: cssVar("--muted"), grid: { stroke: cssVar("--grid") }, ticks: { show: false } };
  return [{ ...base, grid: { show: false }, ...(xValues ? { values: xValues } : {}) }, { ...base, size: 56 }];
}

/** Chart data for a table: timechart → one line per group; otherwise bars of the first numeric column. */
export function chartSpec(result) {
  const cols = result.columns;
  const numeric = cols.findIndex((c) => (c.type === "integer" || c.type === "number") && c.name !== "percent");
  if (numeric < 0 || !result.rows.length) return null;
  const time = cols.findIndex((c) => c.name === "_time" || c.type === "timestamp");
  if (time >= 0) {
    const group = cols.findIndex((c, i) => i !== time && i !== numeric && c.type === "string");
    const xs = [...new Set(result.rows.map((r) => Date.parse(r[time]) / 1000))].sort((a, b) => a - b);
    const index = new Map(xs.map((x, i) => [x, i]));
    const series = new Map();
    for (const r of result.rows) {
      const key = group >= 0 ? cellText(r[group]) || "—" : cols[numeric].name;
      if (!series.has(key)) series.set(key, new Array(xs.length).fill(null));
      series.get(key)[index.get(Date.parse(r[time]) / 1000)] = r[numeric];
    }
    const top = [...series.entries()].sort((a, b) => b[1].reduce((s, v) => s + (v || 0), 0) - a[1].reduce((s, v) => s + (v || 0), 0));
    return { kind: "lines", xs, series: top.slice(0, MAX_SERIES) };
  }
  const labels = result.rows.slice(0, MAX_BARS).map((r) => cols.map((c, i) => (i !== numeric && c.type === "string" ? cellText(r[i]) : null)).filter((v) => v !== null).join(" · ") || "—");
  return { kind: "bars", labels, values: result.rows.slice(0, MAX_BARS).map((r) => r[numeric]), name: cols[numeric].name };
}

function chart(spec, width) {
  const el = h("div", { class: "stats-chart", dataset: { kind: spec.kind } });
  if (spec.kind === "lines") {
    const opts = {
      width,
      height: 220,
      scales: { x: { time: true } },
      axes: axes(),
      series: [{}, ...spec.series.map(([name], i) => ({ label: name, stroke: PALETTE[i % PALETTE.length], width: 2, points: { show: false } }))],
    };
    new uPlot(opts, [spec.xs, ...spec.series.map(([, v]) => v)], el);
  } else {
    const xs = spec.labels.map((_, i) => i);
    const opts = {
      width,
      height: 220,
      scales: { x: { time: false, range: [-0.5, xs.length - 0.5] } },
      axes: axes((u, vals) => vals.map((v) => (Number.isInteger(v) ? (spec.labels[v] ?? "").slice(0, 18) : ""))),
      series: [
        { value: (u, v) => spec.labels[v] ?? "" },
        { label: spec.name, fill: PALETTE[0], stroke: PALETTE[0], paths: uPlot.paths.bars({ size: [0.7, 80] }), points: { show: false } },
      ],
    };
    new uPlot(opts, [xs, spec.values], el);
  }
  return el;
}

/** The table (and chart when one fits) for a `kind: "table"` result. */
export function renderStats(container, result) {
  const spec = chartSpec(result);
  const table = h(
    "table",
    { class: "stats-table" },
    h("thead", {}, h("tr", {}, result.columns.map((c) => h("th", { class: c.type }, c.name)))),
    h(
      "tbody",
      {},
      result.rows.map((r) =>
        h("tr", {}, r.map((v, i) => h("td", { class: result.columns[i].type }, typeof v === "number" && result.columns[i].type === "integer" ? formatCount(v) : cellText(v)))),
      ),
    ),
  );
  container.replaceChildren(
    h("div", { class: "stats-result" }, spec ? chart(spec, Math.max(400, container.clientWidth - 24)) : null, table),
  );
}
