// A sparkline of a pattern's trend (lines per slice of the range) as a small inline SVG: one per table row, so
// no chart library (uPlot is for the big charts).

const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 120;
const HEIGHT = 24;

/** sparkline([3, 0, 5], "title") → an <svg> with a filled area under the counts. */
export function sparkline(counts, title) {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("class", "pt-spark");
  svg.setAttribute("width", String(WIDTH));
  svg.setAttribute("height", String(HEIGHT));
  svg.setAttribute("viewBox", `0 0 ${WIDTH} ${HEIGHT}`);
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", title);
  const label = document.createElementNS(SVG, "title");
  label.textContent = title;
  svg.append(label);
  const n = counts.length;
  if (!n) return svg;
  const top = Math.max(...counts, 1);
  const step = n > 1 ? WIDTH / (n - 1) : WIDTH;
  const points = counts.map((c, i) => `${(i * step).toFixed(1)},${(HEIGHT - 1 - ((HEIGHT - 2) * c) / top).toFixed(1)}`);
  const area = document.createElementNS(SVG, "polygon");
  area.setAttribute("class", "pt-spark-area");
  area.setAttribute("points", `0,${HEIGHT} ${points.join(" ")} ${((n - 1) * step).toFixed(1)},${HEIGHT}`);
  const line = document.createElementNS(SVG, "polyline");
  line.setAttribute("class", "pt-spark-line");
  line.setAttribute("points", points.join(" "));
  svg.append(area, line);
  return svg;
}
