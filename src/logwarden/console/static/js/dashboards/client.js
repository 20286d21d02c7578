// Dashboards API calls that change things (PUT, DELETE), beside api.js's GET and POST.

import { ApiError, apiGet, apiPost } from "../api.js";

function csrfToken() {
  const m = document.cookie.match(/(?:^|;\s*)lw_csrf=([^;]+)/);
  return m ? decodeURIComponent(m[1]) : null;
}

async function send(method, path, body) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const csrf = csrfToken();
  if (csrf) headers["X-CSRF-Token"] = csrf;
  const resp = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (resp.status === 204) return null;
  const type = resp.headers.get("content-type") || "";
  const parsed = type.includes("json") ? await resp.json() : { error: await resp.text() };
  if (!resp.ok) throw new ApiError(resp.status, parsed);
  return parsed;
}

const URL_BASE = "/api/v1/dashboards";

export const listDashboards = async () => (await apiGet(URL_BASE)).dashboards;
export const createDashboard = (fields) => apiPost(URL_BASE, fields);
export const saveDashboard = (id, fields) => send("PUT", `${URL_BASE}/${encodeURIComponent(id)}`, fields);
export const deleteDashboard = (id) => send("DELETE", `${URL_BASE}/${encodeURIComponent(id)}`);

/** The fields a PUT takes from a dashboard as listed. */
export function fieldsOf(d) {
  return { name: d.name, description: d.description || "", panels: d.panels, refresh: d.refresh ?? null };
}
