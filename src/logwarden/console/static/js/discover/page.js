// Discover: query bar, time picker, histogram, field sidebar, results (hits or a stats table) and live mode,
// with all of it in the URL (/?q=…&start=…&end=…&cols=…&live=1).

import { ApiError, apiGet, apiPost, boot } from "../api.js";
import { formatCount, h } from "../dom.js";
import { filterClause, queryTerms, termsRegex } from "../highlight.js";
import { readState, writeState } from "../state.js";
import { createTimePicker } from "../timepicker.js";
import { showContext, showTrace } from "./dialog.js";
import { searchBody, takeFirstSearch } from "./first.js";
import { exportUrl, saveUrl } from "./download.js";
import { createPatternsTab } from "../patterns/discover_tab.js";
import { createHistogram } from "./histogram.js";
import { MAX_ROWS, startLive } from "./live.js";
import { createQueryBar } from "./querybar.js";
import { createSavedMenu } from "./saved.js";
import { detailRow, gridColumns, headerRow, lineRow } from "./rows.js";
import { createSidebar } from "./sidebar.js";
import { renderStats } from "./stats.js";

const FOLLOW_MS = 300; // a slow search still gets its histogram and fields this soon

const noop = () => {};
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export function mountDiscover(container) {
  const language = boot();
  let state = readState();
  let inflight = null; // AbortController of the running search
  let live = null; // the running live stream
  let result = null; // the last query answer
  let regex = null;
  let firstMarked = false; // lw-first-results is marked once per page load

  const queryBar = createQueryBar({
    value: state.q,
    pipes: language.pipes,
    fieldNames: () => [...new Set([...sidebar.names(), ...language.core_fields])],
    topValues: (field) => sidebar.top(field),
    onRun: (q) => run({ ...state, q }),
  });
  const picker = createTimePicker({ start: state.start, end: state.end, onChange: (start, end) => run({ ...state, start, end }) });
  const runButton = h("button", { type: "button", class: "primary run-button", onclick: () => run({ ...state, q: queryBar.value() }) }, "▶ Run");
  const liveButton = h("button", { type: "button", class: "live-button", "aria-pressed": "false", onclick: () => toggleLive() }, "● Live");
  const histogram = createHistogram({ onZoom: (start, end) => run({ ...state, start, end, live: false }) });
  const sidebar = createSidebar({
    onFilter: (field, value, negate) => run({ ...state, q: queryBar.addClause(filterClause(field, value, negate)) }),
    onToggleColumn: (field) => toggleColumn(field),
    isColumn: (field) => state.cols.includes(field),
  });
  const status = h("div", { class: "result-status", role: "status" });
  const downloadMenu = h(
    "details",
    { class: "download" },
    h("summary", {}, "Download ▾"),
    h(
      "div",
      { class: "popover download-menu" },
      h("button", { type: "button", onclick: () => download("ndjson") }, "NDJSON"),
      h("button", { type: "button", onclick: () => download("csv") }, "CSV"),
    ),
  );
  const savedMenu = createSavedMenu({
    current: () => ({ ...state, q: queryBar.value() }),
    onOpen: (saved) => run({ ...state, q: saved.query, start: saved.start || "now-1h", end: saved.end || "", live: false }),
  });
  const liveBar = h("div", { class: "live-bar", hidden: true });
  const patternsTab = createPatternsTab({ run: (q) => run({ ...state, q, live: false }) });
  const results = h("div", { class: "results" });

  container.append(
    h("div", { class: "discover" }, [
      h("div", { class: "search-row" }, queryBar.el, picker.el, runButton, liveButton),
      h(
        "div",
        { class: "discover-body" },
        sidebar.el,
        h("section", { class: "discover-main", "aria-label": "Results" }, histogram.el, h("div", { class: "result-toolbar" }, patternsTab.el, status, liveBar, savedMenu.el, downloadMenu), results),
      ),
    ]),
  );

  // --- search ---------------------------------------------------------------------------------------

  async function run(next, { push = true } = {}) {
    state = { ...next, q: next.q ?? "" };
    if (push) writeState(state);
    document.title = `${state.q ? `${state.q} · ` : ""}Discover · logwarden`;
    queryBar.setValue(state.q);
    patternsTab.update(state.q);
    picker.set(state.start, state.end);
    stopLive();
    if (state.live) return goLive();
    inflight?.abort();
    const abort = new AbortController();
    inflight = abort;
    regex = termsRegex(queryTerms(state.q));
    const range = { start: state.start, end: state.end };
    status.textContent = "Searching…";
    results.setAttribute("aria-busy", "true");
    const body = searchBody(state);
    // The first search may already be on its way (app.js sends it before this module loads).
    const sent = takeFirstSearch(body);
    if (!sent && !performance.getEntriesByName("lw-search-sent").length) performance.mark("lw-search-sent"); // page start-up cost, for benchmarks
    const query = sent || apiPost("/api/v1/query", body, { signal: abort.signal });
    // The hits go first: the histogram and the fields follow when they arrive (or after FOLLOW_MS when the search
    // is slow), so on a small machine they never compete with the rows. Failures are handled at once: only the
    // search's error is shown.
    let failed = false;
    const follow = Promise.race([query.then(noop, () => (failed = true)), sleep(FOLLOW_MS)]);
    const later = (send) => follow.then(() => (failed || abort.signal.aborted ? null : send().catch(() => null)));
    const hist = later(() => apiGet("/api/v1/histogram", { q: state.q, ...range, buckets: 80, by: "level" }, { signal: abort.signal }));
    const fields = later(() => apiGet("/api/v1/fields", { q: state.q, ...range }, { signal: abort.signal }));
    // Drawn when they arrive, before or after the rows.
    hist.then((data) => abort.signal.aborted || failed || (data ? histogram.render(data) : histogram.clear()));
    fields.then((data) => {
      if (abort.signal.aborted || failed) return;
      if (data) sidebar.render(data);
      else sidebar.clear();
      performance.mark("lw-fields-drawn"); // for the wide-fields test and benchmarks
    });
    try {
      result = await query;
    } catch (err) {
      if (abort.signal.aborted) return;
      results.removeAttribute("aria-busy");
      return showError(err);
    }
    if (abort.signal.aborted) return;
    results.removeAttribute("aria-busy");
    renderResult();
    if (!firstMarked) {
      // Navigation → the first rows on screen, for benchmarks (performance.getEntriesByName("lw-first-results")):
      // marked after the frame that paints them, not when the DOM changes.
      firstMarked = true;
      requestAnimationFrame(() => setTimeout(() => performance.mark("lw-first-results"), 0));
    }
  }

  function showError(err) {
    result = null;
    histogram.clear();
    results.replaceChildren();
    status.textContent = "";
    if (err instanceof ApiError && err.status === 400) queryBar.showError(err);
    else status.replaceChildren(h("span", { class: "error-message" }, `Search failed: ${err.message}`));
  }

  function renderResult() {
    results.dataset.kind = result.kind;
    if (result.kind === "table") {
      status.textContent = `${formatCount(result.rows.length)} rows · ${Math.round(result.took_ms)} ms`;
      renderStats(results, result);
      return;
    }
    const shown = result.hits.length;
    status.textContent = `${formatCount(result.total)} hits${result.total > shown ? ` (newest ${formatCount(shown)} shown)` : ""} · ${Math.round(result.took_ms)} ms`;
    const body = h("div", { class: "hits-body", role: "rowgroup" });
    const frag = document.createDocumentFragment();
    for (const hit of result.hits) frag.append(lineRow(hit, state.cols, regex));
    body.append(frag);
    results.replaceChildren(hitsTable(body));
    if (!shown) results.append(h("p", { class: "empty muted" }, "No lines match in this time range."));
  }

  function hitsTable(body) {
    const table = h("div", { class: "hits", role: "table", "aria-label": "Log lines" }, headerRow(state.cols), body);
    table.style.setProperty("--hit-columns", gridColumns(state.cols));
    body.addEventListener("click", (e) => {
      if (e.target.closest("button, a, .detail")) return;
      const row = e.target.closest(".hit");
      if (row) toggleDetail(row);
    });
    body.addEventListener("keydown", (e) => {
      const row = e.target.closest?.(".hit");
      if (row && e.key === "Enter") toggleDetail(row);
    });
    return table;
  }

  function toggleDetail(tr) {
    const next = tr.nextElementSibling;
    if (next?.classList.contains("detail")) {
      next.remove();
      tr.classList.remove("expanded");
      return;
    }
    tr.classList.add("expanded");
    tr.after(
      detailRow(tr._line, {
        onFilter: (field, value, negate) => run({ ...state, live: false, q: queryBar.addClause(filterClause(field, value, negate)) }),
        onContext: showContext,
        onTrace: showTrace,
        onToggleColumn: toggleColumn,
      }),
    );
  }

  function toggleColumn(field) {
    const cols = state.cols.includes(field) ? state.cols.filter((c) => c !== field) : [...state.cols, field];
    state = { ...state, cols };
    writeState(state, { replace: true });
    sidebar.redraw();
    if (state.live) {
      // Rebuild the live rows from their lines: every row needs the new column's cell.
      const body = results.querySelector(".hits-body");
      const lines = body ? [...body.querySelectorAll(".hit")].map((r) => r._line) : [];
      const fresh = h("div", { class: "hits-body", role: "rowgroup" }, lines.map((l) => lineRow(l, state.cols, regex)));
      results.replaceChildren(hitsTable(fresh));
    } else if (result?.kind === "hits") renderResult();
  }

  window.addEventListener("lw:escape", () => {
    for (const d of results.querySelectorAll(".detail")) {
      d.previousElementSibling?.classList.remove("expanded");
      d.remove();
    }
    downloadMenu.open = false;
  });

  function download(format) {
    downloadMenu.open = false;
    saveUrl(exportUrl(state, format)); // the server streams the file: every line of the query, within the role's cap
  }

  // --- live mode ------------------------------------------------------------------------------------

  let paused = false;
  let held = []; // lines that arrived while paused (bounded like the table)
  let liveCount = 0;
  let liveDropped = 0;

  function renderLiveBar() {
    const parts = [
      h("span", { class: "live-dot", "aria-hidden": "true" }, "●"),
      h("span", { class: "live-count" }, `${formatCount(liveCount)} lines`),
      liveDropped ? h("span", { class: "live-dropped" }, ` · ${formatCount(liveDropped)} dropped (too fast to show)`) : null,
      paused ? h("span", { class: "live-held" }, ` · paused, ${formatCount(held.length)} waiting`) : null,
      h("button", { type: "button", class: "pause-button", onclick: () => setPaused(!paused) }, paused ? "Resume" : "Pause"),
    ];
    liveBar.replaceChildren(...parts.filter(Boolean));
  }

  function setPaused(value) {
    paused = value;
    if (!paused && held.length) {
      const lines = held;
      held = [];
      addLiveLines(lines);
    }
    renderLiveBar();
  }

  function addLiveLines(lines) {
    liveCount += lines.length;
    if (paused) {
      held.push(...lines);
      if (held.length > MAX_ROWS) {
        liveDropped += held.length - MAX_ROWS;
        held.splice(0, held.length - MAX_ROWS);
      }
      renderLiveBar();
      return;
    }
    const body = results.querySelector(".hits-body");
    if (!body) return;
    const began = performance.now();
    const frag = document.createDocumentFragment();
    for (let i = lines.length - 1; i >= 0; i--) frag.append(lineRow(lines[i], state.cols, regex)); // newest on top
    body.prepend(frag);
    let rows = body.childElementCount;
    while (rows > MAX_ROWS) {
      body.lastElementChild.remove();
      rows--;
    }
    renderLiveBar();
    performance.measure("lw-live-batch", { start: began, detail: lines.length }); // read by the load test
  }

  function goLive() {
    inflight?.abort();
    liveButton.setAttribute("aria-pressed", "true");
    liveButton.classList.add("on");
    regex = termsRegex(queryTerms(state.q));
    paused = false;
    held = [];
    liveCount = 0;
    liveDropped = 0;
    histogram.clear();
    histogram.el.hidden = true; // counts of the past mean little while lines stream in
    results.dataset.kind = "live";
    results.replaceChildren(hitsTable(h("div", { class: "hits-body", role: "rowgroup" })));
    status.textContent = "Live: connecting…";
    liveBar.hidden = false;
    renderLiveBar();
    live = startLive({
      q: state.q,
      onOpen: () => (status.textContent = "Live: new matching lines appear at the top"),
      onBatch: addLiveLines,
      onDropped: (n) => {
        liveDropped = n;
        renderLiveBar();
      },
      onError: (err) => {
        status.textContent = "";
        if (err instanceof ApiError && err.status === 400) queryBar.showError(err);
        else status.replaceChildren(h("span", { class: "error-message" }, `Live mode stopped: ${err.message}`));
      },
    });
  }

  function stopLive() {
    live?.stop();
    live = null;
    liveBar.hidden = true;
    histogram.el.hidden = false;
    liveButton.setAttribute("aria-pressed", "false");
    liveButton.classList.remove("on");
  }

  function toggleLive() {
    run({ ...state, q: queryBar.value(), live: !state.live });
  }

  // Pause while the reader scrolls down or hovers a row: new rows would move what they are reading.
  results.addEventListener("scroll", () => {
    if (state.live && results.scrollTop > 40 && !paused) setPaused(true);
  });

  run(state, { push: false });
  writeState(state, { replace: true });
  return {
    onUrlChange() {
      run(readState(), { push: false });
    },
  };
}
