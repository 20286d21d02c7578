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
