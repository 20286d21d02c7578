// Discover's first search, sent by app.js as soon as it runs — before Discover's own modules load — and taken
// by the page when its first search is the same one: the search runs on the server while the page loads.

import { apiPost } from "../api.js";
import { readState } from "../state.js";

export const RESULT_LIMIT = 200;
let early = null; // {key, promise} of the search sent early, until the page takes it

/** The body of Discover's search for `state` (one shape, so an early search and the page's compare equal). */
export function searchBody(state) {
  return { q: state.q, start: state.start, end: state.end, limit: RESULT_LIMIT };
}

/** Send the address's search now (not in live mode, which does not search). */
export function sendFirstSearch() {
  const state = readState();
  if (state.live) return;
  const body = searchBody(state);
  if (!performance.getEntriesByName("lw-search-sent").length) performance.mark("lw-search-sent"); // for benchmarks
  const promise = apiPost("/api/v1/query", body);
  promise.catch(() => {}); // the page shows the error when it takes the answer
  early = { key: JSON.stringify(body), promise };
}

/** The early search's answer when `body` is the same search (once); null otherwise. */
export function takeFirstSearch(body) {
  const found = early && early.key === JSON.stringify(body) ? early.promise : null;
  early = null;
  return found;
}
