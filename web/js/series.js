// Per-symbol price series for the sparklines. Two sources:
//   1. the session's 1-minute candles from GET /api/candles (when the gateway answers 200),
//      the same data the candle chart draws (candles.js; an open chart hands its 1-minute
//      candles and pushed closes over too), kept current by live ticks (the last candle's
//      close moves; a new minute adds a point);
//   2. the ticks this page has received, in time buckets that double in width whenever the
//      series would grow past its point budget (so the whole session fits and the x axis
//      stays uniform in time).
// The candles draw once they cover a stretch of the session; until then (or without the
// endpoint) the ticks do.
// Store and parsing are pure; CandleFetcher does the HTTP.

import { bucketStart, fetchCandles, istDate, parseCandleArray } from './candles.js';
import { isNum } from './format.js';

export const MAX_TICK_POINTS = 240;
/** Candles start drawing the sparkline once they cover this many minutes. */
export const MIN_CANDLE_POINTS = 15;
const FIRST_BUCKET_MS = 1000;

/** Candles from the endpoint's JSON (`[{t, open, high, low, close, volume}]`, newest last) → points, or null. */
export function parseCandles(json) {
  return toPoints(parseCandleArray(json));
}

/** Parsed candles (candles.js) → sparkline points `{ k: start ms, v: close }`. */
const toPoints = (candles) => candles?.map((c) => ({ k: c.t, v: c.close })) ?? null;

export class SeriesStore {
  /** symbol → { candles: points | null, date: IST day of the candles, bucketMs, ticks: points } */
  #series = new Map();
  #maxTickPoints;

  constructor(maxTickPoints = MAX_TICK_POINTS) {
    this.#maxTickPoints = Math.max(4, maxTickPoints);
  }

  #entry(symbol) {
    let s = this.#series.get(symbol);
    if (!s) {
      s = { candles: null, date: null, bucketMs: FIRST_BUCKET_MS, ticks: [] };
      this.#series.set(symbol, s);
    }
    return s;
  }

  /**
   * The points to draw: the candles once they cover a useful stretch of the session (or are
   * at least as detailed as the page's own ticks), else the ticks; early in a session the
   * page's ticks draw a finer line than a handful of one-minute candles.
   */
  #points(s) {
    if (s.candles && (s.candles.length >= MIN_CANDLE_POINTS || s.candles.length >= s.ticks.length)) return s.candles;
    return s.ticks;
  }

  /** The closing values to draw, oldest first. */
  values(symbol) {
    const s = this.#series.get(symbol);
    return s ? this.#points(s).map((p) => p.v) : [];
  }

  /** Whether the values drawn come from the candle endpoint. */
  fromCandles(symbol) {
    const s = this.#series.get(symbol);
    return Boolean(s?.candles) && this.#points(s) === s.candles;
  }

  /**
   * Sets a symbol's candle points (`{ k: start ms, v: close }`) of IST day `date` (null: the
   * day of the last one); false (and nothing changes) when there are none.
   */
  setCandles(symbol, points, date = null) {
    if (!Array.isArray(points) || points.length === 0) return false;
    const s = this.#entry(symbol);
    s.candles = points.map((p) => ({ k: p.k, v: p.v }));
    s.date = date ?? istDate(s.candles[s.candles.length - 1].k);
    return true;
  }

  /** Sets a symbol's candles from parsed 1-minute candles (candles.js), e.g. the chart's. */
  setFromCandles(symbol, candles, date) {
    return this.setCandles(symbol, toPoints(candles), date);
  }

  /** A closed 1-minute candle pushed by the server: its close is the point for that minute. */
  closeMinute(symbol, t, close) {
    const s = this.#series.get(symbol);
    if (!s?.candles || !isNum(close) || istDate(t) !== s.date) return false;
    const i = s.candles.findIndex((p) => p.k >= t);
    if (i < 0) s.candles.push({ k: t, v: close });
    else if (s.candles[i].k === t) s.candles[i].v = close;
    else s.candles.splice(i, 0, { k: t, v: close });
    return true;
  }

  /**
   * Adds a live price; `ts` is the tick's exchange time, `nowMs` the receive time. Only live
   * ticks belong here: a last-known value is no point of the session's line.
   */
  addTick(symbol, ltp, ts, nowMs) {
    if (!isNum(ltp)) return;
    const s = this.#entry(symbol);
    const at = typeof ts === 'string' ? Date.parse(ts) : Number.NaN;
    if (s.candles && !Number.isNaN(at)) {
      if (istDate(at) !== s.date) {
        // A new session started: the previous one's candles give way to today's ticks (and
        // to today's candles once they are fetched).
        s.candles = null;
        s.date = null;
      } else {
        const last = s.candles[s.candles.length - 1];
        const k = bucketStart(at, 1);
        if (!(last && k < last.k)) {
          if (last && last.k === k) last.v = ltp;
          else s.candles.push({ k, v: ltp });
        }
      }
    }
    const k = Math.floor(nowMs / s.bucketMs);
    const last = s.ticks[s.ticks.length - 1];
    if (last && last.k === k) {
      last.v = ltp;
      return;
    }
    s.ticks.push({ k, v: ltp });
    while (s.ticks.length > this.#maxTickPoints) {
      // Double the bucket width: merge neighbours, keeping each new bucket's last price.
      s.bucketMs *= 2;
      const merged = [];
      for (const p of s.ticks) {
        const nk = Math.floor(p.k / 2);
        const tail = merged[merged.length - 1];
        if (tail && tail.k === nk) tail.v = p.v;
        else merged.push({ k: nk, v: p.v });
      }
      s.ticks = merged;
    }
  }

  forget(symbol) {
    this.#series.delete(symbol);
  }
}

