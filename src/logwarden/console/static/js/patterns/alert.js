// "Alert me when a new pattern appears": makes a `type: pattern`, `match: new` rule through /api/v1/rules (for
// the service the page shows, or every service; optionally only WARN and above).

import { apiPost } from "../api.js";
import { h } from "../dom.js";

/** The rule the button makes. */
export function newPatternRule(service, warnAndAbove) {
  const name = `new-pattern-${service || "any"}${warnAndAbove ? "-warn" : ""}`.replace(/[^A-Za-z0-9_.:-]/g, "_");
  const rule = {
    name,
    type: "pattern",
    match: "new",
    group_by: ["service"],
    window: "5m",
    description: `A kind of log line not seen in 30 days appears${service ? ` in ${service}` : ""}.`,
  };
  if (service) rule.service = service;
  if (warnAndAbove) rule.min_level = "WARN";
  return rule;
}

/** createNewPatternAlert(() => service) → {el}: a button, a WARN-and-above box and the outcome. */
export function createNewPatternAlert(currentService) {
  const warn = h("input", { type: "checkbox", class: "pt-alert-warn", checked: true });
  const outcome = h("span", { class: "pt-alert-outcome", role: "status" });
  const button = h("button", { type: "button", class: "primary pt-alert" }, "Alert me on new patterns");
  button.addEventListener("click", async () => {
    const rule = newPatternRule(currentService(), warn.checked);
    outcome.replaceChildren();
    try {
      const view = await apiPost("/api/v1/rules", { group: "patterns", rule });
      outcome.replaceChildren("Rule ", h("a", { href: `/rules#rule-${encodeURIComponent(view.name)}` }, view.name), " made.");
    } catch (err) {
      const text = err.status === 409 ? `Rule ${rule.name} exists already.` : `Making the rule failed: ${err.message}`;
      outcome.replaceChildren(h("span", { class: err.status === 409 ? "muted" : "error-message" }, text));
    }
  });
  const el = h("span", { class: "pt-alert-box" }, h("label", { class: "pt-alert-level" }, warn, " WARN and above"), button, outcome);
  return { el };
}
