// Unit tests of web/js/series.js, web/js/sparkline.js and web/js/pager.js: sparkline data from
// candles or ticks, its geometry, and the page-button window.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pageWindow } from '../../../web/js/pager.js';
import { CandleFetcher, MIN_CANDLE_POINTS, parseCandles, SeriesStore } from '../../../web/js/series.js';
import { HEIGHT, sparkGeometry, sparkTrend, WIDTH } from '../../../web/js/sparkline.js';

const candle = (t, close) => ({ t, open: close, high: close, low: close, close, volume: 1 });

test('candles: valid ones kept in time order, the rest skipped', () => {
  assert.equal(parseCandles({ not: 'an array' }), null);
  const points = parseCandles([
    candle('2026-11-23T09:15:00+05:30', 100),
    { t: '2026-11-23T09:16:00+05:30', close: 'x' },
    null,
    candle('bad time', 5),
    candle('2026-11-23T09:16:00+05:30', 101),
    candle('2026-11-23T09:16:00+05:30', 999),
    candle('2026-11-23T09:17:00+05:30', 102),
  ]);
  assert.deepEqual(points.map((p) => p.v), [100, 101, 102]);
});

test('candle series: live ticks move the last close or open a new minute', () => {
  const s = new SeriesStore();
  assert.equal(s.setCandles('X', []), false);
  assert.equal(s.setCandles('X', parseCandles([candle('2026-11-23T09:15:00+05:30', 100), candle('2026-11-23T09:16:00+05:30', 101)])), true);
  assert.equal(s.fromCandles('X'), true);
  s.addTick('X', 101.5, '2026-11-23T09:16:40+05:30', 0);
  s.addTick('X', 99, '2026-11-23T09:15:59+05:30', 0);
  s.addTick('X', 102, '2026-11-23T09:17:01+05:30', 0);
  s.addTick('X', Number.NaN, '2026-11-23T09:18:01+05:30', 0);
  assert.deepEqual(s.values('X'), [100, 101.5, 102]);
});

test('a short candle history gives way to the finer tick line until it covers the session', () => {
  const s = new SeriesStore();
  s.setCandles('Z', parseCandles([candle('2026-11-23T09:15:00+05:30', 100)]));
  for (let i = 0; i < 5; i += 1) s.addTick('Z', 100 + i, '2026-11-23T09:15:30+05:30', i * 1000);
  assert.equal(s.fromCandles('Z'), false);
  assert.deepEqual(s.values('Z'), [100, 101, 102, 103, 104]);
  const minutes = Array.from({ length: MIN_CANDLE_POINTS }, (_, i) => candle(`2026-11-23T10:${String(10 + i).padStart(2, '0')}:00+05:30`, 200 + i));
  s.setCandles('Z', parseCandles(minutes));
  assert.equal(s.fromCandles('Z'), true);
  assert.equal(s.values('Z').length, MIN_CANDLE_POINTS);
});

test('tick series: one point per time bucket, buckets widen to stay within budget', () => {
  const s = new SeriesStore(8);
  for (let i = 0; i < 100; i += 1) s.addTick('Y', i, null, 1_000 * i + 500);
  const v = s.values('Y');
  assert.ok(v.length <= 8 && v.length >= 4, `${v.length} points`);
  assert.equal(v[v.length - 1], 99, 'the newest price is always the last point');
  assert.deepEqual([...v].sort((a, b) => a - b), v, 'still in time order');
  s.addTick('Y', 7, null, 1_000 * 99 + 900);
  assert.equal(s.values('Y').at(-1), 7, 'same bucket: replaced, not appended');
  s.forget('Y');
  assert.deepEqual(s.values('Y'), []);
});

