// Silences (/silences): active, pending and expired silences of the tenant; create one, expire one.

import { apiGet } from "../api.js";
import { formatTs, h } from "../dom.js";
import { ago } from "../alerts/modal.js";
import { apiSend } from "../alerts/send.js";
import { openSilenceDialog } from "./form.js";

const STATES = [
  ["active", "Active"],
  ["pending", "Pending (starts later)"],
  ["expired", "Expired"],
];

export function matcherText(m) {
  return `${m.name}${m.type}${JSON.stringify(m.value)}`;
}

export function mountSilences(container) {
  const status = h("span", { class: "muted al-status", role: "status" });
  const newButton = h("button", { type: "button", class: "primary sl-new", onclick: () => openSilenceDialog({ onCreated: load }) }, "New silence");
  const body = h("div", { class: "al-body" });
  container.append(
    h(
      "div",
      { class: "al-page" },
      h("div", { class: "al-toolbar" }, h("h1", {}, "Silences"), status, h("div", { class: "topbar-spacer" }), newButton),
      body,
    ),
  );
  document.title = "Silences · logwarden";

  function card(s) {
    const expire =
      s.state === "expired"
        ? null
        : h("button", { type: "button", class: "sl-expire", onclick: () => expireSilence(s) }, s.state === "pending" ? "Cancel" : "Expire");
    return h(
      "article",
      { class: `al-card sl-card sl-${s.state}`, id: `silence-${s.id}`, dataset: { id: s.id } },
      h(
        "div",
        { class: "al-card-head" },
        h("div", { class: "al-labels" }, s.matchers.map((m) => h("code", { class: "al-chip" }, matcherText(m)))),
        h("span", { class: "topbar-spacer" }),
        expire,
      ),
      h("p", { class: "sl-comment-text" }, s.comment),
      h(
        "p",
        { class: "muted sl-meta" },
        `by ${s.created_by} · `,
        h("span", { title: formatTs(s.starts_at) }, `from ${formatTs(s.starts_at).slice(0, 16)}`),
        " ",
        h("span", { title: formatTs(s.ends_at) }, `until ${formatTs(s.ends_at).slice(0, 16)}`),
        s.state === "expired" ? ` (ended ${ago(s.ends_at)})` : null,
      ),
    );
  }

  async function expireSilence(s) {
    try {
      await apiSend("DELETE", `/api/v1/silences/${encodeURIComponent(s.id)}`);
      await load();
    } catch (err) {
      status.replaceChildren(h("span", { class: "error-message" }, `Expire failed: ${err.message}`));
    }
  }

  async function load() {
    let found;
    try {
      found = (await apiGet("/api/v1/silences")).silences;
    } catch (err) {
      status.replaceChildren(h("span", { class: "error-message" }, `Loading silences failed: ${err.message}`));
      return;
    }
    status.textContent = `${found.filter((s) => s.state === "active").length} active`;
    body.replaceChildren(
      ...STATES.map(([state, title]) => {
        const mine = found.filter((s) => s.state === state);
        return h(
          "section",
          { class: `al-section sl-section-${state}`, "aria-label": title },
          h("h2", {}, `${title} `, h("span", { class: "muted" }, String(mine.length))),
          mine.length ? mine.map(card) : h("p", { class: "muted empty" }, `No ${state} silences.`),
        );
      }),
    );
    body.dataset.loaded = "1";
    // A link from an alert (/silences#silence-<id>) lands on that silence.
    const target = location.hash ? document.getElementById(location.hash.slice(1)) : null;
    if (target) {
      target.classList.add("sl-target");
      target.scrollIntoView({ block: "center" });
    }
  }

  load();
  return { onUrlChange: load };
}
