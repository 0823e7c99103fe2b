// Unit tests of web/js/health.js (polling with a fake fetch and mocked timers) and of the
// suggestion parsing in web/js/suggest.js.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, mock, test } from 'node:test';
import { HealthMonitor } from '../../../web/js/health.js';
import { parseSuggestions } from '../../../web/js/suggest.js';

beforeEach(() => mock.timers.enable({ apis: ['setTimeout'] }));
afterEach(() => mock.timers.reset());

/** A fetch that answers from a queue and records the URLs it was asked for. */
function fakeFetch(answers) {
  const calls = [];
  const impl = async (url, init) => {
    calls.push({ url, init });
    const a = answers.shift();
    if (a instanceof Error) throw a;
    return { ok: a.status === 200, status: a.status, json: async () => a.body };
  };
  return { impl, calls };
}
const updates = (m) => new Promise((resolve) => m.addEventListener('update', resolve, { once: true }));

test('keeps the last document, reports failures, and polls again', async () => {
  const doc = { priority_status: 'MARKET_SESSION' };
  const { impl, calls } = fakeFetch([{ status: 200, body: doc }, { status: 404, body: null }, new TypeError('Failed to fetch'), { status: 200, body: null }]);
  const m = new HealthMonitor('/api/system/health', impl);
  assert.equal(m.ageSeconds, Infinity);

  let next = updates(m);
  m.start();
  await next;
  assert.deepEqual(m.doc, doc);
  assert.equal(m.error, null);
  assert.equal(calls[0].url, '/api/system/health');
  assert.equal(calls[0].init.cache, 'no-store');

  next = updates(m);
  mock.timers.tick(3000);
  await next;
  assert.equal(m.error, 'health check answered HTTP 404');
  assert.deepEqual(m.doc, doc, 'the last good document is kept');

  next = updates(m);
  mock.timers.tick(3000);
  await next;
  assert.equal(m.error, 'Failed to fetch');

  next = updates(m);
  m.refreshSoon();
  mock.timers.tick(150);
  await next;
  assert.equal(m.error, 'health check answered something that is not a health document');
  assert.equal(calls.length, 4);
});

test('suggestions: well-formed entries only, at most ten', () => {
  assert.deepEqual(parseSuggestions(null), []);
  assert.deepEqual(parseSuggestions({}), []);
  assert.deepEqual(parseSuggestions([{ symbol: 'NSE:SBIN', name: 'STATE BANK OF INDIA', segment: 'NSE' }, { name: 'x' }, null, { symbol: 'NSE:SBILIFE' }]),
    [{ symbol: 'NSE:SBIN', name: 'STATE BANK OF INDIA' }, { symbol: 'NSE:SBILIFE', name: '' }]);
  assert.equal(parseSuggestions(Array.from({ length: 30 }, (_, i) => ({ symbol: `S${i}` }))).length, 10);
});
