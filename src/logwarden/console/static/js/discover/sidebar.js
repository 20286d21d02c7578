// The field sidebar: fields of the current results with counts; top values rendered only when a field is
// opened, and at most MAX_LISTED fields drawn at once, so thousands of attribute keys stay fast.

import { formatCount, h } from "../dom.js";

const MAX_LISTED = 150;
const CORE_ORDER = ["level", "service", "host", "source", "trace_id", "span_id", "pattern_id", "tenant"];
const HIDDEN = new Set(["ts", "observed_ts", "message", "log_id", "severity"]);

/** Fields in sidebar order: core ones first (in CORE_ORDER), then attributes by how many rows have them. */
export function orderFields(fields) {
  const rank = (f) => (f.core ? CORE_ORDER.indexOf(f.name) : -1);
  return fields
    .filter((f) => !(f.core && HIDDEN.has(f.name)) && f.count > 0)
    .sort((a, b) => {
      if (a.core !== b.core) return a.core ? -1 : 1;
      if (a.core) return (rank(a) < 0 ? 99 : rank(a)) - (rank(b) < 0 ? 99 : rank(b));
      return b.count - a.count || a.name.localeCompare(b.name);
    });
}

/** createSidebar({onFilter(field, value, negate), onToggleColumn(field), isColumn(field)}) → {el, render(body), names(), top(field)} */
export function createSidebar({ onFilter, onToggleColumn, isColumn }) {
  const search = h("input", { type: "search", class: "field-filter", placeholder: "Filter fields", "aria-label": "Filter fields" });
  const summary = h("div", { class: "fields-summary muted" });
  const list = h("ul", { class: "field-list" });
  const el = h("aside", { class: "sidebar", "aria-label": "Fields" }, h("h2", {}, "Fields"), search, summary, list);
  let fields = [];
  let sampled = 0;
  const open = new Set();

  function valueRow(field, top) {
    const pct = field.count ? Math.round((top.count / field.count) * 100) : 0;
    const add = (negate) => onFilter(field.name, top.value, negate);
    return h(
      "li",
      { class: "field-value" },
      h(
        "button",
        {
          type: "button",
          class: "value-button",
          title: "Click: filter for this value · Alt-click or right-click: filter it out",
          dataset: { field: field.name, value: String(top.value) },
          onclick: (e) => add(e.altKey),
          oncontextmenu: (e) => (e.preventDefault(), add(true)),
        },
        h("span", { class: "value-text" }, top.value === "" ? '""' : String(top.value)),
        h("span", { class: "value-count muted" }, `${formatCount(top.count)} · ${pct}%`),
      ),
      h("button", { type: "button", class: "mini plus", title: `Filter for ${field.name}:${top.value}`, onclick: () => add(false) }, "+"),
      h("button", { type: "button", class: "mini minus", title: `Filter out ${field.name}:${top.value}`, onclick: () => add(true) }, "−"),
    );
  }

  function fieldRow(field) {
    const isOpen = open.has(field.name);
    const li = h(
      "li",
      { class: `field${isOpen ? " open" : ""}`, dataset: { field: field.name } },
      h(
        "div",
        { class: "field-head" },
        h(
          "button",
          {
            type: "button",
            class: "field-name",
            "aria-expanded": String(isOpen),
            title: `${field.type}; in ${formatCount(field.count)} of ${formatCount(sampled)} sampled rows, ${formatCount(field.distinct)} distinct`,
            onclick: () => {
              if (open.has(field.name)) open.delete(field.name);
              else open.add(field.name);
              li.replaceWith(fieldRow(field));
            },
          },
          field.name,
        ),
        h("span", { class: "field-distinct muted" }, formatCount(field.distinct)),
        h(
          "button",
          {
            type: "button",
            class: `mini column-toggle${isColumn(field.name) ? " on" : ""}`,
            title: isColumn(field.name) ? "Remove the column" : "Show as a column",
            onclick: () => onToggleColumn(field.name),
          },
          "▦",
        ),
      ),
    );
    if (isOpen) {
      // Drawn only when opened: the payload holds every field's top values, the DOM only the open ones.
      li.append(h("ul", { class: "field-values" }, (field.top || []).map((t) => valueRow(field, t))));
    }
    return li;
  }

  function draw() {
    const needle = search.value.trim().toLowerCase();
    const matching = needle ? fields.filter((f) => f.name.toLowerCase().includes(needle)) : fields;
    list.replaceChildren(...matching.slice(0, MAX_LISTED).map(fieldRow));
    if (matching.length > MAX_LISTED) {
      list.append(h("li", { class: "muted more" }, `${formatCount(matching.length - MAX_LISTED)} more fields: type to filter`));
    }
    // The API summarizes a bounded sample (the newest matching lines): say so, the counts are of it.
    summary.textContent = sampled ? `${formatCount(fields.length)} fields · top values in the ${formatCount(sampled)} newest lines` : "";
  }

  search.addEventListener("input", draw);
  return {
    el,
    render(body) {
      fields = orderFields(body.fields || []);
      sampled = body.sampled || 0;
      draw();
    },
    redraw: draw,
    clear() {
      fields = [];
      sampled = 0;
      draw();
    },
    names: () => fields.map((f) => f.name),
    top: (name) => (fields.find((f) => f.name === name)?.top || []).map((t) => t.value),
  };
}
