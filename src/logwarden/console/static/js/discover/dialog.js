// A modal dialog (Esc closes it: <dialog> does so natively) for the lines around a line and a whole trace.

import { apiGet } from "../api.js";
import { formatTs, h } from "../dom.js";
import { levelClass } from "./rows.js";

function lineList(lines) {
  return h(
    "ol",
    { class: "line-list" },
    lines.map((l) =>
      h(
        "li",
        { class: `${levelClass(l.level)}${l.anchor ? " anchor" : ""}`, dataset: { logId: l.log_id || "" } },
        h("span", { class: "col-ts" }, formatTs(l.ts)),
        h("span", { class: "col-level" }, l.level || ""),
        h("span", { class: "col-service" }, l.service || ""),
        h("span", { class: "col-message" }, l.message || ""),
      ),
    ),
  );
}

function open(title, load) {
  const body = h("div", { class: "dialog-body" }, h("p", { class: "muted" }, "Loading…"));
  const dialog = h(
    "dialog",
    { class: "modal", "aria-label": title },
    h("header", {}, h("h2", {}, title), h("button", { type: "button", class: "icon-button close", "aria-label": "Close", onclick: () => dialog.close() }, "✕")),
    body,
  );
  dialog.addEventListener("close", () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
  load()
    .then((content) => {
      body.replaceChildren(...content);
      body.querySelector(".anchor")?.scrollIntoView({ block: "center" });
    })
    .catch((err) => body.replaceChildren(h("p", { class: "error-message" }, err.message)));
  return dialog;
}

/** The lines before and after `line` from its host and service. */
export function showContext(line) {
  return open(`Lines around ${formatTs(line.ts)} · ${line.service || "—"} · ${line.host || "—"}`, async () => {
    const body = await apiGet(`/api/v1/context/${encodeURIComponent(line.log_id)}`, { before: 25, after: 25 });
    return [h("p", { class: "muted" }, `${body.before} before, ${body.after} after, same host and service`), lineList(body.lines)];
  });
}

/** Every line of `line`'s trace across services, with the trace summary. */
export function showTrace(line) {
  return open(`Trace ${line.trace_id}`, async () => {
    const body = await apiGet(`/api/v1/trace/${encodeURIComponent(line.trace_id)}`);
    const s = body.summary;
    const services = (s.services || []).map((x) => `${x.service ?? "—"} (${x.lines})`).join(", ");
    return [
      h(
        "p",
        { class: "trace-summary" },
        `${s.lines} lines · ${s.errors} errors · ${s.spans} spans · ${Math.round(s.duration_ms)} ms · services: ${services}`,
        body.truncated ? " · truncated" : "",
      ),
      lineList(body.lines.map((l) => ({ ...l, anchor: l.log_id === line.log_id }))),
    ];
  });
}
