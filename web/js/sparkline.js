// Sparklines as inline SVG: a polyline of the session's prices with a dashed line at the
// previous close. `sparkGeometry` is pure (unit-tested); `drawSparkline` updates an <svg>.

export const WIDTH = 88;
export const HEIGHT = 26;
const PAD = 2;
const SVG_NS = 'http://www.w3.org/2000/svg';

/**
 * Polyline points for `values` in a WIDTH×HEIGHT box, and the y of `reference` (the previous
 * close): `{ points: "x,y x,y …", refY }`, or null with fewer than two values. The vertical
 * range is the session's own, so its shape shows even when the day's move is large; the
 * dashed reference line is drawn (refY not null) only when the close lies inside that range.
 */
export function sparkGeometry(values, reference, width = WIDTH, height = HEIGHT) {
  const vs = values.filter((v) => Number.isFinite(v));
  if (vs.length < 2) return null;
  const lo = Math.min(...vs);
  const hi = Math.max(...vs);
  const hasRef = Number.isFinite(reference) && reference >= lo && reference <= hi;
  const span = hi - lo;
  const y = (v) => (span === 0 ? height / 2 : PAD + ((hi - v) / span) * (height - 2 * PAD));
  const step = (width - 2 * PAD) / (vs.length - 1);
  const round = (n) => Math.round(n * 10) / 10;
  const points = vs.map((v, i) => `${round(PAD + i * step)},${round(y(v))}`).join(' ');
  return { points, refY: hasRef ? round(y(reference)) : null };
}

/** Makes the (empty) sparkline element for a row. */
export function createSparkline(doc) {
  const svg = doc.createElementNS(SVG_NS, 'svg');
  svg.setAttribute('viewBox', `0 0 ${WIDTH} ${HEIGHT}`);
  svg.setAttribute('width', String(WIDTH));
  svg.setAttribute('height', String(HEIGHT));
  svg.setAttribute('class', 'spark');
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', 'No price history yet');
  const ref = doc.createElementNS(SVG_NS, 'line');
  ref.setAttribute('class', 'spark-ref');
  ref.setAttribute('x1', '0');
  ref.setAttribute('x2', String(WIDTH));
  ref.setAttribute('visibility', 'hidden');
  const line = doc.createElementNS(SVG_NS, 'polyline');
  line.setAttribute('class', 'spark-line');
  line.setAttribute('points', '');
  svg.append(ref, line);
  return svg;
}

/** Draws `values` (oldest first) into a sparkline; `label` is its accessible description. */
export function drawSparkline(svg, values, reference, label) {
  const [ref, line] = svg.children;
  const g = sparkGeometry(values, reference);
  if (!g) {
    line.setAttribute('points', '');
    ref.setAttribute('visibility', 'hidden');
    svg.setAttribute('aria-label', 'No price history yet');
    return;
  }
  line.setAttribute('points', g.points);
  if (g.refY === null) {
    ref.setAttribute('visibility', 'hidden');
  } else {
    ref.setAttribute('y1', String(g.refY));
    ref.setAttribute('y2', String(g.refY));
    ref.setAttribute('visibility', 'visible');
  }
  svg.dataset.trend = sparkTrend(values);
  svg.setAttribute('aria-label', label);
}

/**
 * The line's own direction, first point to last: a line that falls all afternoon is red even
 * on a day that is still up against the previous close (the change column says that).
 */
export function sparkTrend(values) {
  const vs = values.filter((v) => Number.isFinite(v));
  if (vs.length < 2) return 'flat';
  const first = vs[0];
  const last = vs[vs.length - 1];
  return last > first ? 'up' : last < first ? 'down' : 'flat';
}
