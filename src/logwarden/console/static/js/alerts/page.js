// Alerts (/alerts): firing, pending and recently resolved alerts, grouped as the router groups them; each
// group a card with evidence linking into Discover, Ack, Silence… and History.

import { apiGet, apiPost } from "../api.js";
import { formatTs, h } from "../dom.js";
import { levelClass } from "../discover/rows.js";
import { openSilenceDialog, labelMatchers } from "../silences/form.js";
import { showHistory } from "./history.js";
import { sparkline } from "./sparkline.js";
import { ago, currentUser, openModal, rememberUser } from "./modal.js";

const REFRESH_MS = 10000;
const EVIDENCE_SHOWN = 3;
const SEVERITY_ORDER = { critical: 0, warning: 1, info: 2 };

/** Discover's address for one evidence line: the alert's search, a minute either side of the line. */
export function evidenceUrl(alert, line) {
  const at = new Date(line.ts).getTime();
  const p = new URLSearchParams();
  p.set("q", alert.search?.q ?? "");
  p.set("start", new Date(at - 60000).toISOString());
  p.set("end", new Date(at + 60000).toISOString());
  return `/?${p.toString()}`;
}

/** Groups of alerts: the router's (by fingerprint) or, for alerts it does not hold, one per rule. */
export function groupAlerts(alerts, routerGroups) {
  const byFingerprint = new Map();
  for (const g of routerGroups) for (const fp of g.alerts) if (!byFingerprint.has(fp)) byFingerprint.set(fp, g);
  const groups = new Map();
  for (const alert of alerts) {
    const routed = byFingerprint.get(alert.fingerprint);
    const key = routed ? routed.group_key : `rule:${alert.rule}`;
    if (!groups.has(key)) {
      const labels = routed ? { ...routed.group_labels } : { alertname: alert.rule };
      delete labels.tenant;
      groups.set(key, { key, routed: Boolean(routed), receiver: routed?.receiver, labels, alerts: [] });
    }
    groups.get(key).alerts.push(alert);
  }
  return [...groups.values()];
}

/** A silence (32 hex digits) links to its card on /silences; anything else is an inhibiting alert. */
function muterLink(id, i) {
  const sep = i ? ", " : "";
  if (/^[0-9a-f]{32}$/.test(id)) return [sep, h("a", { href: `/silences#silence-${id}`, class: "al-muter" }, `silence ${id.slice(0, 8)}`)];
  return [sep, h("span", { class: "al-muter" }, `inhibited by alert ${id}`)];
}

function severityOf(alerts) {
  return alerts.map((a) => a.severity || "warning").sort((a, b) => (SEVERITY_ORDER[a] ?? 3) - (SEVERITY_ORDER[b] ?? 3))[0];
}

