// Downloads as NDJSON or CSV, built in the browser from the API's answer.

import { cellText } from "../dom.js";
import { allFields } from "./rows.js";

function csvCell(value) {
  const text = cellText(value);
  return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** CSV of hits: the core fields, then every attribute key seen. */
export function hitsCsv(hits) {
  const names = [];
  const seen = new Set();
  for (const hit of hits) {
    for (const [name] of allFields(hit)) {
      if (!seen.has(name)) {
        seen.add(name);
        names.push(name);
      }
    }
  }
  const rows = hits.map((hit) => {
    const values = new Map(allFields(hit));
    return names.map((n) => csvCell(values.get(n))).join(",");
  });
  return [names.map(csvCell).join(","), ...rows].join("\n") + "\n";
}

export function tableCsv(result) {
  const head = result.columns.map((c) => csvCell(c.name)).join(",");
  return [head, ...result.rows.map((r) => r.map(csvCell).join(","))].join("\n") + "\n";
}

export function hitsNdjson(hits) {
  return hits.map((h) => JSON.stringify(h)).join("\n") + "\n";
}

export function tableNdjson(result) {
  return result.rows.map((r) => JSON.stringify(Object.fromEntries(result.columns.map((c, i) => [c.name, r[i]])))).join("\n") + "\n";
}

export function saveFile(name, text, type) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
