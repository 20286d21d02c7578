// The JSON API client: one place that turns 4xx/5xx answers into ApiError with the server's message.

export class ApiError extends Error {
  constructor(status, body) {
    const message = body?.error || `HTTP ${status}`;
    super(status === 401 ? `${message} (this server requires a login: POST /api/v1/auth/login)` : message);
    this.status = status;
    this.column = body?.column ?? null; // 1-based column of a query syntax error
    this.text = body?.text ?? null;
  }
}

/** URLSearchParams without empty values. */
export function params(values) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(values)) if (v !== undefined && v !== null && v !== "") p.set(k, String(v));
  return p;
}

async function parse(resp) {
  const type = resp.headers.get("content-type") || "";
  const body = type.includes("json") ? await resp.json() : { error: await resp.text() };
  if (resp.status === 401 && boot().auth && location.pathname !== "/login") {
    // The session ended (idle, logged out elsewhere, user disabled): log in again, then come back here.
    location.assign(`/login?next=${encodeURIComponent(location.pathname + location.search)}`);
  }
  if (!resp.ok) throw new ApiError(resp.status, body);
  return body;
}

export async function apiGet(path, query = {}, { signal } = {}) {
  const qs = params(query).toString();
  const resp = await fetch(qs ? `${path}?${qs}` : path, { signal, headers: { Accept: "application/json" } });
  return parse(resp);
}

/** The session's CSRF token (the lw_csrf cookie), echoed on state-changing requests when logged in. */
function csrfToken() {
  const m = document.cookie.match(/(?:^|;\s*)lw_csrf=([^;]+)/);
  return m ? decodeURIComponent(m[1]) : null;
}

export async function apiPost(path, body, { signal } = {}) {
  const headers = { Accept: "application/json", "Content-Type": "application/json" };
  const csrf = csrfToken();
  if (csrf) headers["X-CSRF-Token"] = csrf;
  const resp = await fetch(path, {
    method: "POST",
    signal,
    headers,
    body: JSON.stringify(body),
  });
  return parse(resp);
}

/** The server's boot data (language words, version, whether it is exposed), from the shell's data block. */
export function boot() {
  const el = document.getElementById("lw-boot");
  return el ? JSON.parse(el.textContent) : { pipes: [], core_fields: [] };
}
