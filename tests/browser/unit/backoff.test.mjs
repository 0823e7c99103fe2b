// Unit tests of web/js/backoff.js.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { backoffDelay, CAP_MS } from '../../../web/js/backoff.js';

test('delays double from one second up to the cap, jittered within the upper half', () => {
  const low = () => 0;
  const high = () => 1;
  const table = [[1, 500, 1000], [2, 1000, 2000], [3, 2000, 4000], [4, 4000, 8000], [5, 7500, 15000], [20, 7500, 15000]];
  for (const [attempt, min, max] of table) {
    assert.equal(backoffDelay(attempt, low), min, `attempt ${attempt} low`);
    assert.equal(backoffDelay(attempt, high), max, `attempt ${attempt} high`);
  }
});

test('any random source and attempt stay within (0, cap]', () => {
  for (let attempt = -2; attempt < 100; attempt += 1) {
    for (const r of [0, 0.3, 0.999, 1, -1, 2, Number.NaN]) {
      const d = backoffDelay(attempt, () => r);
      assert.ok(Number.isFinite(d) && d > 0 && d <= CAP_MS, `attempt ${attempt}, random ${r}: ${d}`);
    }
  }
});