/** How long a "this gateway has no candle endpoint" verdict holds before asking again. */
const ABSENT_RETRY_MS = 5 * 60_000;
/**
 * Candles of a visible symbol are fetched again after this long while they are too few to
 * draw (early in the session), and after the longer interval once they draw the sparkline
 * (live ticks keep them current in between; the refetch mends gaps such as an offline spell).
 */
const REFETCH_SHORT_MS = 60_000;
const REFETCH_LONG_MS = 10 * 60_000;

export class CandleFetcher {
  #store;
  #fetch;
  #onUpdate;
  #absentUntil = 0;
  /** Whether the endpoint has answered 200 since it was last found missing. */
  #known = false;
  #fetchedAt = new Map();
  #inFlight = new Set();

  constructor(store, onUpdate, fetchImpl = globalThis.fetch.bind(globalThis)) {
    this.#store = store;
    this.#onUpdate = onUpdate;
    this.#fetch = fetchImpl;
  }

  /** Loads the session's candles for a symbol that just became visible, when worthwhile. */
  async want(symbol) {
    const now = Date.now();
    if (now < this.#absentUntil || this.#inFlight.has(symbol)) return;
    // Until one answer says whether the endpoint exists, ask for one symbol at a time.
    if (!this.#known && this.#inFlight.size > 0) return;
    const every = this.#store.fromCandles(symbol) ? REFETCH_LONG_MS : REFETCH_SHORT_MS;
    if (now - (this.#fetchedAt.get(symbol) ?? -Infinity) < every) return;
    this.#inFlight.add(symbol);
    this.#fetchedAt.set(symbol, now);
    try {
      const res = await fetchCandles(this.#fetch, symbol, '1m');
      if (res.status === 404 || res.status === 405 || res.status === 501) {
        // This gateway has no candle endpoint (yet): live ticks draw the sparklines.
        this.#absentUntil = Date.now() + ABSENT_RETRY_MS;
        this.#known = false;
        return;
      }
      if (res.status !== 200) return;
      this.#known = true;
      if (res.candles && this.#store.setFromCandles(symbol, res.candles, res.date)) this.#onUpdate(symbol);
    } catch {
      // Network trouble or a malformed body: keep drawing from ticks.
    } finally {
      this.#inFlight.delete(symbol);
    }
  }
}
