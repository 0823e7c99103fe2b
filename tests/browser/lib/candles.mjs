// Candle data for the chart tests that need a known session (a full day of 1-minute candles,
// or none) rather than the few minutes a fresh `feedgate demo` has: a deterministic session and
// a Playwright route that answers `/api/candles` for one symbol the way feedgate does (JSON
// array newest last, aggregated per interval, `x-candles-date` header). Every other request
// goes to feedgate.

const MINUTE = 60_000;
const IST = 330 * MINUTE;

/** IST `YYYY-MM-DD` of `ms`. */
export const istDate = (ms) => new Date(ms + IST).toISOString().slice(0, 10);
const iso = (ms) => `${new Date(ms + IST).toISOString().slice(0, 19)}+05:30`;

/** 375 one-minute candles, 09:15–15:29 IST of `date`: a seeded random walk on a 0.05 grid. */
export function fullSession(date, { seed = 7, start = 811 } = {}) {
  let x = seed;
  const rnd = () => {
    x = (x * 1103515245 + 12345) % 2147483648;
    return x / 2147483648;
  };
  const first = Date.parse(`${date}T09:15:00+05:30`);
  const out = [];
  let p = start;
  for (let i = 0; i < 375; i += 1) {
    const open = p;
    let high = open;
    let low = open;
    for (let k = 0; k < 6; k += 1) {
      p = Math.max(1, Math.round((p + (rnd() - 0.5) * 1.2) * 20) / 20);
      high = Math.max(high, p);
      low = Math.min(low, p);
    }
    out.push({ t: first + i * MINUTE, open, high, low, close: p, volume: Math.round(2000 + rnd() * 20000) });
  }
  return out;
}

/** The JSON body feedgate would send for `candles` at `minutes` per candle. */
export function candleBody(candles, minutes) {
  const groups = new Map();
  for (const c of candles) {
    const t = Math.floor(c.t / (minutes * MINUTE)) * minutes * MINUTE;
    const g = groups.get(t);
    if (!g) groups.set(t, { ...c, t });
    else {
      g.high = Math.max(g.high, c.high);
      g.low = Math.min(g.low, c.low);
      g.close = c.close;
      g.volume += c.volume;
    }
  }
  return JSON.stringify([...groups.values()].map((c) => ({ ...c, t: iso(c.t) })));
}

/**
 * Answers the page's `/api/candles` requests for `symbol` with `candles` (1-minute, aggregated
 * as asked) of `date`, `times` times (then feedgate answers again). Returns the route's
 * removal function.
 */
export async function stubCandles(page, symbol, candles, date, { times = Infinity } = {}) {
  let left = times;
  const handler = (route) => {
    const url = new URL(route.request().url());
    if (url.searchParams.get('symbol') !== symbol || left <= 0) return route.fallback();
    left -= 1;
    const minutes = { '1m': 1, '5m': 5, '15m': 15 }[url.searchParams.get('interval') ?? '1m'] ?? 1;
    return route.fulfill({
      status: 200,
      headers: { 'content-type': 'application/json', 'x-candles-date': date },
      body: candleBody(candles, minutes),
    });
  };
  await page.route('**/api/candles?*', handler);
  return () => page.unroute('**/api/candles?*', handler);
}