export function mountAlerts(container) {
  const status = h("span", { class: "muted al-status", role: "status" });
  const refresh = h("button", { type: "button", onclick: () => load() }, "↻ Refresh");
  const body = h("div", { class: "al-body" });
  container.append(
    h("div", { class: "al-page" }, h("div", { class: "al-toolbar" }, h("h1", {}, "Alerts"), status, h("div", { class: "topbar-spacer" }), h("a", { href: "/receivers", class: "al-receivers-link" }, "Receivers"), refresh), body),
  );
  document.title = "Alerts · logwarden";
  let timer = null;

  function alertRow(alert, group) {
    const firing = alert.status === "firing";
    const resolved = alert.status === "resolved";
    const since = resolved ? alert.resolved_at : firing ? alert.fired_at : alert.active_at;
    const labels = Object.entries(alert.labels || {}).filter(([k]) => k !== "tenant");
    const evidence = [...(alert.evidence || [])].sort((a, b) => new Date(b.ts) - new Date(a.ts)).slice(0, EVIDENCE_SHOWN);
    const actions = [];
    if (firing && !alert.acked) actions.push(h("button", { type: "button", class: "al-ack", onclick: () => ackDialog(alert) }, "Ack…"));
    if (!resolved) {
      const matchers = labelMatchers({ alertname: alert.rule, ...alert.labels });
      actions.push(h("button", { type: "button", class: "al-silence", onclick: () => openSilenceDialog({ matchers, onCreated: () => load() }) }, "Silence…"));
    }
    actions.push(h("button", { type: "button", class: "al-history", onclick: () => showHistory(alert, group.routed ? group.key : null) }, "History"));
    return h(
      "li",
      { class: `al-alert al-${alert.status}`, dataset: { fingerprint: alert.fingerprint } },
      h(
        "div",
        { class: "al-alert-head" },
        h("span", { class: `al-state al-state-${alert.status}` }, alert.status),
        h("span", { class: "al-labels" }, labels.map(([k, v]) => h("code", { class: "al-chip" }, `${k}=${v}`))),
        h("span", { class: "muted", title: formatTs(since) }, `${resolved ? "resolved" : "since"} ${ago(since)}`),
        h(
          "span",
          { class: "al-value", title: "the rule's value when it last changed, and its threshold" },
          `value ${alert.value ?? "?"}`,
          alert.threshold !== undefined && alert.threshold !== null ? ` · threshold ${alert.threshold}` : null,
          alert.window ? ` in ${alert.window}` : null,
        ),
        resolved ? null : sparkline(alert),
        h("span", { class: "topbar-spacer" }),
        actions,
      ),
      alert.acked
        ? h("p", { class: "al-acked" }, `✓ acked by ${alert.acked.by} ${ago(alert.acked.at)}${alert.acked.comment ? `: “${alert.acked.comment}”` : ""}`)
        : null,
      alert.muted_by?.length ? h("p", { class: "al-muted" }, "muted by ", alert.muted_by.map(muterLink)) : null,
      evidence.length
        ? h(
            "ol",
            { class: "al-evidence line-list", "aria-label": "Most recent evidence" },
            evidence.map((line) =>
              h(
                "li",
                { class: levelClass(line.level) },
                h("a", { href: evidenceUrl(alert, line), class: "al-evidence-link", title: "Open in Discover at that moment" }, formatTs(line.ts)),
                h("span", { class: "col-level" }, line.level || ""),
                h("span", { class: "col-service" }, line.service || ""),
                h("span", { class: "col-message" }, line.message || ""),
              ),
            ),
          )
        : null,
    );
  }

  function groupCard(group) {
    const severity = severityOf(group.alerts);
    const rules = [...new Set(group.alerts.map((a) => a.rule))];
    return h(
      "article",
      { class: `al-card al-sev-${severity}`, dataset: { group: group.key } },
      h(
        "div",
        { class: "al-card-head" },
        h("span", { class: `al-severity al-severity-${severity}` }, severity),
        h("strong", { class: "al-rule" }, rules.join(", ")),
        h("span", { class: "al-labels" }, Object.entries(group.labels).map(([k, v]) => h("code", { class: "al-chip al-group-chip" }, `${k}=${v}`))),
        h("span", { class: "topbar-spacer" }),
        group.receiver ? h("span", { class: "muted" }, `→ ${group.receiver}`) : null,
        h("span", { class: "muted" }, `${group.alerts.length} alert${group.alerts.length === 1 ? "" : "s"}`),
      ),
      h("ul", { class: "al-alerts" }, group.alerts.map((a) => alertRow(a, group))),
    );
  }

  function ackDialog(alert) {
    const by = h("input", { type: "text", name: "by", value: currentUser(), required: true });
    const comment = h("textarea", { name: "comment", class: "al-ack-comment", rows: 3, placeholder: "looking into it" });
    const error = h("p", { class: "error-message", role: "alert" });
    const form = h(
      "form",
      { class: "sl-form" },
      h("label", {}, "Comment", comment),
      h("label", {}, "By", by),
      error,
      h("div", { class: "sl-actions" }, h("button", { type: "submit", class: "primary" }, "Acknowledge")),
    );
    const dialog = openModal(`Acknowledge · ${alert.rule}`, form);
    comment.focus();
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      try {
        await apiPost(`/api/v1/alerts/${encodeURIComponent(alert.fingerprint)}/ack`, { by: by.value.trim(), comment: comment.value.trim() });
        rememberUser(by.value.trim());
        dialog.close();
        load();
      } catch (err) {
        error.textContent = err.message;
      }
    });
  }

  function section(name, title, groups) {
    const count = groups.reduce((n, g) => n + g.alerts.length, 0);
    return h(
      "section",
      { class: `al-section al-section-${name}`, "aria-label": title },
      h("h2", {}, `${title} `, h("span", { class: "muted" }, String(count))),
      groups.length ? groups.map(groupCard) : h("p", { class: "muted empty" }, `No ${name} alerts.`),
    );
  }

  /** A refresh redraws the cards: this puts the keyboard focus back on the same alert's same button. */
  function focusedAction() {
    const active = document.activeElement;
    const alert = active?.closest?.(".al-alert");
    if (!alert || !body.contains(alert)) return null;
    const fingerprint = alert.dataset.fingerprint;
    const kind = [...active.classList].find((c) => c.startsWith("al-")) || null;
    return () => {
      const again = body.querySelector(`.al-alert[data-fingerprint="${CSS.escape(fingerprint)}"] ${kind ? `.${kind}` : "a, button"}`);
      again?.focus();
    };
  }

  async function load() {
    clearTimeout(timer);
    try {
      const [current, routed, past] = await Promise.all([
        apiGet("/api/v1/alerts"),
        apiGet("/api/v1/alerts/groups"),
        apiGet("/api/v1/alerts/history", { kind: "transitions", status: "resolved", since: "now-24h", limit: 200 }),
      ]);
      const alerts = current.alerts;
      const active = new Set(alerts.map((a) => a.fingerprint));
      // A resolved alert is listed once (its latest resolve), unless it fires again.
      const seen = new Set();
      const resolved = [];
      for (const t of past.transitions || []) {
        if (active.has(t.fingerprint) || seen.has(t.fingerprint)) continue;
        seen.add(t.fingerprint);
        resolved.push({ ...t.alert, status: "resolved", resolved_at: t.alert?.resolved_at || t.at });
      }
      const firing = alerts.filter((a) => a.status === "firing");
      const pending = alerts.filter((a) => a.status !== "firing");
      status.textContent = `${firing.length} firing · ${pending.length} pending · ${resolved.length} resolved in 24 h · updated ${formatTs(new Date().toISOString()).slice(11, 19)}`;
      const focus = focusedAction();
      body.replaceChildren(
        section("firing", "Firing", groupAlerts(firing, routed.groups)),
        section("pending", "Pending", groupAlerts(pending, routed.groups)),
        section("resolved", "Resolved in the last 24 h", groupAlerts(resolved, [])),
      );
      body.dataset.loaded = "1";
      focus?.();
    } catch (err) {
      status.replaceChildren(h("span", { class: "error-message" }, `Loading alerts failed: ${err.message}`));
    }
    // Refresh while the page is open, but not under an open dialog (a form being filled in).
    timer = setTimeout(function tick() {
      if (document.querySelector("dialog[open]")) timer = setTimeout(tick, REFRESH_MS);
      else load();
    }, REFRESH_MS);
  }

  load();
  return { onUrlChange: load };
}
