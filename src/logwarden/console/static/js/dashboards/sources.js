// What a panel reads, turned into one of three frames the visualizations draw:
//   {kind: "series", xs: [epoch s], step: s, series: [[name, values]]}   (over time)
//   {kind: "categories", labels: [..], values: [..], field}              (one number per name)
//   {kind: "table", columns: [{name, type}], rows: [[..]]}
// Each frame may carry `filter` (a search-language filter for "open in Discover").

import { apiGet, apiPost } from "../api.js";

const ERROR_LEVELS = new Set(["ERROR", "FATAL"]);

/** The filter of a query: its text before the first `|` outside quotes. */
export function filterOf(query) {
  let quote = null;
  for (let i = 0; i < query.length; i++) {
    const c = query[i];
    if (quote) {
      if (c === "\\") i++;
      else if (c === quote) quote = null;
    } else if (c === '"' || c === "'") quote = c;
    else if (c === "|") return query.slice(0, i).trim();
  }
  return query.trim();
}

function tableFrame(result, filter) {
  const cols = result.columns;
  const time = cols.findIndex((c) => c.name === "_time" || c.type === "timestamp");
  const numeric = cols.findIndex((c) => (c.type === "integer" || c.type === "number") && c.name !== "percent");
  const frame = { kind: "table", columns: cols, rows: result.rows, filter };
  if (numeric < 0) return frame;
  if (time >= 0) {
    const group = cols.findIndex((c, i) => i !== time && i !== numeric && c.type === "string");
    const xs = [...new Set(result.rows.map((r) => Date.parse(r[time]) / 1000))].sort((a, b) => a - b);
    const index = new Map(xs.map((x, i) => [x, i]));
    const series = new Map();
    for (const r of result.rows) {
      const key = group >= 0 ? String(r[group] ?? "—") : cols[numeric].name;
      if (!series.has(key)) series.set(key, new Array(xs.length).fill(null));
      series.get(key)[index.get(Date.parse(r[time]) / 1000)] = r[numeric];
    }
    return { ...frame, kind: "series", xs, step: xs.length > 1 ? xs[1] - xs[0] : 60, series: [...series.entries()], groupField: group >= 0 ? cols[group].name : null };
  }
  const labelCols = cols.map((c, i) => i).filter((i) => i !== numeric && cols[i].type === "string");
  return {
    ...frame,
    kind: "categories",
    labels: result.rows.map((r) => labelCols.map((i) => String(r[i] ?? "—")).join(" · ") || "—"),
    values: result.rows.map((r) => r[numeric]),
    field: labelCols.length === 1 ? cols[labelCols[0]].name : null,
  };
}

async function fromQuery(panel, range, signal) {
  const filter = filterOf(panel.query);
  const result = await apiPost("/api/v1/query", { q: panel.query, ...range, limit: 50 }, { signal });
  if (result.kind === "table") return tableFrame(result, filter);
  const columns = ["ts", "level", "service", "message"].map((name) => ({ name, type: name === "ts" ? "timestamp" : "string" }));
  return { kind: "table", columns, rows: result.hits.map((hit) => columns.map((c) => hit[c.name])), total: result.total, filter };
}

function seriesName(labels, by) {
  return by.map((b) => labels[b] || "—").join(" · ") || "total";
}

