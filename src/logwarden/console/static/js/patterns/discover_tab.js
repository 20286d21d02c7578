// Discover's "Lines | Patterns" tabs: the Patterns tab runs the query's filter with `| patterns 50` (the
// matching lines grouped by their log pattern, with counts and templates); Lines runs the filter alone. A query
// with other pipes has no patterns tab (the pipe would change what it computes).

import { h } from "../dom.js";

const PATTERNS_PIPE = /\s*\|\s*patterns(\s+\d+)?\s*$/;
export const PATTERNS_LIMIT = 50;

/** The query's filter, without a trailing `| patterns N`. */
export function filterOf(q) {
  return q.replace(PATTERNS_PIPE, "").trim();
}

/** createPatternsTab({run(q)}) → {el, update(q)} */
export function createPatternsTab({ run }) {
  let current = "";
  const lines = h("button", { type: "button", role: "tab", class: "dt-tab dt-lines" }, "Lines");
  const patterns = h("button", { type: "button", role: "tab", class: "dt-tab dt-patterns" }, "Patterns");
  lines.addEventListener("click", () => run(filterOf(current)));
  patterns.addEventListener("click", () => run(`${filterOf(current) || "*"} | patterns ${PATTERNS_LIMIT}`));
  const el = h("div", { class: "dt-tabs", role: "tablist", "aria-label": "Show" }, lines, patterns);

  function update(q) {
    current = q || "";
    const grouped = PATTERNS_PIPE.test(current);
    const otherPipes = filterOf(current).includes("|");
    lines.setAttribute("aria-selected", grouped ? "false" : "true");
    patterns.setAttribute("aria-selected", grouped ? "true" : "false");
    patterns.disabled = otherPipes;
    lines.disabled = otherPipes;
    el.hidden = otherPipes;
  }
  update("");
  return { el, update };
}
