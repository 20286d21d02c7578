// What the admin pages share: requests in a chosen tenant (an admin may act in another one through
// X-Scope-OrgID), the "not allowed" view, and the header with the tenant field and the section's tabs.

import { ApiError } from "../api.js";
import { h } from "../dom.js";
import { can, principal } from "../login/session.js";

const TABS = [
  ["/admin/users", "Users", "users.admin"],
  ["/admin/keys", "API keys", "users.admin"],
  ["/admin/audit", "Audit log", "audit.read"],
];

/** The tenant the page manages: `?tenant=` or the caller's own. */
export function pageTenant() {
  return new URLSearchParams(location.search).get("tenant") || principal()?.tenant || "";
}

/** A JSON request in `pageTenant()` → the answer (null for 204); ApiError with the server's message otherwise. */
export async function adminRequest(method, path, body) {
  const headers = { Accept: "application/json" };
  const tenant = pageTenant();
  if (tenant && tenant !== principal()?.tenant) headers["X-Scope-OrgID"] = tenant;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const csrf = document.cookie.match(/(?:^|;\s*)lw_csrf=([^;]+)/);
  if (csrf && method !== "GET") headers["X-CSRF-Token"] = decodeURIComponent(csrf[1]);
  const resp = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (resp.status === 204) return null;
  const type = resp.headers.get("content-type") || "";
  const answer = type.includes("json") ? await resp.json() : { error: await resp.text() };
  if (!resp.ok) throw new ApiError(resp.status, answer);
  return answer;
}

/** The page's frame: title, tabs, tenant field; or "not allowed" when the role lacks `permission` → null. */
export function adminFrame(container, { title, permission, current }) {
  document.title = `${title} · Admin · logwarden`;
  if (!can(permission)) {
    const who = principal();
    container.append(
      h(
        "div",
        { class: "al-page adm-page" },
        h("h1", {}, title),
        h("p", { class: "error-message adm-not-allowed", role: "alert" }, `Not allowed: this page needs the ${permission} permission, which the role ${who?.role ?? "(none)"} does not have.`),
      ),
    );
    return null;
  }
  const tenant = h("input", { type: "text", class: "adm-tenant", value: pageTenant(), "aria-label": "Tenant", size: 14 });
  const tenantForm = h(
    "form",
    {
      class: "adm-tenant-form",
      title: "An admin may manage another tenant (sent as X-Scope-OrgID)",
      onsubmit: (e) => {
        e.preventDefault();
        const url = new URL(location.href);
        const value = tenant.value.trim();
        if (value && value !== principal()?.tenant) url.searchParams.set("tenant", value);
        else url.searchParams.delete("tenant");
        location.assign(url.pathname + url.search);
      },
    },
    h("label", {}, "Tenant ", tenant),
    h("button", { type: "submit" }, "Switch"),
  );
  const query = new URLSearchParams(location.search).get("tenant");
  const tabs = TABS.filter(([, , needs]) => can(needs)).map(([path, label]) =>
    h("a", { href: query ? `${path}?tenant=${encodeURIComponent(query)}` : path, class: path === current ? "adm-tab active" : "adm-tab", "aria-current": path === current ? "page" : null }, label),
  );
  const body = h("div", { class: "adm-body" });
  container.append(
    h(
      "div",
      { class: "al-page adm-page" },
      h("div", { class: "al-toolbar" }, h("h1", {}, title), h("nav", { class: "adm-tabs", "aria-label": "Admin pages" }, tabs), h("div", { class: "topbar-spacer" }), tenantForm),
      body,
    ),
  );
  return body;
}

/** "2026-12-06 21:40" of an ISO time (or "never"). */
export function shortTime(iso, empty = "never") {
  if (!iso) return empty;
  const d = new Date(iso);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** A message line under a form: `say(text)` as an error, `say(text, "ok")` as a notice. */
export function messageLine() {
  const el = h("p", { class: "adm-message", role: "status" });
  return {
    el,
    say(text, kind = "error") {
      el.textContent = text;
      el.className = `adm-message ${kind === "error" ? "error-message" : "muted"}`;
    },
  };
}

/** A select of roles with `value` chosen. */
export function roleSelect(roles, value, props = {}) {
  return h("select", props, roles.map((r) => h("option", { value: r, selected: r === value }, r)));
}
