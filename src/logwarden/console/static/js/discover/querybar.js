// The query bar: Enter runs, completion of field names, values and pipes, and parse errors underlined.

import { h } from "../dom.js";
import { filterClause } from "../highlight.js";

const MAX_SUGGESTIONS = 12;

/** What is being typed at the caret: {kind: "pipe"|"field"|"value", word, from, field?}. */
export function completionContext(text, caret) {
  const before = text.slice(0, caret);
  const bar = before.lastIndexOf("|");
  if (bar >= 0) {
    const segment = before.slice(bar + 1);
    const lead = segment.match(/^\s*/)[0].length;
    const word = segment.slice(lead);
    if (!/\s/.test(word)) return { kind: "pipe", word, from: bar + 1 + lead };
    return null; // inside a pipe's arguments
  }
  const m = before.match(/[^\s()]*$/);
  let word = m[0];
  let from = caret - word.length;
  if (word.startsWith("-")) {
    word = word.slice(1);
    from += 1;
  }
  const colon = word.indexOf(":");
  if (colon > 0) {
    return { kind: "value", field: word.slice(0, colon), word: word.slice(colon + 1).replace(/^"/, ""), from: from + colon + 1 };
  }
  if (word.startsWith('"')) return null;
  return { kind: "field", word, from };
}

/**
 * createQueryBar({value, pipes, fieldNames(), topValues(field), onRun(text)})
 * → {el, input, value(), setValue(text), showError(err), clearError(), addClause(clause)}
 */
export function createQueryBar({ value, pipes, fieldNames, topValues, onRun }) {
  const input = h("input", {
    type: "search",
    class: "query-input",
    "data-search": true,
    placeholder: 'Search: level:error service:checkout "timeout" | stats count() by host   (press / to focus)',
    spellcheck: "false",
    autocomplete: "off",
    "aria-label": "Query",
    "aria-autocomplete": "list",
  });
  input.value = value;
  const list = h("ul", { class: "completion popover", role: "listbox", hidden: true });
  const error = h("div", { class: "query-error", role: "alert", hidden: true });
  const el = h("div", { class: "querybar" }, h("div", { class: "query-wrap" }, input, list), error);
  let items = [];
  let selected = -1;
  let context = null;

  function close() {
    list.hidden = true;
    items = [];
    selected = -1;
  }

  function suggestions(ctx) {
    const word = ctx.word.toLowerCase();
    let candidates = [];
    if (ctx.kind === "pipe") {
      candidates = pipes.map((p) => ({ label: p, insert: `${p} ` }));
    } else if (ctx.kind === "field") {
      if (!word) return [];
      candidates = fieldNames().map((f) => ({ label: f, insert: `${f}:` }));
    } else {
      candidates = topValues(ctx.field).map((v) => {
        const clause = filterClause(ctx.field, v);
        return { label: String(v), insert: `${clause.slice(ctx.field.length + 1)} ` };
      });
    }
    return candidates.filter((c) => c.label.toLowerCase().startsWith(word) && c.label !== ctx.word).slice(0, MAX_SUGGESTIONS);
  }

  function update() {
    context = completionContext(input.value, input.selectionStart ?? input.value.length);
    items = context ? suggestions(context) : [];
    selected = -1;
    list.replaceChildren(
      ...items.map((item, i) =>
        h(
          "li",
          { role: "option", class: "completion-item", dataset: { index: i }, onmousedown: (e) => (e.preventDefault(), accept(i)) },
          h("span", { class: `completion-kind kind-${context.kind}` }, context.kind),
          item.label,
        ),
      ),
    );
    list.hidden = items.length === 0;
  }

  function highlightSelected() {
    [...list.children].forEach((li, i) => li.setAttribute("aria-selected", String(i === selected)));
  }

  function accept(i) {
    const item = items[i];
    if (!item || !context) return;
    const caret = input.selectionStart ?? input.value.length;
    const rest = input.value.slice(caret).replace(/^[^\s()|]*/, "");
    input.value = input.value.slice(0, context.from) + item.insert + rest;
    const at = context.from + item.insert.length;
    input.setSelectionRange(at, at);
    close();
    input.focus();
    if (item.insert.endsWith(":")) update(); // go on to the field's values
  }

  input.addEventListener("input", () => {
    clearError();
    update();
  });
  input.addEventListener("blur", () => setTimeout(close, 100));
  input.addEventListener("keydown", (event) => {
    if (!list.hidden && (event.key === "ArrowDown" || event.key === "ArrowUp")) {
      event.preventDefault();
      const n = items.length;
      selected = event.key === "ArrowDown" ? (selected + 1) % n : (selected - 1 + n) % n;
      highlightSelected();
    } else if (!list.hidden && event.key === "Tab" && items.length) {
      event.preventDefault();
      accept(selected >= 0 ? selected : 0);
    } else if (event.key === "Enter") {
      event.preventDefault();
      if (!list.hidden && selected >= 0) accept(selected);
      else {
        close();
        onRun(input.value);
      }
    } else if (event.key === "Escape") {
      event.preventDefault(); // a search field clears itself on Esc: here Esc closes lists, never wipes the query
    } else if (event.key === " " && event.ctrlKey) {
      event.preventDefault();
      update();
    }
  });
  window.addEventListener("lw:escape", close);

  function clearError() {
    error.hidden = true;
    error.replaceChildren();
    input.removeAttribute("aria-invalid");
  }

  /** Show a 400's message with the query and the character at its 1-based column underlined. */
  function showError(err) {
    const text = input.value;
    error.replaceChildren();
    if (err.column) {
      const at = Math.max(0, Math.min(err.column - 1, text.length));
      const width = Math.max(1, Math.min((err.text || "").length || 1, text.length - at || 1));
      const bad = text.slice(at, at + width) || " ";
      error.append(
        h("pre", { class: "query-echo" }, text.slice(0, at), h("span", { class: "error-at" }, bad), text.slice(at + width)),
      );
      input.focus();
      input.setSelectionRange(at, Math.min(at + width, text.length));
    }
    error.append(h("div", { class: "error-message" }, err.column ? `column ${err.column}: ${err.message}` : err.message));
    error.hidden = false;
    input.setAttribute("aria-invalid", "true");
  }

  return {
    el,
    input,
    value: () => input.value,
    setValue(text) {
      input.value = text;
      clearError();
    },
    showError,
    clearError,
    /** Append a clause before any pipes (so `| stats` stays last). */
    addClause(clause) {
      const text = input.value;
      const bar = text.indexOf("|");
      const filter = (bar >= 0 ? text.slice(0, bar) : text).trim();
      const pipesPart = bar >= 0 ? ` ${text.slice(bar)}` : "";
      input.value = `${filter ? `${filter} ` : ""}${clause}${pipesPart}`;
      clearError();
      return input.value;
    },
  };
}
