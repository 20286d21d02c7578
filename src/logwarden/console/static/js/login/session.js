// Who is using the console (from the shell's boot data, the same answer as GET /api/v1/auth/me), what their role
// may do, and the top bar's logout button.

import { boot } from "../api.js";

/** The caller: {name, kind, tenant, role, permissions} or null (the login page). */
export function principal() {
  return boot().principal || null;
}

/** Whether the caller's role has `permission` (the server enforces it anyway; this only hides buttons). */
export function can(permission) {
  return (principal()?.permissions || []).includes(permission);
}

/** A path on this server to go to after a login; anything else ("//evil", "https://…") is "/". */
export function safeNext(value) {
  if (!value || !value.startsWith("/") || value.startsWith("//") || value.startsWith("/login")) return "/";
  if (/[\\\u0000-\u0020\u007f]/.test(value)) return "/"; // browsers drop tabs and read "\" as "/"
  return value;
}

/** End the session, then show the login page. */
export async function logout() {
  const headers = { Accept: "application/json" };
  const csrf = document.cookie.match(/(?:^|;\s*)lw_csrf=([^;]+)/);
  if (csrf) headers["X-CSRF-Token"] = decodeURIComponent(csrf[1]);
  // An ended session answers 401 and clears the cookies too: either way the login page comes next.
  await fetch("/api/v1/auth/logout", { method: "POST", headers }).catch(() => null);
  location.assign("/login");
}

/** Wire the top bar's "Log out" button (the shell renders it for logged-in users). */
export function installUserMenu() {
  document.getElementById("logout-button")?.addEventListener("click", () => logout());
}
