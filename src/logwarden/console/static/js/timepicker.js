// The time picker: relative presets and an absolute range, in the API's own words (now-1h, RFC 3339).

import { formatTs, h } from "./dom.js";

export const PRESETS = [
  ["now-5m", "Last 5 minutes"],
  ["now-15m", "Last 15 minutes"],
  ["now-1h", "Last 1 hour"],
  ["now-4h", "Last 4 hours"],
  ["now-24h", "Last 24 hours"],
  ["now-7d", "Last 7 days"],
  ["now-30d", "Last 30 days"],
];

/** A short label: the preset's name, or the absolute bounds. */
export function rangeLabel(start, end) {
  const preset = PRESETS.find(([value]) => value === start);
  if (preset && !end) return preset[1];
  const show = (v) => (/^\d{4}-\d\d-\d\dT/.test(v) ? formatTs(v).slice(0, 19) : v);
  return `${show(start)} → ${end ? show(end) : "now"}`;
}

/** createTimePicker({start, end, onChange(start, end)}) → {el, set(start, end), close()} */
export function createTimePicker({ start, end, onChange }) {
  let current = { start, end };
  const label = h("span", { class: "tp-label" });
  const button = h("button", { type: "button", class: "tp-button", "aria-haspopup": "dialog", title: "Time range" }, label, " ▾");
  const from = h("input", { type: "text", class: "tp-from", placeholder: "now-1h or 2026-11-21T10:00:00Z", spellcheck: "false" });
  const to = h("input", { type: "text", class: "tp-to", placeholder: "now", spellcheck: "false" });
  // A submit button: with two text fields, Enter submits the form only when it has one.
  const apply = h("button", { type: "submit", class: "primary tp-apply" }, "Apply");
  const presets = PRESETS.map(([value, name]) =>
    h("button", { type: "button", class: "tp-preset", dataset: { start: value }, onclick: () => choose(value, "") }, name),
  );
  const panel = h(
    "div",
    { class: "tp-panel popover", hidden: true, role: "dialog", "aria-label": "Time range" },
    h("div", { class: "tp-presets" }, presets),
    h(
      "form",
      { class: "tp-absolute", onsubmit: (e) => (e.preventDefault(), choose(from.value.trim() || "now-1h", to.value.trim())) },
      h("label", {}, "From ", from),
      h("label", {}, "To ", to),
      apply,
      h("p", { class: "hint" }, "Relative (now-2h, 15m) or absolute (RFC 3339, epoch seconds)."),
    ),
  );
  const el = h("div", { class: "timepicker" }, button, panel);

  function render() {
    label.textContent = rangeLabel(current.start, current.end);
    from.value = current.start;
    to.value = current.end;
  }
  function close() {
    panel.hidden = true;
  }
  function choose(s, e) {
    current = { start: s, end: e };
    render();
    close();
    onChange(s, e);
  }
  apply.addEventListener("click", (e) => {
    e.preventDefault();
    choose(from.value.trim() || "now-1h", to.value.trim());
  });
  button.addEventListener("click", () => {
    panel.hidden = !panel.hidden;
    if (!panel.hidden) from.focus();
  });
  window.addEventListener("lw:escape", close);
  document.addEventListener("click", (e) => {
    if (!el.contains(e.target)) close();
  });
  render();
  return {
    el,
    set(s, e) {
      current = { start: s, end: e };
      render();
    },
    close,
  };
}
