// A modal <dialog> for the alerting pages (Esc closes it natively); removed from the page once closed.

import { h } from "../dom.js";
import { principal } from "../login/session.js";

/** openModal(title, ...body) → the open <dialog>; `dialog.close()` closes and removes it. */
export function openModal(title, ...body) {
  const dialog = h(
    "dialog",
    { class: "modal al-modal", "aria-label": title },
    h("header", {}, h("h2", {}, title), h("button", { type: "button", class: "icon-button close", "aria-label": "Close", onclick: () => dialog.close() }, "✕")),
    h("div", { class: "dialog-body" }, body),
  );
  dialog.addEventListener("close", () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
  const first = dialog.querySelector("textarea, input, select, .dialog-body button");
  first?.focus();
  return dialog;
}

/** Who acts in the console (acks, silences): the logged-in user; without auth, the name last typed here. */
export function currentUser() {
  const who = principal();
  if (who?.kind === "user" && who.name) return who.name;
  return localStorage.getItem("logwarden.user") || "console";
}

export function rememberUser(name) {
  if (name) localStorage.setItem("logwarden.user", name);
}

/** "5 min ago" for a past ISO time (the absolute time goes in a title). */
export function ago(iso, now = Date.now()) {
  const seconds = Math.max(0, Math.round((now - new Date(iso).getTime()) / 1000));
  if (seconds < 60) return `${seconds} s ago`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.round(seconds / 360) / 10} h ago`;
  return `${Math.round(seconds / 8640) / 10} d ago`;
}

/** "1 h 5 min" for a number of seconds. */
export function span(seconds) {
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  const m = Math.round(s / 60);
  if (m < 60) return `${m} min`;
  const hours = Math.floor(m / 60);
  return m % 60 ? `${hours} h ${m % 60} min` : `${hours} h`;
}
