// Per-symbol price series for the sparklines. Two sources, best first:
//   1. the session's 1-minute candles from GET /api/candles (when the gateway answers 200),
//      kept current by live ticks (the last candle's close moves; a new minute adds a point);
//   2. otherwise the ticks this page has received, in time buckets that double in width
//      whenever the series would grow past its point budget (so the whole session fits and
//      the x axis stays uniform in time).
// Store and parsing are pure; CandleFetcher does the HTTP.

import { isNum, minuteKey } from './format.js';

export const MAX_TICK_POINTS = 240;
const FIRST_BUCKET_MS = 1000;

/** Candles from the endpoint's JSON (`[{t, open, high, low, close, volume}]`, newest last) → points, or null. */
export function parseCandles(json) {
  if (!Array.isArray(json)) return null;
  const points = [];
  for (const c of json) {
    if (!c || typeof c !== 'object' || !isNum(c.close)) continue;
    const k = minuteKey(c.t);
    if (k === null) continue;
    if (points.length > 0 && points[points.length - 1].k >= k) continue;
    points.push({ k, v: c.close });
  }
  return points;
}

export class SeriesStore {
  #series = new Map();
  #maxTickPoints;

  constructor(maxTickPoints = MAX_TICK_POINTS) {
    this.#maxTickPoints = Math.max(4, maxTickPoints);
  }

  /** The closing values to draw, oldest first. */
  values(symbol) {
    const s = this.#series.get(symbol);
    return s ? s.points.map((p) => p.v) : [];
  }

  /** Whether the series comes from the candle endpoint. */
  fromCandles(symbol) {
    return this.#series.get(symbol)?.candles === true;
  }

  /** Replaces a symbol's series with candles; false (and nothing changes) when there are none. */
  setCandles(symbol, points) {
    if (!Array.isArray(points) || points.length === 0) return false;
    this.#series.set(symbol, { candles: true, points: points.map((p) => ({ k: p.k, v: p.v })) });
    return true;
  }

  /** Adds a live price; `ts` is the tick's exchange time, `nowMs` the receive time. */
  addTick(symbol, ltp, ts, nowMs) {
    if (!isNum(ltp)) return;
    let s = this.#series.get(symbol);
    if (!s) {
      s = { candles: false, bucketMs: FIRST_BUCKET_MS, points: [] };
      this.#series.set(symbol, s);
    }
    const last = s.points[s.points.length - 1];
    if (s.candles) {
      const k = minuteKey(ts);
      if (k === null || (last && k < last.k)) return;
      if (last && last.k === k) last.v = ltp;
      else s.points.push({ k, v: ltp });
      return;
    }
    const k = Math.floor(nowMs / s.bucketMs);
    if (last && last.k === k) {
      last.v = ltp;
      return;
    }
    s.points.push({ k, v: ltp });
    while (s.points.length > this.#maxTickPoints) {
      // Double the bucket width: merge neighbours, keeping each new bucket's last price.
      s.bucketMs *= 2;
      const merged = [];
      for (const p of s.points) {
        const nk = Math.floor(p.k / 2);
        const tail = merged[merged.length - 1];
        if (tail && tail.k === nk) tail.v = p.v;
        else merged.push({ k: nk, v: p.v });
      }
      s.points = merged;
    }
  }

  forget(symbol) {
    this.#series.delete(symbol);
  }
}

/** How long a "this gateway has no candle endpoint" verdict holds before asking again. */
const ABSENT_RETRY_MS = 5 * 60_000;
/** Candles of a symbol are fetched again at most this often (e.g. when its page reopens). */
const REFETCH_MS = 60_000;

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
    if (now - (this.#fetchedAt.get(symbol) ?? -Infinity) < REFETCH_MS) return;
    this.#inFlight.add(symbol);
    this.#fetchedAt.set(symbol, now);
    try {
      const url = `/api/candles?symbol=${encodeURIComponent(symbol)}&interval=1m`;
      const res = await this.#fetch(url, { headers: { accept: 'application/json' } });
      if (res.status === 404 || res.status === 405 || res.status === 501) {
        // This gateway has no candle endpoint (yet): live ticks draw the sparklines.
        this.#absentUntil = Date.now() + ABSENT_RETRY_MS;
        this.#known = false;
        return;
      }
      if (res.status !== 200) return;
      this.#known = true;
      const points = parseCandles(await res.json());
      if (points && this.#store.setCandles(symbol, points)) this.#onUpdate(symbol);
    } catch {
      // Network trouble or a malformed body: keep drawing from ticks.
    } finally {
      this.#inFlight.delete(symbol);
    }
  }
}
