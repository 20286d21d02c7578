// An alert's history as a timeline: pending → firing → notified (each delivery attempt) → acked → resolved.

import { apiGet } from "../api.js";
import { formatTs, h } from "../dom.js";
import { openModal } from "./modal.js";

/** The timeline's entries, oldest first, from the alert, its transitions and its group's delivery attempts. */
export function timelineEntries(alert, transitions, deliveries) {
  const entries = [{ at: alert.active_at, kind: "pending", text: "condition met: pending" }];
  for (const t of transitions) {
    const detail = t.alert?.acked || t.ack || null;
    const who = t.by || detail?.by;
    const comment = t.comment || detail?.comment;
    let text = t.status;
    if (t.status === "firing") text = `firing (value ${t.alert?.value ?? "?"})`;
    if (t.status === "acknowledged") text = `acknowledged${who ? ` by ${who}` : ""}${comment ? `: “${comment}”` : ""}`;
    if (t.status === "unacknowledged") text = `acknowledgement withdrawn${who ? ` by ${who}` : ""}`;
    entries.push({ at: t.at, kind: t.status, text });
  }
  for (const d of deliveries) {
    const code = d.status_code ? ` ${d.status_code}` : "";
    entries.push({ at: d.at, kind: d.outcome === "delivered" ? "notified" : "attempt", text: `notified ${d.receiver} via ${d.channel}: ${d.outcome}${code} (${d.latency_ms} ms)` });
  }
  return entries.sort((a, b) => new Date(a.at) - new Date(b.at));
}

/** Open the History dialog of one alert (`groupKey`: its router group, whose delivery attempts are shown). */
export async function showHistory(alert, groupKey) {
  const list = h("ol", { class: "al-timeline" }, h("li", { class: "muted" }, "Loading…"));
  openModal(`History · ${alert.rule}`, list);
  try {
    const [moves, sent] = await Promise.all([
      apiGet("/api/v1/alerts/history", { kind: "transitions", fingerprint: alert.fingerprint, limit: 200 }),
      groupKey ? apiGet("/api/v1/alerts/history", { kind: "deliveries", since: alert.active_at, limit: 200 }) : { deliveries: [] },
    ]);
    const deliveries = (sent.deliveries || []).filter((d) => d.group_key === groupKey);
    list.replaceChildren(
      ...timelineEntries(alert, moves.transitions || [], deliveries).map((e) =>
        h("li", { class: `al-step al-step-${e.kind}` }, h("time", { datetime: e.at }, formatTs(e.at)), h("span", {}, e.text)),
      ),
    );
  } catch (err) {
    list.replaceChildren(h("li", { class: "error-message" }, `Loading the history failed: ${err.message}`));
  }
}
