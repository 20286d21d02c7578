// Every view is a URL: state is read from and written to the address, so links reproduce what was seen.

export const DEFAULT_START = "now-1h";

/** Discover's state from the address: q, start, end ("" = now), cols, live. */
export function readState(search = location.search) {
  const p = new URLSearchParams(search);
  return {
    q: p.get("q") || "",
    start: p.get("start") || DEFAULT_START,
    end: p.get("end") || "",
    cols: (p.get("cols") || "").split(",").filter(Boolean),
    live: p.get("live") === "1",
  };
}

/** The address of a state (defaults left out, so links stay short). */
export function stateUrl(state, path = location.pathname) {
  const p = new URLSearchParams();
  if (state.q) p.set("q", state.q);
  p.set("start", state.start || DEFAULT_START);
  if (state.end) p.set("end", state.end);
  if (state.cols?.length) p.set("cols", state.cols.join(","));
  if (state.live) p.set("live", "1");
  return `${path}?${p.toString()}`;
}

/** Record a state: a new history entry (back works) unless `replace`, or nothing when unchanged. */
export function writeState(state, { replace = false } = {}) {
  const url = stateUrl(state);
  if (url === location.pathname + location.search) return;
  if (replace) history.replaceState(null, "", url);
  else history.pushState(null, "", url);
}

// The pages with the shared time picker (their `start` and `end` are the same parameters).
const TIMED_PATHS = new Set(["/", "/dashboards", "/patterns"]);
const RANGE_KEY = "lw-range";

/** The range to carry to the next page: the address's on a page with the time picker (remembered for the
 * pages without one), else the one remembered in this tab; null when there is none. */
export function currentRange() {
  const p = new URLSearchParams(location.search);
  if (TIMED_PATHS.has(location.pathname) && p.get("start")) {
    const range = { start: p.get("start"), end: p.get("end") || "" };
    try {
      sessionStorage.setItem(RANGE_KEY, JSON.stringify(range));
    } catch {
      // Storage refused (private mode): the range is still carried from this page.
    }
    return range;
  }
  try {
    const saved = JSON.parse(sessionStorage.getItem(RANGE_KEY) || "null");
    return saved && typeof saved.start === "string" ? { start: saved.start, end: String(saved.end || "") } : null;
  } catch {
    return null;
  }
}

/** Links in `nav` to a page with the time picker carry the current range (set when pointed at, focused or
 * clicked, so the address shown on hover is the one followed). */
export function carryRange(nav) {
  const update = (event) => {
    const link = event.target.closest?.("a[href]");
    if (!link || !nav.contains(link)) return;
    const url = new URL(link.getAttribute("href"), location.origin);
    if (!TIMED_PATHS.has(url.pathname)) return;
    const range = currentRange();
    if (!range) return;
    url.searchParams.set("start", range.start);
    if (range.end) url.searchParams.set("end", range.end);
    else url.searchParams.delete("end");
    link.setAttribute("href", url.pathname + url.search);
  };
  for (const type of ["pointerover", "focusin", "click"]) nav.addEventListener(type, update);
}
