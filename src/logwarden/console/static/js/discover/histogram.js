// The histogram: counts per bucket stacked by level (uPlot bars); dragging across it zooms the time range.

import uPlot from "../../vendor/uplot/uPlot.esm.js";
import { formatCount, h } from "../dom.js";

// Bottom to top of each stack; colours are CSS variables so both themes apply.
export const LEVELS = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL", "other"];

function cssVar(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || "#888";
}

function levelColor(level) {
  return cssVar(`--level-${level.toLowerCase()}`);
}

/** Series per level from the API's `series` (a missing level is "other"), in LEVELS order, only non-empty. */
export function levelSeries(data) {
  const n = data.buckets.length;
  const byLevel = new Map();
  for (const s of data.series || []) {
    const level = LEVELS.includes(s.value) ? s.value : "other";
    const counts = byLevel.get(level) || new Array(n).fill(0);
    s.counts.forEach((c, i) => (counts[i] += c));
    byLevel.set(level, counts);
  }
  // Lines outside the top series still count: they go to "other".
  const shown = new Array(n).fill(0);
  for (const counts of byLevel.values()) counts.forEach((c, i) => (shown[i] += c));
  const rest = data.buckets.map((b, i) => b.count - shown[i]);
  if (rest.some((c) => c > 0)) {
    const other = byLevel.get("other") || new Array(n).fill(0);
    byLevel.set("other", other.map((c, i) => c + Math.max(0, rest[i])));
  }
  return LEVELS.filter((l) => byLevel.has(l)).map((l) => ({ level: l, counts: byLevel.get(l) }));
}

/** createHistogram({onZoom(startIso, endIso)}) → {el, render(data), clear()} */
export function createHistogram({ onZoom }) {
  const plotEl = h("div", { class: "histogram-plot" });
  const el = h("div", { class: "histogram", title: "Drag across the chart to zoom into that time range; click a bar for its bucket" }, plotEl);
  let plot = null;
  let last = null;

  function destroy() {
    plot?.destroy();
    plot = null;
  }

  function render(data) {
    last = data;
    destroy();
    const xs = data.buckets.map((b) => Date.parse(b.ts) / 1000);
    const series = levelSeries(data);
    // Stacked bars without a plugin: each series is drawn cumulatively, tallest first, so lower ones overdraw it.
    const cumulative = [];
    let running = new Array(xs.length).fill(0);
    for (const s of series) {
      running = running.map((v, i) => v + s.counts[i]);
      cumulative.push(running);
    }
    const order = series.map((_, i) => i).reverse();
    const bars = uPlot.paths.bars({ size: [0.9, 64], align: 1 });
    const width = Math.max(300, el.clientWidth || 900);
    const interval = data.interval_seconds || 60;
    const opts = {
      width,
      height: 130,
      padding: [8, 8, 0, 0],
      legend: { show: true, live: true },
      cursor: { drag: { x: true, y: false, setScale: false }, points: { show: false } },
      scales: { x: { time: true, range: () => [xs[0] ?? 0, (xs[xs.length - 1] ?? 0) + interval] }, y: { range: (u, min, max) => [0, Math.max(1, max)] } },
      axes: [
        { stroke: cssVar("--muted"), grid: { show: false }, ticks: { stroke: cssVar("--border") } },
        { stroke: cssVar("--muted"), size: 48, grid: { stroke: cssVar("--grid") }, ticks: { show: false }, values: (u, vals) => vals.map((v) => formatCount(v)) },
      ],
      series: [
        { value: (u, v) => (v == null ? "" : new Date(v * 1000).toLocaleString()) },
        ...order.map((i) => ({
          label: series[i].level,
          fill: levelColor(series[i].level),
          stroke: levelColor(series[i].level),
          width: 0,
          paths: bars,
          points: { show: false },
          value: (u, v, si, di) => (di == null ? "" : formatCount(series[i].counts[di])),
        })),
      ],
      hooks: {
        setSelect: [
          (u) => {
            if (u.select.width > 3) {
              const a = u.posToVal(u.select.left, "x");
              const b = u.posToVal(u.select.left + u.select.width, "x");
              onZoom(new Date(a * 1000).toISOString(), new Date(b * 1000).toISOString());
            }
            u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
          },
        ],
      },
    };
    plot = new uPlot(opts, [xs, ...order.map((i) => cumulative[i])], plotEl);
    // A click (no drag) on a bar narrows the range to that bucket.
    let downAt = null;
    plot.over.addEventListener("mousedown", (e) => (downAt = e.clientX));
    plot.over.addEventListener("click", (e) => {
      const moved = downAt === null ? 0 : Math.abs(e.clientX - downAt);
      const idx = plot?.cursor.idx;
      if (moved > 3 || idx == null) return;
      onZoom(new Date(xs[idx] * 1000).toISOString(), new Date((xs[idx] + interval) * 1000).toISOString());
    });
    el.dataset.buckets = String(xs.length);
    el.dataset.total = String(data.total);
    el.dataset.interval = String(interval);
  }

  window.addEventListener("resize", () => plot?.setSize({ width: Math.max(300, el.clientWidth), height: 130 }));
  window.addEventListener("lw:theme", () => last && render(last));
  return {
    el,
    render,
    clear() {
      destroy();
      last = null;
      el.dataset.total = "";
    },
  };
}
