// Session candles, the one data source of the row sparklines and the candle chart:
// `GET /api/candles?symbol=…&interval=1m|5m|15m` (DESIGN.md §5: a JSON array, newest last, and
// an `x-candles-date` header naming the IST day they are from) plus the `candle` messages the
// WebSocket pushes at each close (§6). `LiveCandles` keeps one symbol's series current between
// closes from live ticks: the forming candle's high, low, close and volume move with them, and
// a pushed candle replaces whatever the ticks built for its time. Pure (no DOM); `fetchCandles`
// takes the fetch function as a parameter, so all of it is unit-tested under Node.

import { isNum } from './format.js';

/** Interval name → minutes. */
export const INTERVALS = Object.freeze({ '1m': 1, '5m': 5, '15m': 15 });
const MINUTE_MS = 60_000;
const IST_OFFSET_MS = 330 * MINUTE_MS;

/** `YYYY-MM-DD` of the IST day that `ms` falls in. */
export const istDate = (ms) => new Date(ms + IST_OFFSET_MS).toISOString().slice(0, 10);

/** `HH:MM` of `ms` on the IST wall clock. */
export const istTime = (ms) => new Date(ms + IST_OFFSET_MS).toISOString().slice(11, 16);

/**
 * Start of the `minutes`-long candle that `ms` falls in. IST is UTC+05:30 and 330 is a multiple
 * of 1, 5 and 15, so buckets counted from the epoch start on the IST wall-clock boundaries.
 */
export const bucketStart = (ms, minutes) => Math.floor(ms / (minutes * MINUTE_MS)) * minutes * MINUTE_MS;

/** One candle object from the API or a `candle` message → `{ t (ms), open, high, low, close, volume }`, or null. */
export function parseCandle(c) {
  if (!c || typeof c !== 'object' || typeof c.t !== 'string') return null;
  const t = Date.parse(c.t);
  const { open, high, low, close } = c;
  if (Number.isNaN(t) || ![open, high, low, close].every(isNum)) return null;
  return { t, open, high, low, close, volume: isNum(c.volume) && c.volume >= 0 ? c.volume : 0 };
}

/** The endpoint's JSON → candles in strictly increasing time, invalid ones skipped; null if not an array. */
export function parseCandleArray(json) {
  if (!Array.isArray(json)) return null;
  const out = [];
  for (const raw of json) {
    const c = parseCandle(raw);
    if (c && (out.length === 0 || c.t > out[out.length - 1].t)) out.push(c);
  }
  return out;
}

/**
 * Fetches a symbol's session candles: `{ status, date, candles }`, where `date` is the
 * `x-candles-date` header (`YYYY-MM-DD` or null) and `candles` is null unless the answer was a
 * 200 with an array. Network failures reject.
 */
export async function fetchCandles(fetchImpl, symbol, interval, signal) {
  const url = `/api/candles?symbol=${encodeURIComponent(symbol)}&interval=${interval}`;
  const res = await fetchImpl(url, { headers: { accept: 'application/json' }, signal });
  const date = res.headers?.get?.('x-candles-date');
  let candles = null;
  let message = null;
  if (res.status === 200) {
    candles = parseCandleArray(await res.json().catch(() => null));
  } else {
    // feedgate's errors are `{"error": {"code", "message"}}`; anything else is reported by status alone.
    message = await res.json().then((b) => (typeof b?.error?.message === 'string' ? b.error.message : null), () => null);
  }
  return { status: res.status, date: /^\d{4}-\d{2}-\d{2}$/.test(date ?? '') ? date : null, candles, message };
}

/**
 * One symbol's candles at one interval, kept live. `date` is the IST session day the candles
 * belong to; ticks from another day are not mixed in (`applyTick` says `'other-day'`, and the
 * caller fetches again).
 */
export class LiveCandles {
  constructor(interval = '1m') {
    this.interval = interval;
    this.minutes = INTERVALS[interval] ?? 1;
    this.date = null;
    /** Oldest first. `final: true` once a pushed candle confirmed it. */
    this.candles = [];
    /** Start of the newest candle a `candle` message closed, or null. */
    this.closedAt = null;
    this.lastVolume = null;
  }

  /** Replaces the series with fetched candles of `date` (null: today's, by `nowMs`). */
  load(candles, date, nowMs = Date.now()) {
    this.candles = candles.map((c) => ({ ...c }));
    this.date = date ?? istDate(nowMs);
    this.lastVolume = null;
    // Everything before the bucket in progress has closed, whatever said so.
    const current = bucketStart(nowMs, this.minutes);
    for (const c of this.candles) c.final = c.t < current;
  }

  /**
   * A live ticker (`{ ltp, volume, ts, stale }`): moves the forming candle or opens the next
   * one. Returns `'changed'`, `'other-day'` (a live tick of a day these candles are not from)
   * or null (nothing to do: stale, malformed, or older than the candles).
   */
  applyTick(tick) {
    if (!tick || tick.stale === true || !isNum(tick.ltp) || typeof tick.ts !== 'string') return null;
    const ms = Date.parse(tick.ts);
    if (Number.isNaN(ms)) return null;
    if (this.date !== null && istDate(ms) !== this.date) return 'other-day';
    const vol = isNum(tick.volume) ? tick.volume : null;
    // The day's cumulative volume: the difference since the previous tick is this tick's volume.
    const traded = vol !== null && this.lastVolume !== null && vol >= this.lastVolume ? vol - this.lastVolume : 0;
    if (vol !== null) this.lastVolume = vol;
    const t = bucketStart(ms, this.minutes);
    const last = this.candles[this.candles.length - 1];
    if (last && t < last.t) return null;
    if (last && t === last.t) {
      if (last.final) return null;
      last.high = Math.max(last.high, tick.ltp);
      last.low = Math.min(last.low, tick.ltp);
      last.close = tick.ltp;
      last.volume += traded;
      return 'changed';
    }
    // A new bucket: whatever came before it has closed.
    if (last) last.final = true;
    this.candles.push({ t, open: tick.ltp, high: tick.ltp, low: tick.ltp, close: tick.ltp, volume: traded, final: false });
    return 'changed';
  }

  /** A `candle` message of this interval: the server's closed candle replaces or joins the series. */
  applyClosed(message) {
    if (!message || message.interval !== this.interval) return false;
    const c = parseCandle(message);
    if (!c) return false;
    if (this.date !== null && istDate(c.t) !== this.date) return false;
    const final = { ...c, final: true };
    let i = this.candles.length - 1;
    while (i >= 0 && this.candles[i].t > c.t) i -= 1;
    if (i >= 0 && this.candles[i].t === c.t) this.candles[i] = final;
    else this.candles.splice(i + 1, 0, final);
    if (this.closedAt === null || c.t > this.closedAt) this.closedAt = c.t;
    return true;
  }
}
