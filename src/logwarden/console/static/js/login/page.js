// The login page (/login): a user name and a password for POST /api/v1/auth/login; wrong passwords and the
// brute-force backoff's wait are shown; a success goes to `?next=` (a path on this server) or Discover.

import { h } from "../dom.js";
import { safeNext } from "./session.js";

// An API key's shape (lw_<12 hex>_<secret>): keys are for shippers and scripts, never a console login.
const KEY_SHAPE = /^lw_[0-9a-f]{12}_/;

async function postLogin(user, password) {
  const resp = await fetch("/api/v1/auth/login", {
    method: "POST",
    headers: { Accept: "application/json", "Content-Type": "application/json" },
    body: JSON.stringify({ user, password }),
  });
  const type = resp.headers.get("content-type") || "";
  const body = type.includes("json") ? await resp.json() : { error: await resp.text() };
  return { status: resp.status, body, retryAfter: Number(resp.headers.get("Retry-After") || body.retry_after || 0) };
}

export function mountLogin(container) {
  document.title = "Log in · logwarden";
  const user = h("input", { type: "text", id: "login-user", name: "username", autocomplete: "username", required: true, autofocus: true });
  const password = h("input", { type: "password", id: "login-password", name: "password", autocomplete: "current-password", required: true });
  const submit = h("button", { type: "submit", class: "primary login-submit" }, "Log in");
  const message = h("p", { class: "login-message", role: "alert", "aria-live": "assertive" });
  let timer = null;

  function show(text, kind = "error") {
    message.textContent = text;
    message.className = `login-message ${kind === "error" ? "error-message" : "muted"}`;
  }

  function lockFor(seconds) {
    // The server answers 429 until the backoff's wait is over: count it down instead of letting the user retry.
    clearInterval(timer);
    let left = Math.max(1, Math.ceil(seconds));
    submit.disabled = true;
    const tick = () => {
      if (left <= 0) {
        clearInterval(timer);
        submit.disabled = false;
        show("You can try again now.", "info");
        return;
      }
      show(`Too many failed logins: try again in ${left} s.`);
      left -= 1;
    };
    tick();
    timer = setInterval(tick, 1000);
  }

  async function login(retried = false) {
    const name = user.value.trim();
    if (KEY_SHAPE.test(name) || KEY_SHAPE.test(password.value)) {
      show("An API key cannot log in to the console: keys are for shippers and scripts. Log in with a user name and password.");
      return;
    }
    submit.disabled = true;
    show("Logging in…", "info");
    let answer;
    try {
      answer = await postLogin(name, password.value);
    } catch (err) {
      submit.disabled = false;
      show(`Cannot reach the server: ${err.message}`);
      return;
    }
    const { status, body, retryAfter } = answer;
    if (status === 200) {
      location.assign(safeNext(new URLSearchParams(location.search).get("next")));
      return;
    }
    if (status === 401 && !retried && /session/.test(body.error || "")) return login(true); // a stale cookie, now cleared
    submit.disabled = false;
    if (status === 429) return lockFor(retryAfter || 1);
    password.value = "";
    password.focus();
    show(status === 401 ? "Wrong user name or password (or the user is disabled)." : body.error || `HTTP ${status}`);
  }

  const form = h(
    "form",
    { class: "login-form", onsubmit: (e) => (e.preventDefault(), login()) },
    h("h1", {}, "Log in to logwarden"),
    h("label", { for: "login-user" }, "User name"),
    user,
    h("label", { for: "login-password" }, "Password"),
    password,
    submit,
    message,
    h("p", { class: "muted login-hint" }, "Users are made by an admin (Admin → Users, or logwarden users add). API keys cannot log in."),
  );
  container.append(h("div", { class: "login-page" }, form));
  user.focus();
  const query = new URLSearchParams(location.search);
  if (query.get("error")) show(query.get("error")); // an OIDC sign-in that failed comes back with its reason
  addOidcButton(form, submit, safeNext(query.get("next")));
  return {};
}

/** "Sign in with <provider>" under the password form, when the server offers an OIDC login (auth.oidc). */
async function addOidcButton(form, before, next) {
  let info;
  try {
    const resp = await fetch("/api/v1/auth/oidc", { headers: { Accept: "application/json" } });
    info = resp.ok ? await resp.json() : null;
  } catch {
    return; // no button: the password form still works
  }
  if (!info?.enabled) return;
  const url = `${info.login_url}?${new URLSearchParams({ next })}`;
  const link = h("a", { class: "button oidc-login", href: url, role: "button" }, `Sign in with ${info.name}`);
  before.after(h("p", { class: "muted login-or" }, "or"), link);
}
