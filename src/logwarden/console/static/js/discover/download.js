// Downloads: the server's export (GET /api/v1/export) of exactly the current query, saved as the browser
// receives it (streamed to disk, named by the server), never built in the page's memory.

import { params } from "../api.js";

// Columns every CSV of lines has; the others shown in the table go into `fields`.
const CSV_CORE = new Set(["ts", "level", "service", "host", "message", "attrs", "tenant", "observed_ts", "log_id"]);

/** The export URL of a Discover state: its query and range, the shown attribute columns for a CSV of lines. */
export function exportUrl(state, format) {
  const fields = format === "csv" ? state.cols.filter((c) => !CSV_CORE.has(c)).join(",") : "";
  return `/api/v1/export?${params({ q: state.q, start: state.start, end: state.end, format, fields })}`;
}

/** Save a URL's answer as a file (the session cookie authenticates it; the server names the file). */
export function saveUrl(url) {
  const a = document.createElement("a");
  a.href = url;
  a.download = "";
  document.body.append(a);
  a.click();
  a.remove();
}
