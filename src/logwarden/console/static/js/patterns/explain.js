// The explain panel: which field values and patterns are over-represented among the lines matching a filter in
// the page's time range, against a baseline just before it (GET /api/v1/explain, docs/patterns.md).

import { apiGet } from "../api.js";
import { h } from "../dom.js";

const BASELINES = [
  ["1", "the same length before"],
  ["4", "4× its length before"],
  ["24", "24× its length before"],
];

/** The explain request for a range the patterns API resolved ({start, end} in RFC 3339). */
export function explainParams(range, q, times) {
  const seconds = Math.max(1, Math.round((Date.parse(range.end) - Date.parse(range.start)) / 1000));
  return { q, window: `${seconds}s`, baseline: `${seconds * Number(times)}s`, end: range.end, limit: 10 };
}

/** createExplainPanel(() => the last patterns answer) → {el, rangeChanged()} */
export function createExplainPanel(currentRange) {
  const q = h("input", { type: "search", class: "pt-explain-q", value: "level:>=warn", spellcheck: "false", "aria-label": "Explain lines matching" });
  const baseline = h("select", { class: "pt-explain-baseline", "aria-label": "Baseline" }, BASELINES.map(([v, t]) => h("option", { value: v, selected: v === "4" }, t)));
  const run = h("button", { type: "submit", class: "pt-explain-run" }, "Explain");
  const result = h("div", { class: "pt-explain-result" });
  const form = h(
    "form",
    { class: "pt-explain-form", onsubmit: (e) => (e.preventDefault(), explain()) },
    h("label", {}, "What stands out among ", q),
    h("label", {}, " in this range against ", baseline),
    run,
  );
  const el = h("details", { class: "pt-explain" }, h("summary", {}, "Explain a change"), form, result);
  el.addEventListener("toggle", () => el.open && explain());

  async function explain() {
    const answer = currentRange();
    if (!answer) return;
    result.replaceChildren(h("p", { class: "muted" }, "Explaining…"));
    let found;
    try {
      found = await apiGet("/api/v1/explain", explainParams(answer, q.value.trim(), baseline.value));
    } catch (err) {
      result.replaceChildren(h("p", { class: "error-message" }, `Explain failed: ${err.message}`));
      return;
    }
    const head = h(
      "p",
      { class: "muted pt-explain-summary" },
      `${found.window.lines} lines in the range, ${found.baseline.lines} in the baseline.`,
    );
    if (!found.explanations.length) {
      result.replaceChildren(head, h("p", { class: "muted empty" }, "Nothing is over-represented."));
      return;
    }
    const rows = found.explanations.map((e) =>
      h(
        "tr",
        { class: "pt-explanation" },
        h("td", {}, e.field),
        h("td", {}, h("code", {}, e.template || e.value)),
        h("td", { class: "num pt-score", title: `p = ${e.p_value.toExponential(1)}` }, e.score.toFixed(1)),
        h("td", { class: "num" }, `${(100 * e.window_share).toFixed(1)}%`),
        h("td", { class: "num" }, `${(100 * e.baseline_share).toFixed(1)}%`),
      ),
    );
    result.replaceChildren(
      head,
      h(
        "table",
        { class: "pt-explain-table" },
        h("thead", {}, h("tr", {}, ["Field", "Value", "Score", "Share now", "Share before"].map((t) => h("th", {}, t)))),
        h("tbody", {}, rows),
      ),
    );
  }

  return {
    el,
    rangeChanged() {
      if (el.open) explain();
    },
  };
}
