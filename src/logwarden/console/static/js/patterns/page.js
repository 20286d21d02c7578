// Patterns (/patterns): the tenant's log patterns in a time range — template, lines, a sparkline of the trend,
// level mix, first seen, samples — with "hide in Discover", "alert me on new patterns" and an explain panel.
//
// Hiding is a `-pattern:<id>` clause in Discover's query, not a stored list: the query shows why lines are
// missing, a link or saved search carries it, and removing the words brings them back. The ids hidden here
// are kept in this page's URL (`hide=`), so "Discover without hidden" opens Discover with every clause.

import { apiGet } from "../api.js";
import { formatCount, formatTs, h } from "../dom.js";
import { DEFAULT_START } from "../state.js";
import { createTimePicker } from "../timepicker.js";
import { createExplainPanel } from "./explain.js";
import { createNewPatternAlert } from "./alert.js";
import { sparkline } from "./sparkline.js";

const LEVEL_ORDER = ["FATAL", "ERROR", "WARN", "INFO", "DEBUG", "TRACE"];

/** The page's state from the address: service, start, end, hide (pattern ids). */
export function readPatternState(search = location.search) {
  const p = new URLSearchParams(search);
  return {
    service: p.get("service") || "",
    start: p.get("start") || DEFAULT_START,
    end: p.get("end") || "",
    hide: (p.get("hide") || "").split(",").filter(Boolean),
  };
}

export function patternStateUrl(state) {
  const p = new URLSearchParams();
  if (state.service) p.set("service", state.service);
  p.set("start", state.start || DEFAULT_START);
  if (state.end) p.set("end", state.end);
  if (state.hide.length) p.set("hide", state.hide.join(","));
  return `/patterns?${p.toString()}`;
}

/** Discover's address for a query over the page's time range. */
export function discoverUrl(q, state) {
  const p = new URLSearchParams();
  if (q) p.set("q", q);
  p.set("start", state.start || DEFAULT_START);
  if (state.end) p.set("end", state.end);
  return `/?${p.toString()}`;
}

/** The clauses that hide patterns in Discover. */
export function hideQuery(ids) {
  return ids.map((id) => `-pattern:${id}`).join(" ");
}

function levelMix(levels) {
  const total = Object.values(levels).reduce((a, b) => a + b, 0) || 1;
  const names = Object.keys(levels).sort((a, b) => {
    const ia = LEVEL_ORDER.indexOf(a);
    const ib = LEVEL_ORDER.indexOf(b);
    return (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib);
  });
  return h(
    "span",
    { class: "pt-levels", title: names.map((n) => `${n || "none"}: ${levels[n]}`).join(", ") },
    names.map((n) =>
      h(
        "span",
        { class: `pt-level pt-level-${(n || "other").toLowerCase()}` },
        `${n || "none"} ${Math.round((100 * levels[n]) / total)}%`,
      ),
    ),
  );
}

