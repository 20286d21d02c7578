// Admin → API keys (/admin/keys): create a key (its text is shown once, with a copy button), list the
// tenant's keys, revoke one (GET|POST /api/v1/keys, DELETE /api/v1/keys/{id}).

import { h } from "../dom.js";
import { adminFrame, adminRequest, messageLine, roleSelect, shortTime } from "./client.js";

const KEY_ROLES = ["ingest", "viewer", "editor", "admin"];
const CONFIRM_MS = 5000;

function keyState(key, now = Date.now()) {
  if (key.revoked) return "revoked";
  if (key.expires && new Date(key.expires).getTime() <= now) return "expired";
  return "active";
}

async function copyText(input) {
  // The Clipboard API needs a secure context (HTTPS or loopback); otherwise select it for Ctrl+C.
  try {
    await navigator.clipboard.writeText(input.value);
    return true;
  } catch {
    input.select();
    return false;
  }
}

export function mountAdminKeys(container) {
  const body = adminFrame(container, { title: "API keys", permission: "users.admin", current: "/admin/keys" });
  if (!body) return {};
  const list = h("div", { class: "adm-list" });
  const listMessage = messageLine();
  const label = h("input", { type: "text", name: "name", class: "adm-key-name", placeholder: "vector on web-1", "aria-label": "Key name", autocomplete: "off" });
  const role = roleSelect(KEY_ROLES, "ingest", { class: "adm-key-role", "aria-label": "Role" });
  const expires = h("input", { type: "text", name: "expires", class: "adm-key-expires", placeholder: "90d (empty: never)", "aria-label": "Expires after", size: 12 });
  const formMessage = messageLine();
  const created = h("div", { class: "adm-created", hidden: true });
  const form = h(
    "form",
    { class: "adm-form adm-key-form", onsubmit: (e) => (e.preventDefault(), create()) },
    h("h2", {}, "Create a key"),
    h("label", {}, "Name", label),
    h("label", {}, "Role", role),
    h("label", {}, "Expires after", expires),
    h("button", { type: "submit", class: "primary adm-key-create" }, "Create key"),
    formMessage.el,
  );
  body.append(created, h("div", { class: "adm-columns" }, h("section", { class: "adm-main" }, listMessage.el, list), form));

  function showCreated(key) {
    const text = h("input", { type: "text", class: "adm-key-text", readonly: true, value: key.key, "aria-label": "The new key", spellcheck: "false" });
    const copied = h("span", { class: "muted adm-copied", role: "status" });
    created.replaceChildren(
      h("p", {}, h("strong", {}, `Key ${key.id} (${key.role}) created. `), "Copy it now: this is the only time it is shown (only a hash is stored)."),
      h(
        "div",
        { class: "adm-key-row" },
        text,
        h("button", { type: "button", class: "primary adm-copy", onclick: async () => (copied.textContent = (await copyText(text)) ? "Copied." : "Selected: press Ctrl+C.") }, "Copy"),
        h("button", { type: "button", class: "adm-done", onclick: () => ((created.hidden = true), created.replaceChildren()) }, "Done"),
        copied,
      ),
    );
    created.hidden = false;
    text.focus();
    text.select();
  }

  function revokeButton(key) {
    let armed = null;
    const button = h("button", { type: "button", class: "adm-revoke danger" }, "Revoke");
    button.addEventListener("click", async () => {
      if (!armed) {
        // Two clicks: a revoked key cannot be restored.
        button.textContent = "Confirm revoke";
        armed = setTimeout(() => ((armed = null), (button.textContent = "Revoke")), CONFIRM_MS);
        return;
      }
      clearTimeout(armed);
      try {
        await adminRequest("DELETE", `/api/v1/keys/${encodeURIComponent(key.id)}`);
        listMessage.say(`Revoked ${key.id}: it stops working at once on this server.`, "ok");
      } catch (err) {
        listMessage.say(err.message);
      }
      load();
    });
    return button;
  }

  function row(key) {
    const state = keyState(key);
    return h(
      "tr",
      { dataset: { key: key.id }, class: state === "active" ? null : "adm-off" },
      h("td", {}, h("code", {}, key.id)),
      h("td", {}, key.name || "—"),
      h("td", {}, key.role),
      h("td", {}, state),
      h("td", {}, shortTime(key.created)),
      h("td", {}, key.created_by || "—"),
      h("td", {}, shortTime(key.expires)),
      h("td", {}, state === "active" ? revokeButton(key) : null),
    );
  }

  async function load() {
    try {
      const { keys } = await adminRequest("GET", "/api/v1/keys");
      list.replaceChildren(
        keys.length
          ? h(
              "table",
              { class: "stats-table adm-table adm-keys" },
              h("thead", {}, h("tr", {}, ["Key", "Name", "Role", "State", "Created", "By", "Expires", ""].map((t) => h("th", {}, t)))),
              h("tbody", {}, keys.map(row)),
            )
          : h("p", { class: "muted empty" }, "No API keys in this tenant yet."),
      );
      list.dataset.loaded = "1";
    } catch (err) {
      listMessage.say(`Loading keys failed: ${err.message}`);
    }
  }

  async function create() {
    try {
      const key = await adminRequest("POST", "/api/v1/keys", { name: label.value.trim(), role: role.value, expires: expires.value.trim() || null });
      formMessage.say("", "ok");
      label.value = "";
      showCreated(key);
      load();
    } catch (err) {
      formMessage.say(err.message);
    }
  }

  load();
  return {};
}