test('candle fetcher: uses the endpoint when it answers 200, stops asking when it is missing', async () => {
  const calls = [];
  const updated = [];
  const answers = { 'NSE:SBIN': { status: 200, body: [candle('2026-11-23T09:15:00+05:30', 800), candle('2026-11-23T09:16:00+05:30', 801)] } };
  const fetchImpl = async (url) => {
    calls.push(url);
    const symbol = new URL(url, 'http://gw').searchParams.get('symbol');
    const a = answers[symbol] ?? { status: 404, body: null };
    return { status: a.status, json: async () => a.body };
  };
  const store = new SeriesStore();
  const f = new CandleFetcher(store, (s) => updated.push(s), fetchImpl);
  await f.want('NSE:SBIN');
  assert.deepEqual(calls, ['/api/candles?symbol=NSE%3ASBIN&interval=1m']);
  assert.deepEqual(updated, ['NSE:SBIN']);
  assert.deepEqual(store.values('NSE:SBIN'), [800, 801]);
  await f.want('NSE:SBIN');
  assert.equal(calls.length, 1, 'not again within a minute');
  await f.want('NSE:INFY');
  await f.want('NSE:TCS');
  assert.equal(calls.length, 2, 'a 404 means no endpoint: no more requests for a while');
});

test('sparkline geometry', () => {
  assert.equal(sparkGeometry([1], 1), null);
  assert.equal(sparkGeometry([Number.NaN, 2], 1), null);
  const g = sparkGeometry([10, 20, 15], 12);
  const pts = g.points.split(' ').map((p) => p.split(',').map(Number));
  assert.equal(pts.length, 3);
  assert.ok(pts.every(([x, y]) => x >= 0 && x <= WIDTH && y >= 0 && y <= HEIGHT));
  assert.ok(pts[1][1] < pts[0][1], 'higher price, higher on screen');
  assert.ok(g.refY > pts[1][1] && g.refY < pts[0][1]);
  assert.equal(sparkGeometry([10, 20], 5).refY, null, 'a close outside the range is not drawn');
  const flat = sparkGeometry([5, 5, 5], null);
  assert.ok(flat.points.split(' ').every((p) => Number(p.split(',')[1]) === HEIGHT / 2));
});

test('page window', () => {
  const table = [[0, 1, [0]], [0, 3, [0, 1, 2]], [0, 20, [0, 1, 2, 3, 4, 5, 6]], [10, 20, [7, 8, 9, 10, 11, 12, 13]], [19, 20, [13, 14, 15, 16, 17, 18, 19]]];
  for (const [current, count, want] of table) assert.deepEqual(pageWindow(current, count), want, `${current}/${count}`);
});

test('candle series belong to one session day: a live tick of the next day drops them', () => {
  const s = new SeriesStore();
  const prev = parseCandles([candle('2026-11-20T15:28:00+05:30', 500), candle('2026-11-20T15:29:00+05:30', 501)]);
  assert.equal(s.setCandles('P', prev, '2026-11-20'), true);
  assert.deepEqual(s.values('P'), [500, 501], 'at night the last session draws');
  s.addTick('P', 510, '2026-11-23T09:15:02+05:30', 0);
  assert.equal(s.fromCandles('P'), false, 'a new session: its own ticks draw until its candles are fetched');
  assert.deepEqual(s.values('P'), [510]);
});

test('pushed closes and the chart\'s candles feed the same sparkline', () => {
  const s = new SeriesStore();
  assert.equal(s.closeMinute('Q', Date.parse('2026-11-23T09:15:00+05:30'), 1), false, 'nothing to close into yet');
  const t = (hhmm) => Date.parse(`2026-11-23T${hhmm}:00+05:30`);
  assert.equal(s.setFromCandles('Q', [{ t: t('09:15'), close: 100 }, { t: t('09:17'), close: 102 }], '2026-11-23'), true);
  assert.equal(s.closeMinute('Q', t('09:16'), 101), true, 'a minute in between is inserted');
  assert.equal(s.closeMinute('Q', t('09:17'), 102.5), true, 'a forming minute takes the closing price');
  assert.equal(s.closeMinute('Q', t('09:18'), 103), true);
  assert.equal(s.closeMinute('Q', Date.parse('2026-11-24T09:15:00+05:30'), 1), false, 'another day');
  assert.deepEqual(s.values('Q'), [100, 101, 102.5, 103]);
});

test('a sparkline is coloured by its own slope, not by the day\'s change', () => {
  assert.equal(sparkTrend([110, 108, 104]), 'down', 'falling all session, though above a close of 100');
  assert.equal(sparkTrend([90, 95, 99]), 'up', 'rising, though below a close of 100');
  assert.equal(sparkTrend([5, 7, 5]), 'flat');
  assert.equal(sparkTrend([5]), 'flat');
  assert.equal(sparkTrend([Number.NaN, 4, 6]), 'up');
});
