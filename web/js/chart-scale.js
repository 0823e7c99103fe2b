// The candle chart's geometry, as pure functions (unit-tested under Node): the plot's layout in
// a width × height box, "nice" price-axis values, IST time-axis labels, and the candles, wicks
// and volume bars as SVG path data (a handful of <path> elements however many candles, so a
// redraw on every tick stays cheap).

const MINUTE_MS = 60_000;
const IST_OFFSET_MS = 330 * MINUTE_MS;

/** Narrowest spacing of candles; more candles than fit at this pitch are windowed. */
export const MIN_PITCH = 6;
/** Widest candle body. */
const MAX_BODY = 14;
const PAD = { top: 10, left: 6, bottom: 22, gap: 8 };
/** Room on the right for the price labels, in px per character (12 px system font) plus padding. */
const CHAR_PX = 7.2;

/** The smallest 1, 2, 2.5 or 5 × 10^k that is at least `rough`. */
export function niceStep(rough) {
  if (!(rough > 0) || !Number.isFinite(rough)) return 1;
  const mag = 10 ** Math.floor(Math.log10(rough));
  for (const m of [1, 2, 2.5, 5, 10]) {
    if (m * mag >= rough * (1 - 1e-9)) return m * mag;
  }
  return 10 * mag;
}

/** The low and high of `candles` widened a little (and around a flat price), for the y axis. */
export function priceRange(candles) {
  let lo = Infinity;
  let hi = -Infinity;
  for (const c of candles) {
    if (c.low < lo) lo = c.low;
    if (c.high > hi) hi = c.high;
  }
  if (!Number.isFinite(lo)) return { lo: 0, hi: 1 };
  const span = hi - lo;
  const pad = span > 0 ? span * 0.06 : Math.max(Math.abs(hi) * 0.001, 0.05);
  return { lo: lo - pad, hi: hi + pad };
}

/** Round values for the price axis inside [lo, hi]: about `count` of them. */
export function priceTicks(lo, hi, count = 5) {
  const step = niceStep((hi - lo) / Math.max(1, count));
  const out = [];
  const first = Math.ceil(lo / step - 1e-9) * step;
  for (let v = first; v <= hi + step * 1e-9 && out.length < 50; v += step) {
    out.push(Math.round(v / step) * step);
  }
  return out;
}

/** Label spacings on the time axis, in minutes. */
const TIME_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 180, 240];

/**
 * Which candles get a time label: those starting on a round IST time (a multiple of the
 * smallest spacing in TIME_STEPS that keeps labels `minGapPx` apart at `pitch` px per candle).
 * Returns indices into `times` (candle start times in ms).
 */
export function timeTicks(times, intervalMin, pitch, minGapPx = 56) {
  const stepMin = TIME_STEPS.find((s) => s >= intervalMin && (s / intervalMin) * pitch >= minGapPx) ?? TIME_STEPS[TIME_STEPS.length - 1];
  const out = [];
  let lastX = -Infinity;
  times.forEach((t, i) => {
    const wall = Math.round((t + IST_OFFSET_MS) / MINUTE_MS);
    // Spaced by index too: a gap in the session (no candles) must not crowd two labels.
    if (wall % stepMin === 0 && (i - lastX) * pitch >= minGapPx) {
      out.push(i);
      lastX = i;
    }
  });
  // The first candle gets a label too when there is room before the first round one, so a
  // short series (early in the session) still says when it starts.
  if (times.length > 0 && out[0] !== 0 && (out.length === 0 || out[0] * pitch >= minGapPx)) out.unshift(0);
  return out;
}

/**
 * The plot's layout for `count` candles (at most `visibleMax(width)` of them) in a
 * width × height box: `{ x0, x1, priceTop, priceBottom, volTop, volBottom, pitch, body, axisX }`.
 * `labelChars` is the length of the longest price label.
 */
