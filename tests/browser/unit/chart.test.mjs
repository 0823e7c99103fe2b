// Unit tests of the candle chart's pure parts: web/js/chart-scale.js (layout, axes, candle
// shapes) and the texts of web/js/chart.js (session label, OHLCV readout).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { describeCandle, formatDay, sessionLabel } from '../../../web/js/chart.js';
import {
  candlePaths, layout, MIN_PITCH, niceStep, priceRange, priceTicks, timeTicks, visibleMax, xOf, yOf,
} from '../../../web/js/chart-scale.js';

const ms = (hhmm) => Date.parse(`2026-11-23T${hhmm}:00+05:30`);

test('nice steps and price labels', () => {
  const table = [[0.013, 0.02], [0.3, 0.5], [0.21, 0.25], [1, 1], [3.2, 5], [7, 10], [45, 50], [120, 200]];
  for (const [rough, want] of table) assert.ok(Math.abs(niceStep(rough) - want) < 1e-12, `${rough} → ${niceStep(rough)}`);
  assert.equal(niceStep(0), 1);
  assert.deepEqual(priceTicks(809.3, 815.2, 5), [810, 812, 814]);
  assert.deepEqual(priceTicks(809.3, 815.2, 8), [810, 811, 812, 813, 814, 815]);
  const t = priceTicks(24101.3, 24189.9, 4);
  assert.ok(t.length >= 3 && t.length <= 6 && t.every((v) => v >= 24101.3 && v <= 24189.9), `${t}`);
  assert.ok(t.every((v, i) => i === 0 || v > t[i - 1]));
});

test('the price range is padded, and a flat price still has one', () => {
  const r = priceRange([{ low: 100, high: 110 }, { low: 95, high: 105 }]);
  assert.ok(r.lo < 95 && r.hi > 110);
  const flat = priceRange([{ low: 969.05, high: 969.05 }]);
  assert.ok(flat.hi - flat.lo >= 0.1, 'a doji gets room above and below');
  assert.deepEqual(priceRange([]), { lo: 0, hi: 1 });
});

test('time labels fall on round IST times, spaced to fit', () => {
  const times = Array.from({ length: 375 }, (_, i) => ms('09:15') + i * 60_000);
  const at6px = timeTicks(times, 1, 6);
  const labels = at6px.map((i) => new Date(times[i] + 330 * 60_000).toISOString().slice(11, 16));
  assert.equal(labels[0], '09:20', 'every 10 minutes at 6 px a minute');
  assert.ok(labels.every((l) => l.endsWith('0')), `${labels}`);
  for (let k = 1; k < at6px.length; k += 1) assert.ok((at6px[k] - at6px[k - 1]) * 6 >= 56, 'labels do not crowd');
  // A few candles early in the session: their first one is labelled even off a round time.
  assert.deepEqual(timeTicks([ms('10:07'), ms('10:08')], 1, 20), [0]);
  assert.deepEqual(timeTicks([], 1, 20), []);
  // 15-minute candles at a wide pitch: every quarter hour.
  const q = Array.from({ length: 8 }, (_, i) => ms('09:15') + i * 900_000);
  assert.deepEqual(timeTicks(q, 15, 80), [0, 1, 2, 3, 4, 5, 6, 7]);
});

test('layout and window size', () => {
  const g = layout(900, 320, 100, { labelChars: 8 });
  assert.ok(g.x1 < 900 - 50, 'room for the price labels');
  assert.ok(g.priceBottom < g.volTop && g.volTop < g.volBottom && g.volBottom < 320);
  assert.ok(g.body >= 1 && g.body <= 14);
  const noVol = layout(900, 320, 100, { volume: false });
  assert.equal(noVol.priceBottom, noVol.volBottom, 'no volume pane for indices');
  const n = visibleMax(900);
  assert.ok(layout(900, 320, n).pitch >= MIN_PITCH);
  assert.ok(visibleMax(390) < n && visibleMax(390) >= 30, 'a phone shows fewer');
  assert.ok(yOf(g, 100, 200, 200) < yOf(g, 100, 200, 100), 'higher prices are higher up');
  assert.ok(xOf(g, 1) > xOf(g, 0));
});

test('candle shapes: hollow up, filled down, wicks outside the body, volume bars', () => {
  const g = layout(600, 300, 3, { labelChars: 6 });
  const candles = [
    { t: 0, open: 100, high: 104, low: 99, close: 103, volume: 10 },
    { t: 1, open: 103, high: 103.5, low: 100, close: 101, volume: 30 },
    { t: 2, open: 101, high: 101, low: 101, close: 101, volume: 0 },
  ];
  const p = candlePaths(candles, g, 98, 105);
  assert.equal((p.upBody.match(/M/g) ?? []).length, 2, 'the rising and the unchanged candle');
  assert.equal((p.downBody.match(/M/g) ?? []).length, 1);
  assert.equal((p.upWick.match(/M/g) ?? []).length, 2, 'above and below the rising body');
  assert.equal((p.downWick.match(/M/g) ?? []).length, 2);
  assert.equal((p.volume.match(/M/g) ?? []).length, 2, 'no bar for no volume');
  assert.equal(p.maxVol, 30);
  assert.ok(!/NaN|Infinity/.test(Object.values(p).join('')));
});

test('chart texts: the session day and the OHLCV readout', () => {
  assert.equal(formatDay('2026-11-20'), '20 Nov 2026');
  assert.equal(sessionLabel('2026-11-20', '2026-11-23'), 'Session of 20 Nov 2026 (times in IST)');
  assert.equal(sessionLabel('2026-11-23', '2026-11-23'), 'Today\'s session, 23 Nov 2026 (times in IST)');
  assert.equal(sessionLabel(null, '2026-11-23'), '');
  const up = describeCandle({ t: ms('10:15'), open: 811, high: 812.5, low: 810.9, close: 812.4, volume: 12345, final: true }, 1);
  assert.equal(up.time, '10:15\u201310:16');
  assert.deepEqual(up.parts, [['O', '811.00'], ['H', '812.50'], ['L', '810.90'], ['C', '812.40'], ['', '\u25b2 +1.40 (+0.17%)'], ['Vol', '12,345']]);
  assert.equal(up.speech, '10:15\u201310:16, rising: open 811.00, high 812.50, low 810.90, close 812.40, volume 12,345');
  const down = describeCandle({ t: ms('10:15'), open: 812, high: 812, low: 800, close: 801, volume: 0, final: false }, 15);
  assert.equal(down.time, '10:15\u201310:30');
  assert.equal(down.parts.length, 5, 'no volume shown for an index');
  assert.match(down.speech, /^10:15\u201310:30, falling, still forming: /);
});
