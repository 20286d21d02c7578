// Receivers (/receivers, linked from Alerts): the tenant's effective receivers with their integrations and
// notifications by state (GET /api/v1/receivers), whether they are the config file's; for admins a "Test" per
// receiver (POST /api/v1/receivers/{name}/test) and the editor of the tenant's own alerting config
// (GET/PUT/DELETE /api/v1/alerting/config: YAML, the API's 400 message shown under it, Save, Revert to default).

import { ApiError } from "../api.js";
import { h } from "../dom.js";
import { can } from "../login/session.js";
import { toYaml } from "./yaml.js";

const WRITE = "receivers.write";
const STATES = ["queued", "delivered", "rejected", "expired"];

/** A request → its JSON answer; ApiError with the server's message otherwise (CSRF token echoed when logged in). */
async function request(method, path, body, type = "application/json") {
  const headers = { Accept: "application/json" };
  const csrf = document.cookie.match(/(?:^|;\s*)lw_csrf=([^;]+)/);
  if (csrf && method !== "GET") headers["X-CSRF-Token"] = decodeURIComponent(csrf[1]);
  if (body !== undefined) headers["Content-Type"] = type;
  const resp = await fetch(path, { method, headers, body });
  const answer = (resp.headers.get("content-type") || "").includes("json") ? await resp.json() : { error: await resp.text() };
  if (!resp.ok) throw new ApiError(resp.status, answer);
  return answer;
}

function line(kind = "status") {
  const el = h("p", { class: "rc-message", role: kind });
  return {
    el,
    say(text, ok = false) {
      el.textContent = text;
      el.className = `rc-message ${ok ? "muted" : "error-message"}`;
    },
  };
}

/** `config` without empty lists and objects below its top-level keys (defaults: the editor shows what is set). */
function pruned(config) {
  const walk = (v) => {
    if (Array.isArray(v)) return v.map(walk);
    if (v === null || typeof v !== "object") return v;
    const out = {};
    for (const [k, x] of Object.entries(v)) {
      const y = walk(x);
      if (!(y !== null && typeof y === "object" && Object.keys(y).length === 0)) out[k] = y;
    }
    return out;
  };
  return Object.fromEntries(Object.entries(config).map(([k, v]) => [k, walk(v)]));
}

export function mountReceivers(container) {
  document.title = "Receivers · logwarden";
  const admin = can(WRITE);
  const source = h("span", { class: "muted rc-source", role: "status" });
  const list = h("div", { class: "rc-list" });
  const listMessage = line();
  const editor = h("textarea", { class: "rc-editor", spellcheck: "false", rows: 22, "aria-label": "Alerting config (YAML)" });
  const editorMessage = line("alert");
  const save = h("button", { type: "button", class: "primary rc-save", onclick: () => saveConfig() }, "Save");
  const revert = h("button", { type: "button", class: "danger rc-revert", onclick: () => revertConfig() }, "Revert to default");
  const reload = h("button", { type: "button", class: "rc-reload", onclick: () => load() }, "Discard edits");
  const edit = admin
    ? h(
        "section",
        { class: "rc-edit" },
        h("h2", {}, "This tenant's alerting config"),
        h("p", { class: "muted" }, "route, receivers, inhibit_rules, time_intervals (YAML or JSON). Secrets show as ********** and are kept when sent back unchanged."),
        editor,
        editorMessage.el,
        h("div", { class: "rc-buttons" }, save, reload, revert),
      )
    : null;
  container.append(
    h(
      "div",
      { class: "al-page rc-page" },
      h("div", { class: "al-toolbar" }, h("h1", {}, "Receivers"), source, h("div", { class: "topbar-spacer" }), h("a", { href: "/alerts" }, "← Alerts")),
      h("div", { class: "rc-columns" }, h("section", { class: "rc-main" }, listMessage.el, list), edit),
    ),
  );

  function testButton(name, cell) {
    const button = h("button", { type: "button", class: "rc-test" }, "Test");
    button.addEventListener("click", async () => {
      button.disabled = true;
      cell.textContent = "sending…";
      try {
        const { results } = await request("POST", `/api/v1/receivers/${encodeURIComponent(name)}/test`);
        cell.replaceChildren(
          ...results.map((r) =>
            h("div", { class: `rc-result rc-${r.outcome}` }, `${r.integration}: ${r.outcome}${r.status ? ` (${r.status})` : ""}${r.outcome === "delivered" ? "" : ` — ${r.answer}`}`),
          ),
        );
      } catch (err) {
        cell.replaceChildren(h("div", { class: "rc-result error-message" }, err.message));
      } finally {
        button.disabled = false;
      }
    });
    return button;
  }

  function receiverRows(receiver) {
    const result = h("td", { class: "rc-results", rowspan: Math.max(1, receiver.integrations.length) });
    const head = [h("td", { rowspan: Math.max(1, receiver.integrations.length) }, h("strong", {}, receiver.name), admin ? h("div", {}, testButton(receiver.name, result)) : null)];
    if (!receiver.integrations.length) return [h("tr", { dataset: { receiver: receiver.name } }, ...head, h("td", { colspan: 6, class: "muted" }, "no integrations: notifications stop here"), admin ? result : null)];
    return receiver.integrations.map((it, i) =>
      h(
        "tr",
        { dataset: { receiver: receiver.name, integration: it.integration } },
        ...(i === 0 ? head : []),
        h("td", {}, it.integration),
        h("td", {}, h("code", {}, it.target)),
        ...STATES.map((s) => h("td", { class: `rc-count rc-n-${s}` }, String(it[s]))),
        admin && i === 0 ? result : null,
      ),
    );
  }

  async function load() {
    try {
      const [{ receivers }, config] = await Promise.all([request("GET", "/api/v1/receivers"), request("GET", "/api/v1/alerting/config")]);
      source.textContent = config.fallback
        ? `Tenant ${config.tenant} uses the config file's alerting config (the default).`
        : `Tenant ${config.tenant} has its own alerting config: version ${config.version}, set by ${config.updated_by}.`;
      source.dataset.fallback = String(config.fallback);
      const heads = ["Receiver", "Integration", "Sends to", ...STATES, ...(admin ? ["Test result"] : [])];
      list.replaceChildren(
        receivers.length
          ? h("table", { class: "stats-table rc-table" }, h("thead", {}, h("tr", {}, heads.map((t) => h("th", {}, t)))), h("tbody", {}, receivers.flatMap(receiverRows)))
          : h("p", { class: "muted empty" }, "No receivers: alerts are listed, nothing is sent."),
      );
      list.dataset.loaded = "1";
      listMessage.say("", true);
      if (admin) {
        editor.value = toYaml(pruned(config.config));
        revert.disabled = config.fallback;
        editorMessage.say("", true);
      }
    } catch (err) {
      listMessage.say(`Loading receivers failed: ${err.message}`);
    }
  }

  async function saveConfig() {
    try {
      const answer = await request("PUT", "/api/v1/alerting/config", editor.value, "application/yaml");
      await load();
      editorMessage.say(`Saved: version ${answer.version}, applied now.`, true);
    } catch (err) {
      editorMessage.say(err.message);
    }
  }

  async function revertConfig() {
    try {
      await request("DELETE", "/api/v1/alerting/config");
      await load();
      editorMessage.say("Reverted: this tenant uses the config file's alerting config again.", true);
    } catch (err) {
      editorMessage.say(err.message);
    }
  }

  load();
  return {};
}
