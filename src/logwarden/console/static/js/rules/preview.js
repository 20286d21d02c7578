// The backtest preview: what a rule would have done over the last 24 h / 7 d, before it is saved. The lines are
// the rule's value per evaluation step (the count, share or statistic it compares with its threshold, per group
// with group_by) from the replay itself, the threshold a dashed line, shaded bands where the replay was pending
// (light) or firing (strong), and a sentence counting the fires.

import uPlot from "../../vendor/uplot/uPlot.esm.js";
import { apiPost } from "../api.js";
import { formatCount, h } from "../dom.js";
import { span } from "../alerts/modal.js";

const UNITS = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400, w: 604800 };

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

/** The value lines of a backtest answer's `series`: x (seconds since epoch, each point at its step's end) and
 * one line per group, labelled by its labels other than the tenant. */
export function valueLines(series) {
  const start = new Date(series.start).getTime() / 1000;
  const xs = Array.from({ length: series.points }, (_, i) => start + series.step_seconds * (i + 1));
  const lines = series.groups.map((g) => {
    const named = Object.entries(g.labels).filter(([k]) => k !== "tenant");
    return { label: named.length ? named.map(([k, v]) => `${k}=${v || "∅"}`).join(" ") : "value", values: g.values, alerts: g.alerts };
  });
  return { xs, lines };
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
    try {
      const result = await apiPost("/api/v1/rules/backtest", { rule: { ...rule, name: rule.name || "preview" }, since }, { signal: abort.signal });
      if (abort.signal.aborted) return;
      last = { rule, result };
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
    const { result } = last;
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
    const series = result.series;
    if (!series || !series.points) {
      note.textContent = "The replay evaluated nothing: no value to draw.";
      return;
    }
    const { xs, lines } = valueLines(series);
    const threshold = series.threshold;
    const recover = series.recover;
    const step = span(series.step_seconds);
    const shown = lines.length < series.groups_total ? ` The ${lines.length} groups that fired or went furthest of ${formatCount(series.groups_total)}.` : "";
    note.textContent =
      `The rule's value per ${step} step (${series.above ? "the highest" : "the lowest"} of each), as the replay compared it with the threshold.${shown}` +
      (series.complete ? "" : " With this many groups the rule computes only the values that can fire: gaps are values that could not.");
    plotEl.dataset.series = String(lines.length);
    plotEl.dataset.peak = String(lines.length ? Math.max(...lines[0].values.filter((v) => v !== null)) : "");
    const palette = ["--accent", "--level-warn", "--level-other", "--level-info", "--level-debug", "--level-fatal"].map(cssVar);
    const firing = cssVar("--error");
    const width = Math.max(300, plotEl.clientWidth || el.clientWidth - 24);
    const opts = {
      width,
      height: 260,
      legend: { show: true },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true }, y: { range: (u, min, max) => [Math.min(0, min ?? 0), Math.max(max ?? 0, threshold * 1.2, recover ?? 0, threshold > 0 ? 0 : 1)] } },
      axes: [
        { stroke: cssVar("--muted"), grid: { stroke: cssVar("--grid") } },
        { stroke: cssVar("--muted"), size: 50, grid: { stroke: cssVar("--grid") }, values: (u, vals) => vals.map((v) => formatCount(Math.round(v * 100) / 100)) },
      ],
      series: [
        {},
        ...lines.map((l, i) => ({ label: l.label, stroke: palette[i % palette.length], width: 1.5, points: { show: false } })),
        { label: `threshold ${series.above ? ">" : "<"} ${formatCount(threshold)}`, stroke: firing, width: 1, dash: [6, 4], points: { show: false } },
        ...(recover === null ? [] : [{ label: `resolves at ${formatCount(recover)}`, stroke: cssVar("--muted"), width: 1, dash: [2, 4], points: { show: false } }]),
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
    const data = [xs, ...lines.map((l) => l.values), xs.map(() => threshold), ...(recover === null ? [] : [xs.map(() => recover)])];
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