export function mountPatterns(container) {
  let state = readPatternState();
  let answer = null;
  const status = h("span", { class: "muted pt-status", role: "status" });
  const service = h("input", { type: "search", class: "pt-service", placeholder: "every service", "aria-label": "Service", spellcheck: "false", value: state.service });
  const picker = createTimePicker({ start: state.start, end: state.end, onChange: (start, end) => go({ start, end }) });
  const hiddenLink = h("a", { class: "pt-discover-hidden", href: "/" });
  const alertBox = createNewPatternAlert(() => state.service);
  const explain = createExplainPanel(() => answer);
  const body = h("tbody");
  const table = h(
    "table",
    { class: "pt-table" },
    h(
      "thead",
      {},
      h("tr", {}, ["Pattern", "Service", "Lines", "Trend", "Levels", "First seen", ""].map((t) => h("th", {}, t))),
    ),
    body,
  );
  const banner = h("p", { class: "banner pt-mining", hidden: true }, "Pattern mining is off (patterns.enabled: false): new lines get no pattern.");
  container.append(
    h(
      "div",
      { class: "al-page pt-page" },
      h(
        "div",
        { class: "al-toolbar" },
        h("h1", {}, "Patterns"),
        h("form", { class: "pt-filter", onsubmit: (e) => (e.preventDefault(), go({ service: service.value.trim() })) }, service),
        picker.el,
        status,
        h("div", { class: "topbar-spacer" }),
        hiddenLink,
        alertBox.el,
      ),
      banner,
      explain.el,
      table,
    ),
  );
  document.title = "Patterns · logwarden";

  function go(change) {
    state = { ...state, ...change };
    const url = patternStateUrl(state);
    if (url !== location.pathname + location.search) history.pushState(null, "", url);
    load();
  }

  function toggleHidden(id) {
    const hide = state.hide.includes(id) ? state.hide.filter((x) => x !== id) : [...state.hide, id];
    state = { ...state, hide };
    history.replaceState(null, "", patternStateUrl(state));
    render();
  }

  function row(p) {
    const hidden = state.hide.includes(p.pattern_id);
    const samples = h(
      "details",
      { class: "pt-samples" },
      h("summary", {}, h("code", { class: "pt-template" }, p.template)),
      h("ul", {}, p.samples.map((s) => h("li", {}, h("code", {}, s)))),
      h("p", { class: "muted" }, `id ${p.pattern_id} · ${formatCount(p.lines)} lines ever · last seen ${formatTs(p.last_seen).slice(0, 19)}`),
    );
    return h(
      "tr",
      { class: hidden ? "pt-row pt-hidden" : "pt-row", dataset: { id: p.pattern_id } },
      h("td", { class: "pt-cell-template" }, samples),
      h("td", {}, p.service || h("span", { class: "muted" }, "none")),
      h("td", { class: "num pt-count" }, formatCount(p.window_lines)),
      h("td", {}, sparkline(p.trend, `${formatCount(p.window_lines)} lines in ${p.trend.length} slices`)),
      h("td", {}, levelMix(p.levels)),
      h("td", { class: "pt-first", title: formatTs(p.first_seen) }, formatTs(p.first_seen).slice(0, 16)),
      h(
        "td",
        { class: "pt-actions" },
        h("a", { href: discoverUrl(`pattern:${p.pattern_id}`, state), class: "pt-show" }, "Lines"),
        h(
          "button",
          { type: "button", class: "pt-hide", "aria-pressed": hidden ? "true" : "false", onclick: () => toggleHidden(p.pattern_id) },
          hidden ? "Unhide" : "Hide in Discover",
        ),
      ),
    );
  }

  function render() {
    const n = state.hide.length;
    hiddenLink.textContent = n ? `Discover without ${n} hidden` : "";
    hiddenLink.href = discoverUrl(hideQuery(state.hide), state);
    hiddenLink.hidden = n === 0;
    if (!answer) return;
    banner.hidden = answer.mining !== false;
    body.replaceChildren(
      ...(answer.patterns.length
        ? answer.patterns.map(row)
        : [h("tr", {}, h("td", { colspan: "7", class: "muted empty" }, "No patterns in this range."))]),
    );
  }

  async function load() {
    service.value = state.service;
    picker.set(state.start, state.end);
    status.textContent = "Loading…";
    try {
      answer = await apiGet("/api/v1/patterns", { service: state.service, start: state.start, end: state.end || undefined, buckets: 40 });
    } catch (err) {
      status.replaceChildren(h("span", { class: "error-message" }, `Loading patterns failed: ${err.message}`));
      return;
    }
    status.textContent = `${answer.patterns.length} patterns`;
    render();
    explain.rangeChanged();
    container.querySelector(".pt-page").dataset.loaded = "1";
  }

  load();
  return {
    onUrlChange() {
      state = readPatternState();
      load();
    },
  };
}
