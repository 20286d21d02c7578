// A small YAML writer for JSON values (the alerting config in the editor): block style, strings quoted the JSON
// way (a valid YAML double-quoted scalar) unless plainly safe, so what is shown loads back as the same value.

const PLAIN = /^[A-Za-z_][A-Za-z0-9_.\/-]*$/;
const WORDS = new Set(["true", "false", "null", "yes", "no", "on", "off", "y", "n"]);

function scalar(value) {
  if (value === null || value === undefined) return "null";
  if (typeof value === "string") return PLAIN.test(value) && !WORDS.has(value.toLowerCase()) ? value : JSON.stringify(value);
  return String(value);
}

function isLeaf(value) {
  return value === null || typeof value !== "object" || (Array.isArray(value) ? value.length === 0 : Object.keys(value).length === 0);
}

function leaf(value) {
  if (Array.isArray(value)) return "[]";
  if (value !== null && typeof value === "object") return "{}";
  return scalar(value);
}

function lines(value, indent) {
  if (Array.isArray(value)) {
    return value.flatMap((item) => {
      if (isLeaf(item)) return [`${indent}- ${leaf(item)}`];
      const inner = lines(item, `${indent}  `);
      return [`${indent}- ${inner[0].slice(indent.length + 2)}`, ...inner.slice(1)];
    });
  }
  return Object.entries(value).flatMap(([key, item]) =>
    isLeaf(item) ? [`${indent}${scalar(key)}: ${leaf(item)}`] : [`${indent}${scalar(key)}:`, ...lines(item, `${indent}  `)],
  );
}

/** `value` (JSON) as YAML text. */
export function toYaml(value) {
  return isLeaf(value) ? `${leaf(value)}\n` : `${lines(value, "").join("\n")}\n`;
}
