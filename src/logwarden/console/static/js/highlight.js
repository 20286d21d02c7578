// Match highlighting: the query's free-text words and phrases, marked in messages.

const WORD = "\\p{L}\\p{M}\\p{N}_";

/** Free-text terms of a query's filter (field:value, operators, negations and pipes left out). */
export function queryTerms(query) {
  const filter = query.split("|")[0];
  const terms = [];
  const re = /(-?)"((?:[^"\\]|\\.)*)"|(\S+)/g;
  let m;
  while ((m = re.exec(filter))) {
    if (m[2] !== undefined) {
      if (!m[1] && m[2]) terms.push(m[2].replace(/\\(.)/g, "$1"));
      continue;
    }
    const word = m[3].replace(/^[(]+|[)]+$/g, "");
    if (!word || word.startsWith("-") || word.includes(":") || /^(AND|OR|NOT|TO)$/.test(word)) continue;
    terms.push(word);
  }
  return terms;
}

/** A regex for the terms as whole words, case-insensitive (`*` and `?` as in the language), or null. */
export function termsRegex(terms) {
  if (!terms.length) return null;
  const parts = terms.map((t) =>
    t
      .split("")
      .map((c) => (c === "*" ? `[${WORD}]*` : c === "?" ? `[${WORD}]` : c.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")))
      .join(""),
  );
  try {
    return new RegExp(`(?<![${WORD}])(?:${parts.join("|")})(?![${WORD}])`, "giu");
  } catch {
    return null;
  }
}

/** Set `el`'s text to `text` with the regex's matches in <mark>. */
export function appendHighlighted(el, text, regex) {
  const value = text ?? "";
  if (!regex || !value) {
    el.textContent = value;
    return el;
  }
  regex.lastIndex = 0;
  let last = 0;
  let marked = false;
  let m;
  while ((m = regex.exec(value))) {
    if (m[0] === "") {
      regex.lastIndex++;
      continue;
    }
    if (m.index > last) el.append(value.slice(last, m.index));
    const mark = document.createElement("mark");
    mark.textContent = m[0];
    el.append(mark);
    last = m.index + m[0].length;
    marked = true;
  }
  if (!marked) el.textContent = value;
  else if (last < value.length) el.append(value.slice(last));
  return el;
}

/** `field:value` (or `-field:value`) with the value quoted when the language needs it. */
export function filterClause(field, value, negate = false) {
  const text = String(value ?? "");
  const plain = /^[\p{L}\p{N}_.@-]+$/u.test(text) && !/^(AND|OR|NOT|TO)$/.test(text) && !text.startsWith("-");
  const shown = plain ? text : `"${text.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
  return `${negate ? "-" : ""}${field}:${shown}`;
}
