// PUT and DELETE for the alerting pages (api.js has GET and POST): the same errors and CSRF header.

import { ApiError } from "../api.js";

/** apiSend("DELETE", "/api/v1/silences/x") → the JSON answer (null for 204); ApiError on 4xx/5xx. */
export async function apiSend(method, path, body) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const csrf = document.cookie.match(/(?:^|;\s*)lw_csrf=([^;]+)/);
  if (csrf) headers["X-CSRF-Token"] = decodeURIComponent(csrf[1]);
  const resp = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (resp.status === 204) return null;
  const type = resp.headers.get("content-type") || "";
  const answer = type.includes("json") ? await resp.json() : { error: await resp.text() };
  if (!resp.ok) throw new ApiError(resp.status, answer);
  return answer;
}
