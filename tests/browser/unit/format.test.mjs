// Unit tests of web/js/format.js.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  direction, formatAge, formatChange, formatCountdown, formatHours, formatPercent, formatPrice, formatVolume,
  stampOf, timeOfDay,
} from '../../../web/js/format.js';

test('prices, changes and percentages', () => {
  const table = [
    [formatPrice(812.4), '812.40'],
    [formatPrice(123456.7), '1,23,456.70'],
    [formatPrice(null), '\u2014'],
    [formatPrice(Number.NaN), '\u2014'],
    [formatChange(3.1), '+3.10'],
    [formatChange(-2.05), '\u22122.05'],
    [formatChange(0), '0.00'],
    [formatChange(undefined), '\u2014'],
    [formatPercent(0.38), '+0.38%'],
    [formatPercent(-1.5), '\u22121.50%'],
  ];
  for (const [got, want] of table) assert.equal(got, want);
});

test('volumes the Indian way', () => {
  const table = [[0, '0'], [12345, '12,345'], [99999, '99,999'], [100000, '1.00 L'], [1234567, '12.35 L'],
    [12345678, '1.23 Cr'], [-1, '\u2014'], [null, '\u2014']];
  for (const [v, want] of table) assert.equal(formatVolume(v), want, String(v));
});

test('direction', () => {
  assert.deepEqual([direction(2), direction(-0.1), direction(0), direction(null)], [1, -1, 0, 0]);
});

test('countdowns and ages', () => {
  const countdowns = [[0, '0:00'], [-5, '0:00'], [65, '1:05'], [3599, '59:59'], [3600, '1:00:00'],
    [18900, '5:15:00'], [86400 * 2 + 3 * 3600 + 59, '2 d 03 h'], [null, '0:00']];
  for (const [s, want] of countdowns) assert.equal(formatCountdown(s), want, String(s));
  const ages = [[0.04, '0.0 s'], [0.8, '0.8 s'], [12.7, '12 s'], [240, '4 min'], [2 * 3600 + 300, '2 h 05 min'],
    [3 * 86400, '3 d'], [-1, '\u2014']];
  for (const [s, want] of ages) assert.equal(formatAge(s), want, String(s));
  assert.equal(formatHours(0.5), '30 min');
  assert.equal(formatHours(2.54), '2.5 h');
});

test('exchange times are read in IST whatever the offset', () => {
  assert.equal(timeOfDay('2026-11-23T10:15:02+05:30'), '10:15:02');
  assert.equal(timeOfDay('2026-11-23T04:45:02Z'), '10:15:02');
  assert.equal(timeOfDay('nonsense'), '\u2014');
  assert.equal(timeOfDay(undefined), '\u2014');
});

test('stamps: the time of day, with the IST date when it is not today', () => {
  const now = Date.parse('2026-11-23T20:00:00+05:30');
  assert.equal(stampOf('2026-11-23T15:29:59+05:30', now), '15:29:59');
  assert.equal(stampOf('2026-11-20T15:29:59+05:30', now), '20 Nov, 15:29:59');
  assert.equal(stampOf('2026-11-23T20:00:00Z', now), '24 Nov, 01:30:00', 'converted to IST first');
  assert.equal(stampOf('bad', now), '\u2014');
});
