// An alert's sparkline: its group's matching lines per window over the last hour (the alert's own search,
// GET /api/v1/histogram), drawn as a small SVG line, with the window's threshold dashed when the rule
// counts lines. Answers are kept for a minute so the page's 10 s refresh does not ask again.

import { apiGet } from "../api.js";
import { h } from "../dom.js";

const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 120;
const HEIGHT = 24;
const RANGE_S = 3600;
const MAX_POINTS = 60;
const KEEP_MS = 60000;
const UNITS = { s: 1, m: 60, h: 3600, d: 86400 };
const cache = new Map(); // fingerprint → {at, data}

/** Seconds of a window such as "1m" or "90s" (null when it does not read). */
export function windowSeconds(text) {
  const m = /^(\d+)(s|m|h|d)$/.exec(String(text || "").trim());
  return m ? Number(m[1]) * UNITS[m[2]] : null;
}

/** The histogram request for an alert: per window when the hour holds at most MAX_POINTS of them. */
export function sparkRequest(alert) {
  const q = alert.search?.q;
  if (!q) return null;
  const window = windowSeconds(alert.window);
  const perWindow = window && RANGE_S / window <= MAX_POINTS;
  return { q, start: `now-${RANGE_S / 60}m`, ...(perWindow ? { interval: alert.window } : { buckets: MAX_POINTS }) };
}

function svg(tag, attrs) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

function draw(el, data, alert, perWindow) {
  const counts = data.buckets.map((b) => b.count);
  const threshold = perWindow && Number.isFinite(Number(alert.threshold)) ? Number(alert.threshold) : null;
  const top = Math.max(1, ...counts, threshold ?? 0);
  const x = (i) => (counts.length > 1 ? (i / (counts.length - 1)) * WIDTH : WIDTH / 2);
  const y = (v) => HEIGHT - 1 - (v / top) * (HEIGHT - 2);
  const box = svg("svg", { width: WIDTH, height: HEIGHT, viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: "img" });
  if (threshold !== null) box.append(svg("line", { x1: 0, x2: WIDTH, y1: y(threshold), y2: y(threshold), class: "al-spark-threshold" }));
  box.append(svg("polyline", { points: counts.map((c, i) => `${x(i).toFixed(1)},${y(c).toFixed(1)}`).join(" "), class: "al-spark-line" }));
  const peak = Math.max(0, ...counts);
  const unit = perWindow ? `per ${alert.window}` : `per ${Math.round(data.interval_seconds / 60) || 1} min`;
  box.setAttribute("aria-label", `matching lines ${unit} over the last hour, at most ${peak}`);
  el.replaceChildren(box, h("span", { class: "al-spark-label muted" }, `lines ${unit}, 1 h`));
  el.title = `The alert's group's matching lines ${unit} over the last hour (at most ${peak})${threshold !== null ? `; dashed: the threshold ${threshold}` : ""}`;
  el.dataset.points = String(counts.length);
  el.dataset.peak = String(peak);
}

/** A sparkline element for `alert` (empty when it has no search); filled when the histogram answers. */
export function sparkline(alert) {
  const request = sparkRequest(alert);
  const el = h("span", { class: "al-spark" });
  if (!request) return el;
  const perWindow = "interval" in request;
  const kept = cache.get(alert.fingerprint);
  if (kept && Date.now() - kept.at < KEEP_MS) {
    draw(el, kept.data, alert, perWindow);
    return el;
  }
  apiGet("/api/v1/histogram", request)
    .then((data) => {
      cache.set(alert.fingerprint, { at: Date.now(), data });
      draw(el, data, alert, perWindow);
    })
    .catch(() => el.replaceChildren()); // a sparkline is an extra: the card stands without it
  return el;
}