async function fromMetric(panel, range, signal) {
  const by = panel.by || [];
  const body = await apiGet("/api/v1/metrics/query_range", { metric: panel.metric, fn: panel.fn || "rate", by: by.join(","), ...range }, { signal });
  const xs = [...new Set(body.series.flatMap((s) => s.values.map(([t]) => t)))].sort((a, b) => a - b);
  const index = new Map(xs.map((x, i) => [x, i]));
  let series = body.series.map((s) => {
    const values = new Array(xs.length).fill(null);
    for (const [t, v] of s.values) values[index.get(t)] = v;
    return [seriesName(s.labels, by), values, s.labels];
  });
  if (panel.transform === "error_percent") {
    const total = new Array(xs.length).fill(0);
    const errors = new Array(xs.length).fill(0);
    for (const [, values, labels] of series) {
      values.forEach((v, i) => {
        total[i] += v || 0;
        if (ERROR_LEVELS.has(labels.level)) errors[i] += v || 0;
      });
    }
    series = [["error %", total.map((t, i) => (t ? (100 * errors[i]) / t : 0)), {}]];
  }
  series.sort((a, b) => sum(b[1]) - sum(a[1]));
  const labelFilter = (labels) =>
    Object.entries(labels || {})
      .filter(([k]) => by.includes(k))
      .map(([k, v]) => `${k}:${quoteValue(v)}`)
      .join(" ");
  return {
    kind: "series",
    xs,
    step: body.step,
    series: series.map(([name, values]) => [name, values]),
    filters: series.map(([, , labels]) => labelFilter(labels)),
    filter: panel.transform === "error_percent" ? "level:(ERROR OR FATAL)" : "",
  };
}

async function fromAlerts(signal) {
  const body = await apiGet("/api/v1/alerts", {}, { signal });
  const counts = new Map();
  for (const a of body.alerts || []) {
    const severity = a.labels?.severity || a.severity || "none";
    counts.set(severity, (counts.get(severity) || 0) + 1);
  }
  const entries = [...counts.entries()].sort((a, b) => b[1] - a[1]);
  return { kind: "categories", labels: entries.map(([k]) => k), values: entries.map(([, v]) => v), empty: "No pending or firing alerts." };
}

// logwarden's own figures, sampled from /metrics while the page is open (the server keeps no history of them).
const SELF_POINTS = 120;
const selfHistory = { at: [], lines: [], lag: [] };

/** Parse the Prometheus text of /metrics: the sum of every sample of each named metric. */
export function promTotals(text, names) {
  const totals = Object.fromEntries(names.map((n) => [n, null]));
  for (const line of text.split("\n")) {
    if (!line || line[0] === "#") continue;
    const name = line.match(/^[a-zA-Z_:][a-zA-Z0-9_:]*/)?.[0];
    if (name in totals) totals[name] = (totals[name] || 0) + Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return totals;
}

export async function sampleSelf(signal) {
  const resp = await fetch("/metrics", { signal, headers: { Accept: "text/plain" } });
  if (!resp.ok) throw new Error(resp.status === 403 ? "reading /metrics needs the audit.read permission" : `/metrics: HTTP ${resp.status}`);
  const t = promTotals(await resp.text(), ["logwarden_ingested_lines_total", "logwarden_store_unapplied_bytes"]);
  selfHistory.at.push(Date.now() / 1000);
  selfHistory.lines.push(t.logwarden_ingested_lines_total ?? 0);
  selfHistory.lag.push(t.logwarden_store_unapplied_bytes ?? 0);
  for (const k of Object.keys(selfHistory)) selfHistory[k].splice(0, Math.max(0, selfHistory[k].length - SELF_POINTS));
}

/** How many samples of /metrics the page holds. */
export function selfSamples() {
  return selfHistory.at.length;
}

function fromSelf(panel) {
  const { at, lines, lag } = selfHistory;
  if (panel.figure === "applier_lag") return { kind: "series", xs: [...at], step: 5, series: [["unapplied bytes", [...lag]]], self: true };
  const xs = at.slice(1);
  const rates = xs.map((t, i) => Math.max(0, (lines[i + 1] - lines[i]) / Math.max(0.001, t - at[i])));
  return { kind: "series", xs, step: 5, series: [["lines/s", rates]], self: true, empty: "Measuring… (two samples of /metrics are needed)" };
}

/** The frame of `panel` over `range` ({start, end}). */
export async function loadPanel(panel, range, signal) {
  switch (panel.source || "query") {
    case "metric":
      return fromMetric(panel, range, signal);
    case "alerts":
      return fromAlerts(signal);
    case "self":
      return fromSelf(panel);
    default:
      return fromQuery(panel, range, signal);
  }
}

export function sum(values) {
  return values.reduce((s, v) => s + (v || 0), 0);
}

export function quoteValue(v) {
  return /^[\w.\-/:@]+$/.test(String(v)) ? String(v) : JSON.stringify(String(v));
}