export function layout(width, height, count, { labelChars = 8, volume = true } = {}) {
  const axisW = Math.ceil(labelChars * CHAR_PX) + 14;
  const x0 = PAD.left;
  const x1 = Math.max(x0 + 10, width - axisW);
  const bottom = height - PAD.bottom;
  const volH = volume ? Math.round((bottom - PAD.top) * 0.2) : 0;
  const volBottom = bottom;
  const volTop = bottom - volH;
  const priceBottom = volume ? volTop - PAD.gap : bottom;
  const pitch = (x1 - x0) / Math.max(1, count);
  const body = Math.max(1, Math.min(MAX_BODY, Math.floor(pitch * 0.7)));
  return { x0, x1, priceTop: PAD.top, priceBottom, volTop, volBottom, pitch, body, axisX: x1 + 6 };
}

/** How many candles fit in a plot `width` px wide without squeezing below MIN_PITCH. */
export function visibleMax(width, labelChars = 8) {
  const l = layout(width, 100, 1, { labelChars });
  return Math.max(1, Math.floor((l.x1 - l.x0) / MIN_PITCH));
}

const r1 = (n) => Math.round(n * 10) / 10;

/** Maps a price to y in the layout. */
export const yOf = (geo, lo, hi, v) => geo.priceTop + ((hi - v) / (hi - lo || 1)) * (geo.priceBottom - geo.priceTop);

/** x of the centre of candle `i` (pixel-aligned, so 1 px lines stay sharp). */
export const xOf = (geo, i) => Math.floor(geo.x0 + (i + 0.5) * geo.pitch) + 0.5;

/**
 * SVG path data for `candles` in `geo`: `{ upBody, downBody, upWick, downWick, volume }`.
 * Up candles (close ≥ open) are hollow, down candles filled: the shape tells them apart
 * without colour.
 */
export function candlePaths(candles, geo, lo, hi) {
  const up = { body: [], wick: [] };
  const down = { body: [], wick: [] };
  const vol = [];
  let maxVol = 0;
  for (const c of candles) if (c.volume > maxVol) maxVol = c.volume;
  const half = geo.body / 2;
  candles.forEach((c, i) => {
    const side = c.close >= c.open ? up : down;
    const x = xOf(geo, i);
    const yHigh = yOf(geo, lo, hi, c.high);
    const yLow = yOf(geo, lo, hi, c.low);
    const yTop = yOf(geo, lo, hi, Math.max(c.open, c.close));
    const yBot = yOf(geo, lo, hi, Math.min(c.open, c.close));
    if (geo.body >= 3) {
      // Wick above and below the body (a hollow body shows no line through it).
      if (yTop - yHigh > 0.5) side.wick.push(`M${x} ${r1(yHigh)}V${r1(yTop)}`);
      if (yLow - yBot > 0.5) side.wick.push(`M${x} ${r1(yBot)}V${r1(yLow)}`);
      const h = Math.max(1, yBot - yTop);
      const left = Math.round(x - half) + 0.5;
      side.body.push(`M${left} ${r1(yTop)}h${geo.body - 1}v${r1(h)}h${1 - geo.body}Z`);
    } else {
      // Too narrow for a body (only when a caller ignores visibleMax): the high–low line.
      side.wick.push(`M${x} ${r1(yHigh)}V${r1(Math.max(yLow, yHigh + 1))}`);
    }
    if (maxVol > 0 && c.volume > 0) {
      const h = Math.max(1, ((geo.volBottom - geo.volTop) * c.volume) / maxVol);
      vol.push(`M${Math.round(x - half)} ${r1(geo.volBottom - h)}h${geo.body}v${r1(h)}h${-geo.body}Z`);
    }
  });
  return {
    upBody: up.body.join(''),
    downBody: down.body.join(''),
    upWick: up.wick.join(''),
    downWick: down.wick.join(''),
    volume: vol.join(''),
    maxVol,
  };
}
