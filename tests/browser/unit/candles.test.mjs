// Unit tests of web/js/candles.js: parsing the candle endpoint, IST buckets, and keeping one
// symbol's candles live from ticks and pushed candle messages.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bucketStart, fetchCandles, istDate, istTime, LiveCandles, parseCandle, parseCandleArray } from '../../../web/js/candles.js';

const T = (hhmmss, day = '2026-11-23') => `${day}T${hhmmss}+05:30`;
const ms = (hhmmss, day) => Date.parse(T(hhmmss, day));
const raw = (hhmm, o, h, l, c, v = 100) => ({ t: T(`${hhmm}:00`), open: o, high: h, low: l, close: c, volume: v });
const tick = (hhmmss, ltp, volume, extra = {}) => ({ symbol: 'NSE:SBIN', ltp, volume, ts: T(hhmmss), src: 'ws', ...extra });

test('IST days, times and candle buckets', () => {
  assert.equal(istDate(ms('00:10:00')), '2026-11-23');
  assert.equal(istDate(ms('23:59:59')), '2026-11-23');
  assert.equal(istDate(Date.parse('2026-11-23T18:30:00Z')), '2026-11-24', 'midnight IST is 18:30 UTC');
  assert.equal(istTime(ms('09:15:42')), '09:15');
  assert.equal(bucketStart(ms('10:17:59'), 1), ms('10:17:00'));
  assert.equal(bucketStart(ms('10:17:59'), 5), ms('10:15:00'));
  assert.equal(bucketStart(ms('10:14:59'), 15), ms('10:00:00'));
  assert.equal(bucketStart(ms('09:15:00'), 15), ms('09:15:00'), 'IST quarter hours, not UTC ones');
});

test('parsing: valid candles in time order, the rest skipped', () => {
  assert.equal(parseCandleArray({ not: 'an array' }), null);
  assert.equal(parseCandle({ t: 'nope', open: 1, high: 1, low: 1, close: 1 }), null);
  assert.equal(parseCandle({ t: T('09:15:00'), open: 1, high: 1, low: 1, close: '1' }), null);
  assert.deepEqual(parseCandle({ t: T('09:15:00'), open: 1, high: 2, low: 0.5, close: 1.5 }), { t: ms('09:15:00'), open: 1, high: 2, low: 0.5, close: 1.5, volume: 0 });
  const list = parseCandleArray([raw('09:15', 1, 2, 1, 2), null, raw('09:15', 9, 9, 9, 9), raw('09:17', 2, 3, 2, 3), raw('09:16', 5, 5, 5, 5)]);
  assert.deepEqual(list.map((c) => istTime(c.t)), ['09:15', '09:17']);
});

test('fetch: the URL, the session date header, and errors', async () => {
  const calls = [];
  const answer = (status, body, date) => async (url) => {
    calls.push(url);
    return { status, headers: new Map([['x-candles-date', date]]), json: async () => body };
  };
  let r = await fetchCandles(answer(200, [raw('09:15', 1, 1, 1, 1)], '2026-11-20'), 'NSE:M&M', '5m');
  assert.equal(calls[0], '/api/candles?symbol=NSE%3AM%26M&interval=5m');
  assert.equal(r.date, '2026-11-20');
  assert.equal(r.candles.length, 1);
  r = await fetchCandles(answer(400, { error: { code: 'bad_request', message: 'NSE:NOPE: unknown instrument' } }, null), 'NSE:NOPE', '1m');
  assert.deepEqual(r, { status: 400, date: null, candles: null, message: 'NSE:NOPE: unknown instrument' });
  r = await fetchCandles(answer(200, '<html>', 'garbage'), 'NSE:SBIN', '1m');
  assert.equal(r.candles, null);
  assert.equal(r.date, null);
});

test('live 1-minute candles: ticks move the forming candle and open the next', () => {
  const s = new LiveCandles('1m');
  s.load(parseCandleArray([raw('10:14', 100, 101, 99, 100.5, 1000), raw('10:15', 100.5, 100.5, 100.5, 100.5, 10)]), '2026-11-23', ms('10:15:20'));
  assert.deepEqual(s.candles.map((c) => c.final), [true, false], 'only the current minute is still forming');
  assert.equal(s.applyTick(tick('10:15:30', 101, 5000)), 'changed', 'the first tick sets the volume baseline');
  assert.equal(s.applyTick(tick('10:15:40', 99.5, 5200)), 'changed');
  let last = s.candles.at(-1);
  assert.deepEqual([last.open, last.high, last.low, last.close, last.volume], [100.5, 101, 99.5, 99.5, 210]);
  assert.equal(s.applyTick(tick('10:16:01', 99.8, 5250)), 'changed');
  assert.equal(s.candles.length, 3);
  assert.equal(s.candles[1].final, true, 'a new minute closes the one before');
  last = s.candles.at(-1);
  assert.deepEqual([istTime(last.t), last.open, last.close, last.volume], ['10:16', 99.8, 99.8, 50]);
  assert.equal(s.applyTick(tick('10:15:59', 1, 5300)), null, 'a late tick does not rewrite a closed minute');
  assert.equal(s.applyTick(tick('10:16:05', 99.9, 5300, { stale: true })), null, 'last known values are not trades');
  assert.equal(s.applyTick({ ...tick('10:16:06', 99.9, 1), ts: 'bad' }), null);
  assert.equal(s.applyTick(tick('09:15:00', 99.9, 1)), null, 'older than the candles');
  assert.equal(s.applyTick({ ...tick('09:15:00', 99.9, 1), ts: T('09:15:00', '2026-11-24') }), 'other-day');
});

test('pushed candles replace what the ticks built, at their interval only', () => {
  const s = new LiveCandles('5m');
  s.load([], '2026-11-23', ms('10:12:00'));
  s.applyTick(tick('10:12:10', 100, 1000));
  s.applyTick(tick('10:14:50', 102, 1100));
  assert.equal(s.candles.length, 1);
  assert.equal(istTime(s.candles[0].t), '10:10');
  const msg = { type: 'candle', symbol: 'NSE:SBIN', interval: '5m', t: T('10:10:00'), open: 99, high: 103, low: 98, close: 102, volume: 4321 };
  assert.equal(s.applyClosed({ ...msg, interval: '1m' }), false, 'another interval');
  assert.equal(s.applyClosed({ ...msg, t: T('10:10:00', '2026-11-22') }), false, 'another day');
  assert.equal(s.applyClosed(msg), true);
  assert.deepEqual(s.candles, [{ t: ms('10:10:00'), open: 99, high: 103, low: 98, close: 102, volume: 4321, final: true }]);
  assert.equal(s.closedAt, ms('10:10:00'));
  assert.equal(s.applyTick(tick('10:14:59', 200, 1200)), null, 'a confirmed candle stays as the server sent it');
  // A candle pushed for a bucket the page never saw is inserted in order.
  s.applyTick(tick('10:20:00', 101, 1300));
  assert.equal(s.applyClosed({ ...msg, t: T('10:15:00'), close: 100.5 }), true);
  assert.deepEqual(s.candles.map((c) => istTime(c.t)), ['10:10', '10:15', '10:20']);
});
