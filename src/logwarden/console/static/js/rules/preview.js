// The backtest preview: what a rule would have done over the last 24 h / 7 d, before it is saved. The line is
// the count of the rule's matching lines per window (per group with group_by), the threshold a dashed line,
// shaded bands where the replay was pending (light) or firing (strong), and a sentence counting the fires.

import uPlot from "../../vendor/uplot/uPlot.esm.js";
import { apiGet, apiPost } from "../api.js";
import { formatCount, h } from "../dom.js";
import { span } from "../alerts/modal.js";

const MAX_BUCKETS = 1000; // per histogram request (the API's limit)
const MAX_WINDOWS = 3000; // one point per window up to this many (at most 3 requests), else averaged buckets
const FALLBACK_BUCKETS = 600;
const COUNT_TYPES = new Set(["threshold", "absence"]); // whose value is the count of matching lines in the window
const UNITS = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400, w: 604800 };
const MAX_LINES_PLOTTED = 6;

/** Seconds of a duration text ("90s", "1h30m", "5m"); null when it does not read. */
export function durationSeconds(text) {
  const t = String(text ?? "").trim();
  if (!/^(\d+(\.\d+)?(ms|s|m|h|d|w))+$/.test(t)) return null;
  let total = 0;
  for (const [, n, unit] of t.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d|w)/g)) total += Number(n) * UNITS[unit];
  return total;
}

/** Fires, the longest one, and the bands (seconds since epoch) from a backtest answer. */
export function summarize(result) {
  const end = new Date(result.replayed_until || result.until).getTime() / 1000;
  const bands = result.alerts.map((a) => ({
    pending: new Date(a.pending_at).getTime() / 1000,
    fired: new Date(a.fired_at).getTime() / 1000,
    resolved: a.resolved_at ? new Date(a.resolved_at).getTime() / 1000 : end,
  }));
  const longest = result.alerts.reduce((m, a) => Math.max(m, a.duration_seconds), 0);
  return { fires: result.alerts_total, longest, bands };
}

/** Lines per window over the range, one histogram request per 1,000 windows, merged (series by value). */
async function windowCounts(q, by, window, windowSeconds, rangeSeconds, signal) {
  const step = windowSeconds * 1000;
  const end = Math.ceil(Date.now() / step) * step;
  const start = end - Math.ceil((rangeSeconds * 1000) / step) * step;
  const chunks = [];
  for (let a = start; a < end; a += step * MAX_BUCKETS) chunks.push([a, Math.min(end, a + step * MAX_BUCKETS)]);
  const parts = await Promise.all(
    chunks.map(([a, b]) => apiGet("/api/v1/histogram", { q, start: new Date(a).toISOString(), end: new Date(b).toISOString(), interval: window, by }, { signal })),
  );
  const buckets = parts.flatMap((p) => p.buckets);
  const out = { by, interval_seconds: windowSeconds, buckets };
  if (by) {
    const merged = new Map();
    let offset = 0;
    for (const p of parts) {
      for (const s of p.series || []) {
        if (!merged.has(s.value)) merged.set(s.value, new Array(buckets.length).fill(0));
        s.counts.forEach((c, i) => (merged.get(s.value)[offset + i] = c));
      }
      offset += p.buckets.length;
    }
    out.series = [...merged.entries()].map(([value, counts]) => ({ value, counts, total: counts.reduce((x, y) => x + y, 0) })).sort((x, y) => y.total - x.total);
  }
  return out;
}

function cssVar(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || "#888";
}

