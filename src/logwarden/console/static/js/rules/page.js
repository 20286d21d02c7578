// Rules (/rules): every rule with its state, last fire and fires in 24 h; `/rules?rule=<name>` edits one and
// `/rules?new=1` makes one (the editor with its backtest preview).

import { apiGet } from "../api.js";
import { formatTs, h } from "../dom.js";
import { ago } from "../alerts/modal.js";
import { createEditor } from "./editor.js";

const DAY_MS = 86400000;

/** Per rule: {state, firing, pending, lastFire, fires24h} from the current alerts and the firing transitions. */
export function ruleStates(rules, alerts, firings, now = Date.now()) {
  const out = new Map(rules.map((r) => [r.name, { state: r.enabled ? "ok" : "disabled", firing: 0, pending: 0, lastFire: null, fires24h: 0 }]));
  for (const a of alerts) {
    const s = out.get(a.rule);
    if (!s) continue;
    if (a.status === "firing") s.firing += 1;
    else s.pending += 1;
  }
  for (const t of firings) {
    const s = out.get(t.rule);
    if (!s) continue;
    if (!s.lastFire || t.at > s.lastFire) s.lastFire = t.at;
    if (now - new Date(t.at).getTime() <= DAY_MS) s.fires24h += 1;
  }
  for (const s of out.values()) if (s.state !== "disabled") s.state = s.firing ? "firing" : s.pending ? "pending" : "ok";
  return out;
}

function editorUrl(name) {
  return name ? `/rules?rule=${encodeURIComponent(name)}` : "/rules?new=1";
}

export function mountRules(container) {
  const root = h("div", { class: "al-page rl-page" });
  container.append(root);

  function navigate(url) {
    history.pushState(null, "", url);
    show();
  }

  function link(url, ...children) {
    return h(
      "a",
      {
        href: url,
        onclick: (e) => {
          if (e.button !== 0 || e.ctrlKey || e.metaKey || e.shiftKey) return;
          e.preventDefault();
          navigate(url);
        },
      },
      ...children,
    );
  }

  async function showList() {
    document.title = "Rules · logwarden";
    const status = h("span", { class: "muted al-status", role: "status" }, "Loading…");
    const table = h("div", { class: "rl-list" });
    root.replaceChildren(
      h("div", { class: "al-toolbar" }, h("h1", {}, "Rules"), status, h("div", { class: "topbar-spacer" }), link(editorUrl(null), h("span", { class: "button-link primary rl-new" }, "New rule"))),
      table,
    );
    let rules, alerts, firings;
    try {
      [rules, alerts, firings] = await Promise.all([
        apiGet("/api/v1/rules"),
        apiGet("/api/v1/alerts"),
        apiGet("/api/v1/alerts/history", { kind: "transitions", status: "firing", since: "now-30d", limit: 1000 }),
      ]);
    } catch (err) {
      status.replaceChildren(h("span", { class: "error-message" }, `Loading rules failed: ${err.message}`));
      return;
    }
    const states = ruleStates(rules.rules, alerts.alerts, firings.transitions || []);
    status.textContent = `${rules.rules.length} rule${rules.rules.length === 1 ? "" : "s"}`;
    const rows = rules.rules.map((r) => {
      const s = states.get(r.name);
      return h(
        "tr",
        { dataset: { rule: r.name } },
        h("td", {}, h("span", { class: `rl-dot rl-dot-${s.state}`, title: s.state, "aria-label": s.state }), " ", s.state),
        h("td", {}, link(editorUrl(r.name), r.name)),
        h("td", {}, r.type),
        h("td", { class: "rl-query-cell" }, h("code", {}, r.rule?.query ?? "")),
        h("td", {}, r.rule?.severity || "warning"),
        h("td", {}, s.firing || s.pending ? `${s.firing} firing, ${s.pending} pending` : "—"),
        h("td", { class: "rl-evaluated", title: r.last_evaluated ? formatTs(r.last_evaluated) : "" }, r.last_evaluated ? ago(r.last_evaluated) : "not yet"),
        h("td", { title: s.lastFire ? formatTs(s.lastFire) : "" }, s.lastFire ? ago(s.lastFire) : "never (30 d)"),
        h("td", { class: "number" }, String(s.fires24h)),
        h("td", { class: "muted" }, r.source === "file" ? `${r.file}:${r.line}` : `API · ${r.group}`),
      );
    });
    table.replaceChildren(
      rules.rules.length
        ? h(
            "table",
            { class: "stats-table rl-table" },
            h("thead", {}, h("tr", {}, ["State", "Name", "Type", "Query", "Severity", "Alerts now", "Last evaluation", "Last fire", "Fires 24 h", "Source"].map((t) => h("th", {}, t)))),
            h("tbody", {}, rows),
          )
        : h("p", { class: "muted empty" }, "No rules yet.", h("span", { "data-needs": "rules.write" }, " ", link(editorUrl(null), "Create one"), " or add rule files (docs/rules.md).")),
    );
    root.dataset.loaded = "list";
  }

  async function showEditor(name, notice = "") {
    document.title = `${name || "New rule"} · Rules · logwarden`;
    let rule = null;
    if (name) {
      try {
        rule = await apiGet(`/api/v1/rules/${encodeURIComponent(name)}`);
      } catch (err) {
        root.replaceChildren(h("p", { class: "error-message empty" }, `Loading rule ${name} failed: ${err.message}`), link("/rules", "← All rules"));
        return;
      }
    }
    const onSaved = (view) => {
      if (name) return;
      history.replaceState(null, "", editorUrl(view.name)); // a made rule is edited from now on
      showEditor(view.name, `Created ${view.name}.`);
    };
    const editor = createEditor({ rule, onSaved, notice });
    root.replaceChildren(h("div", { class: "al-toolbar" }, link("/rules", "← Rules"), h("h1", {}, name ? `Rule ${name}` : "New rule")), editor.el);
    root.dataset.loaded = "editor";
    editor.focus();
  }

  function show() {
    const p = new URLSearchParams(location.search);
    if (p.get("rule")) return showEditor(p.get("rule"));
    if (p.get("new")) return showEditor(null);
    return showList();
  }

  show();
  return { onUrlChange: show };
}
