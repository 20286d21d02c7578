// Admin → Audit log (/admin/audit): the tenant's audit entries (and the global ones: logins), newest first,
// filtered by actor, action (a family with a trailing "."), time; paged with the API's `next` cursor.
// The filters are in the URL (/admin/audit?action=key.&since=24h).

import { h } from "../dom.js";
import { adminFrame, adminRequest, messageLine, shortTime } from "./client.js";

const PAGE_SIZE = 50; // `?limit=` in the URL changes it (1-1000, as the API takes)
const ACTIONS = ["login", "logout", "user.", "key.", "rule.", "silence.", "alert.", "sql.run"];

function detailsText(details) {
  const parts = Object.entries(details || {}).map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`);
  return parts.join(" ");
}

export function mountAdminAudit(container) {
  const body = adminFrame(container, { title: "Audit log", permission: "audit.read", current: "/admin/audit" });
  if (!body) return {};
  const url = new URLSearchParams(location.search);
  const pageSize = Math.min(1000, Math.max(1, Number.parseInt(url.get("limit") || "", 10) || PAGE_SIZE));
  const actor = h("input", { type: "text", name: "actor", class: "adm-audit-actor", value: url.get("actor") || "", placeholder: "user:alice, key:lw_…", "aria-label": "Actor" });
  const action = h("input", { type: "text", name: "action", class: "adm-audit-action", value: url.get("action") || "", placeholder: "login, key.", list: "adm-actions", "aria-label": "Action" });
  const since = h("input", { type: "text", name: "since", class: "adm-audit-since", value: url.get("since") || "", placeholder: "24h, 2026-12-01", "aria-label": "Since", size: 12 });
  const message = messageLine();
  const status = h("span", { class: "muted adm-audit-status", role: "status" });
  const table = h("div", { class: "adm-list" });
  const newer = h("button", { type: "button", class: "adm-newer", disabled: true, onclick: () => (cursors.pop(), load()) }, "← Newer");
  const older = h("button", { type: "button", class: "adm-older", disabled: true, onclick: () => (cursors.push(next), load()) }, "Older →");
  const cursors = []; // the `before` of each page after the first
  let next = null;

  const form = h(
    "form",
    { class: "adm-filters", onsubmit: (e) => (e.preventDefault(), search()) },
    h("label", {}, "Actor ", actor),
    h("label", {}, "Action ", action),
    h("datalist", { id: "adm-actions" }, ACTIONS.map((a) => h("option", { value: a }))),
    h("label", {}, "Since ", since),
    h("button", { type: "submit", class: "primary adm-audit-search" }, "Search"),
  );
  body.append(form, message.el, h("div", { class: "adm-pager" }, status, h("div", { class: "topbar-spacer" }), newer, older), table);

  function search() {
    const p = new URLSearchParams(location.search);
    for (const [k, input] of [["actor", actor], ["action", action], ["since", since]]) {
      if (input.value.trim()) p.set(k, input.value.trim());
      else p.delete(k);
    }
    history.replaceState(null, "", `${location.pathname}${p.toString() ? `?${p}` : ""}`);
    cursors.length = 0;
    load();
  }

  function row(e) {
    return h(
      "tr",
      { dataset: { action: e.action, id: e.id }, class: `adm-outcome-${e.outcome}` },
      h("td", { title: e.at }, shortTime(e.at)),
      h("td", {}, e.actor),
      h("td", {}, h("code", {}, e.action)),
      h("td", {}, e.target),
      h("td", {}, e.outcome),
      h("td", {}, e.client),
      h("td", {}, e.tenant || "(global)"),
      h("td", { class: "adm-details" }, detailsText(e.details)),
    );
  }

  async function load() {
    const query = new URLSearchParams({ limit: String(pageSize) });
    for (const [k, input] of [["actor", actor], ["action", action], ["since", since]]) if (input.value.trim()) query.set(k, input.value.trim());
    if (cursors.length) query.set("before", String(cursors[cursors.length - 1]));
    status.textContent = "Loading…";
    try {
      const answer = await adminRequest("GET", `/api/v1/audit?${query}`);
      message.say("", "ok");
      next = answer.next ?? null;
      const first = cursors.length * pageSize + 1;
      status.textContent = answer.entries.length ? `entries ${first}–${first + answer.entries.length - 1}, newest first` : "no entries";
      table.replaceChildren(
        answer.entries.length
          ? h(
              "table",
              { class: "stats-table adm-table adm-audit" },
              h("thead", {}, h("tr", {}, ["Time", "Actor", "Action", "Target", "Outcome", "Client", "Tenant", "Details"].map((t) => h("th", {}, t)))),
              h("tbody", {}, answer.entries.map(row)),
            )
          : h("p", { class: "muted empty" }, "No audit entries match."),
      );
      table.dataset.loaded = "1";
    } catch (err) {
      status.textContent = "";
      message.say(err.message);
    }
    newer.disabled = cursors.length === 0;
    older.disabled = next === null;
  }

  load();
  return {};
}