/** createPreview() → {el, run(ruleMapping, range), clear()} */
export function createPreview() {
  const rangeSelect = h(
    "select",
    { class: "rl-range", "aria-label": "Backtest range" },
    h("option", { value: "now-24h" }, "Last 24 hours"),
    h("option", { value: "now-7d" }, "Last 7 days"),
  );
  const summary = h("p", { class: "rl-summary", role: "status" }, "Preview the rule to see what it would have done.");
  const plotEl = h("div", { class: "rl-plot" });
  const note = h("p", { class: "hint rl-note" });
  const el = h("section", { class: "rl-preview", "aria-label": "Backtest preview" }, h("div", { class: "rl-preview-head" }, h("h2", {}, "Backtest preview"), rangeSelect), summary, plotEl, note);
  let plot = null;
  let last = null;
  let running = null;

  function destroy() {
    plot?.destroy();
    plot = null;
  }

  async function run(rule) {
    running?.abort();
    const abort = new AbortController();
    running = abort;
    const since = rangeSelect.value;
    summary.textContent = "Replaying the stored lines…";
    el.setAttribute("aria-busy", "true");
    el.dataset.state = "running";
    const windowSeconds = durationSeconds(rule.window) || 60;
    const rangeSeconds = since === "now-7d" ? 7 * 86400 : 86400;
    const byWindow = rangeSeconds / windowSeconds <= MAX_WINDOWS;
    const by = Array.isArray(rule.group_by) && rule.group_by.length ? rule.group_by[0] : null;
    const q = rule.query || "";
    const counts = byWindow
      ? windowCounts(q, by, rule.window, windowSeconds, rangeSeconds, abort.signal)
      : apiGet("/api/v1/histogram", { q, start: since, buckets: FALLBACK_BUCKETS, by }, { signal: abort.signal });
    try {
      const [result, series] = await Promise.all([
        apiPost("/api/v1/rules/backtest", { rule: { ...rule, name: rule.name || "preview" }, since }, { signal: abort.signal }),
        counts,
      ]);
      if (abort.signal.aborted) return;
      last = { rule, result, counts: series, windowSeconds, byWindow };
      draw();
      el.dataset.state = "done";
    } catch (err) {
      if (abort.signal.aborted) return;
      destroy();
      el.dataset.state = "error";
      summary.replaceChildren(h("span", { class: "error-message" }, `Backtest failed: ${err.message}`));
      throw err;
    } finally {
      el.removeAttribute("aria-busy");
    }
  }

  function draw() {
    if (!last) return;
    const { rule, result, counts, windowSeconds, byWindow } = last;
    const { fires, longest, bands } = summarize(result);
    const days = rangeSelect.value === "now-7d" ? "7 d" : "24 h";
    summary.replaceChildren(
      h("strong", { class: "rl-fires" }, `Would have fired ${formatCount(fires)} time${fires === 1 ? "" : "s"} in ${days}`),
      fires ? `, longest ${span(longest)}` : "",
      h("span", { class: "muted" }, ` · ${formatCount(result.lines_matched)} matching lines of ${formatCount(result.lines_scanned)} read${result.capped ? " (capped)" : ""}`),
      result.alerts_listed < result.alerts_total ? h("span", { class: "muted" }, ` · the first ${formatCount(result.alerts_listed)} drawn`) : "",
    );
    el.dataset.fires = String(fires);
    destroy();
    const xs = counts.buckets.map((b) => new Date(b.ts).getTime() / 1000);
    // Per window: a bucket of `interval` seconds holds interval/window windows' worth of lines.
    const scale = byWindow ? 1 : windowSeconds / counts.interval_seconds;
    const lines = counts.series?.length
      ? counts.series.slice(0, MAX_LINES_PLOTTED).map((s) => ({ label: `${counts.by}=${s.value ?? "∅"}`, values: s.counts.map((c) => c * scale) }))
      : [{ label: "matching lines", values: counts.buckets.map((b) => b.count * scale) }];
    const isCount = COUNT_TYPES.has(rule.type);
    const threshold = Number(rule.threshold);
    const showThreshold = isCount && Number.isFinite(threshold);
    note.textContent = `${isCount ? "" : `A ${rule.type} rule's value is not a count: the line shows its matching lines, the bands what it would have done. `}${
      byWindow ? `Lines per ${rule.window} window.` : `Lines per ${rule.window}, averaged over ${span(counts.interval_seconds)} buckets (the range has too many windows to draw each).`
    }`;
    const palette = ["--accent", "--level-warn", "--level-other", "--level-info", "--level-debug", "--level-fatal"].map(cssVar);
    const firing = cssVar("--error");
    const width = Math.max(300, plotEl.clientWidth || el.clientWidth - 24);
    const opts = {
      width,
      height: 260,
      legend: { show: true },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(max, showThreshold ? threshold * 1.2 : 0, 1)] } },
      axes: [
        { stroke: cssVar("--muted"), grid: { stroke: cssVar("--grid") } },
        { stroke: cssVar("--muted"), size: 50, grid: { stroke: cssVar("--grid") }, values: (u, vals) => vals.map((v) => formatCount(Math.round(v * 100) / 100)) },
      ],
      series: [
        {},
        ...lines.map((l, i) => ({ label: l.label, stroke: palette[i % palette.length], width: 1.5, points: { show: false } })),
        ...(showThreshold ? [{ label: `threshold ${threshold}`, stroke: firing, width: 1, dash: [6, 4], points: { show: false } }] : []),
      ],
      hooks: {
        drawClear: [
          (u) => {
            // The bands under the lines: pending light, firing stronger.
            const { ctx } = u;
            const top = u.bbox.top;
            const height = u.bbox.height;
            ctx.save();
            for (const b of bands) {
              const p0 = u.valToPos(b.pending, "x", true);
              const f0 = u.valToPos(b.fired, "x", true);
              const f1 = u.valToPos(b.resolved, "x", true);
              ctx.fillStyle = "rgba(224, 161, 0, 0.18)";
              if (f0 > p0) ctx.fillRect(p0, top, f0 - p0, height);
              ctx.fillStyle = "rgba(217, 56, 56, 0.28)";
              ctx.fillRect(f0, top, Math.max(5, f1 - f0), height); // a one-window fire stays visible
            }
            ctx.restore();
          },
        ],
      },
    };
    const data = [xs, ...lines.map((l) => l.values), ...(showThreshold ? [xs.map(() => threshold)] : [])];
    plot = new uPlot(opts, data, plotEl);
    plotEl.dataset.bands = String(bands.length);
  }

  rangeSelect.addEventListener("change", () => last && run(last.rule).catch(() => {}));
  window.addEventListener("lw:theme", draw);
  window.addEventListener("resize", () => plot?.setSize({ width: Math.max(300, plotEl.clientWidth), height: 260 }));
  return {
    el,
    run,
    clear() {
      running?.abort();
      destroy();
      last = null;
      summary.textContent = "Preview the rule to see what it would have done.";
    },
  };
}
