// Unit tests of web/js/feed.js with a fake WebSocket and mocked timers: subscriptions follow
// the visible rows as diffs, survive reconnects, and reconnects back off.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, mock, test } from 'node:test';
import { FeedClient } from '../../../web/js/feed.js';

class FakeSocket {
  static all = [];
  constructor(url) {
    this.url = url;
    this.sent = [];
    this.closed = false;
    FakeSocket.all.push(this);
  }
  send(text) { this.sent.push(JSON.parse(text)); }
  close() { this.closed = true; }
  open() { this.onopen?.(); }
  receive(msg) { this.onmessage?.({ data: typeof msg === 'string' ? msg : JSON.stringify(msg) }); }
  lose() { this.onclose?.({ code: 1006 }); }
  static last() { return FakeSocket.all[FakeSocket.all.length - 1]; }
}

beforeEach(() => {
  FakeSocket.all = [];
  mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
});
afterEach(() => mock.timers.reset());

const client = (random = () => 0) => new FeedClient('ws://gw/ws/market', { throttleMs: 250, WebSocketImpl: FakeSocket, random });
const strip = ({ id, ...rest }) => rest;
const events = (feed, type) => {
  const seen = [];
  feed.addEventListener(type, (e) => seen.push(e.detail));
  return seen;
};

test('on open: throttle option, then one subscribe for the wanted symbols', () => {
  const feed = client();
  feed.setSymbols(['NSE:SBIN', 'NSE:INFY', 'NSE:SBIN']);
  feed.start();
  assert.equal(feed.state, 'connecting');
  const ws = FakeSocket.last();
  assert.equal(ws.url, 'ws://gw/ws/market');
  ws.open();
  assert.equal(feed.state, 'open');
  assert.deepEqual(ws.sent.map(strip), [
    { action: 'options', throttle_ms: 250 },
    { action: 'subscribe', symbols: ['NSE:SBIN', 'NSE:INFY'], mode: 'quote' },
  ]);
  assert.equal(new Set(ws.sent.map((m) => m.id)).size, 2, 'every request has its own id');
});

test('a page change sends only the difference', () => {
  const feed = client();
  feed.setSymbols(['A', 'B', 'C']);
  feed.start();
  const ws = FakeSocket.last();
  ws.open();
  ws.sent.length = 0;
  feed.setSymbols(['C', 'D']);
  assert.deepEqual(ws.sent.map(strip), [
    { action: 'unsubscribe', symbols: ['A', 'B'] },
    { action: 'subscribe', symbols: ['D'], mode: 'quote' },
  ]);
  ws.sent.length = 0;
  feed.setSymbols(['D', 'C']);
  assert.deepEqual(ws.sent, [], 'same set, nothing to send');
  assert.deepEqual(feed.subscribed.sort(), ['C', 'D']);
});

test('after a lost connection it backs off, reconnects and resubscribes what is visible', () => {
  const feed = client(() => 0);
  const states = events(feed, 'state');
  feed.setSymbols(['A', 'B']);
  feed.start();
  FakeSocket.last().open();
  FakeSocket.last().lose();
  assert.equal(feed.state, 'waiting');
  assert.ok(feed.retryInMs > 0 && feed.retryInMs <= 500);
  // While offline the page moves on: the new set is what gets subscribed on reconnect.
  feed.setSymbols(['B', 'C']);
  mock.timers.tick(499);
  assert.equal(FakeSocket.all.length, 1, 'not before the backoff delay');
  mock.timers.tick(1);
  assert.equal(FakeSocket.all.length, 2);
  FakeSocket.last().open();
  assert.deepEqual(FakeSocket.last().sent.map(strip)[1], { action: 'subscribe', symbols: ['B', 'C'], mode: 'quote' });
  assert.deepEqual(states.map((s) => s.state), ['connecting', 'open', 'waiting', 'connecting', 'open']);
});

test('consecutive failures wait longer each time, up to the cap', () => {
  const feed = client(() => 1);
  feed.start();
  const delays = [];
  for (let i = 0; i < 6; i += 1) {
    FakeSocket.last().lose();
    delays.push(Math.round(feed.retryInMs / 100) * 100);
    mock.timers.tick(20_000);
  }
  assert.deepEqual(delays, [1000, 2000, 4000, 8000, 15000, 15000]);
  feed.retryNow();
  assert.equal(feed.state, 'connecting');
});

test('retry now skips the wait', () => {
  const feed = client(() => 1);
  feed.start();
  FakeSocket.last().lose();
  assert.equal(FakeSocket.all.length, 1);
  feed.retryNow();
  assert.equal(FakeSocket.all.length, 2);
  mock.timers.tick(20_000);
  assert.equal(FakeSocket.all.length, 2, 'the cancelled timer does not connect again');
});

test('probe: accepted with the canonical symbol, or refused with the server reason', async () => {
  const feed = client();
  assert.deepEqual(await feed.probe('SBIN'), { ok: false, reason: 'not connected to feedgate; try again once the page is back online' });
  feed.start();
  const ws = FakeSocket.last();
  ws.open();

  const ok = feed.probe('sbin');
  const req = ws.sent[ws.sent.length - 1];
  assert.deepEqual(strip(req), { action: 'subscribe', symbols: ['sbin'], mode: 'quote' });
  ws.receive({ type: 'ack', action: 'subscribe', count: 1, symbols: ['NSE:SBIN'], subscribed: 1, id: req.id });
  assert.deepEqual(await ok, { ok: true, symbol: 'NSE:SBIN' });
  assert.ok(feed.subscribed.includes('NSE:SBIN'));

  const bad = feed.probe('NSE:NOPE');
  const req2 = ws.sent[ws.sent.length - 1];
  ws.receive({ type: 'ack', action: 'subscribe', count: 0, rejected: [{ symbol: 'NSE:NOPE', reason: 'unknown instrument' }], subscribed: 1, id: req2.id });
  assert.deepEqual(await bad, { ok: false, reason: 'unknown instrument' });

  const err = feed.probe('x');
  const req3 = ws.sent[ws.sent.length - 1];
  ws.receive({ type: 'error', code: 'rate_limited', message: 'too many requests', id: req3.id });
  assert.deepEqual(await err, { ok: false, reason: 'too many requests' });

  const lost = feed.probe('y');
  ws.lose();
  assert.deepEqual(await lost, { ok: false, reason: 'the connection to feedgate closed before it answered' });
});

test('a probe nobody answers times out', async () => {
  const feed = client();
  feed.start();
  FakeSocket.last().open();
  const p = feed.probe('SBIN');
  mock.timers.tick(10_000);
  assert.deepEqual(await p, { ok: false, reason: 'feedgate did not answer in time' });
});

test('messages: tickers and status are passed on, rejections reported, garbage ignored', () => {
  const feed = client();
  const tickers = events(feed, 'ticker');
  const statuses = events(feed, 'connection_status');
  const beats = events(feed, 'heartbeat');
  const rejected = events(feed, 'rejected');
  const errors = events(feed, 'servererror');
  feed.setSymbols(['NSE:SBIN', 'NSE:GONE']);
  feed.start();
  const ws = FakeSocket.last();
  ws.open();
  ws.receive('not json');
  ws.receive('null');
  ws.receive({ type: 'ticker' });
  ws.receive({ type: 'ticker', data: { symbol: 'NSE:SBIN', ltp: 812.4 } });
  ws.receive({ type: 'connection_status', mode: 'WebSocket' });
  ws.receive({ type: 'heartbeat', connections: 1 });
  ws.receive({ type: 'candle', symbol: 'NSE:SBIN' });
  ws.receive({ type: 'ack', action: 'subscribe', count: 1, rejected: [{ symbol: 'NSE:GONE', reason: 'unknown instrument' }], id: 999 });
  ws.receive({ type: 'error', code: 'bad_request', message: 'nope' });
  assert.deepEqual(tickers, [{ symbol: 'NSE:SBIN', ltp: 812.4 }]);
  assert.equal(statuses.length, 1);
  assert.equal(beats.length, 1);
  assert.deepEqual(rejected, [{ symbol: 'NSE:GONE', reason: 'unknown instrument' }]);
  assert.deepEqual(feed.subscribed, ['NSE:SBIN']);
  assert.equal(errors.length, 1);
});

test('a silent socket is pinged, then replaced', () => {
  const feed = client(() => 0);
  feed.start();
  const ws = FakeSocket.last();
  ws.open();
  const realNow = Date.now;
  let now = realNow();
  Date.now = () => now;
  try {
    now += 20_000;
    mock.timers.tick(10_000);
    assert.equal(ws.sent[ws.sent.length - 1].action, 'ping');
    now += 20_000;
    mock.timers.tick(10_000);
    assert.equal(ws.closed, true);
    assert.equal(feed.state, 'waiting');
  } finally {
    Date.now = realNow;
  }
});

test('a connection that stayed up resets the backoff; one that dropped at once does not', () => {
  const feed = client(() => 1);
  const realNow = Date.now;
  let now = realNow();
  Date.now = () => now;
  try {
    feed.start();
    FakeSocket.last().lose();
    mock.timers.tick(1000);
    FakeSocket.last().open();
    FakeSocket.last().lose();
    assert.equal(Math.round(feed.retryInMs), 2000, 'dropped at once: the backoff keeps growing');
    mock.timers.tick(2000);
    FakeSocket.last().open();
    now += 10_000;
    FakeSocket.last().lose();
    assert.equal(Math.round(feed.retryInMs), 1000, 'up for 10 s: back to the first step');
  } finally {
    Date.now = realNow;
  }
});

test('candles: the open chart\'s symbol is asked for candle messages, and only those come through', () => {
  const feed = client();
  const candles = events(feed, 'candle');
  feed.setSymbols(['NSE:SBIN', 'NSE:INFY']);
  feed.setCandles('NSE:SBIN', '1m');
  feed.start();
  const ws = FakeSocket.last();
  ws.open();
  assert.deepEqual(ws.sent.map(strip).slice(1), [
    { action: 'subscribe', symbols: ['NSE:INFY'], mode: 'quote' },
    { action: 'subscribe', symbols: ['NSE:SBIN'], mode: 'quote', candles: '1m' },
  ], 'the chart\'s symbol is subscribed once, with its candles');
  ws.sent.length = 0;
  const msg = { type: 'candle', symbol: 'NSE:SBIN', interval: '1m', t: '2026-11-23T10:15:00+05:30', open: 1, high: 1, low: 1, close: 1, volume: 1 };
  ws.receive(msg);
  ws.receive({ ...msg, symbol: 'NSE:INFY' });
  ws.receive({ ...msg, interval: '5m' });
  assert.deepEqual(candles, [msg]);

  feed.setCandles('NSE:SBIN', '5m');
  assert.deepEqual(ws.sent.map(strip), [{ action: 'subscribe', symbols: ['NSE:SBIN'], mode: 'quote', candles: '5m' }], 'another interval: asked again');
  ws.sent.length = 0;
  feed.setCandles('NSE:SBIN', '5m');
  assert.deepEqual(ws.sent, [], 'same interval: nothing to send');
  feed.setCandles(null);
  assert.deepEqual(ws.sent.map(strip), [{ action: 'subscribe', symbols: ['NSE:SBIN'], mode: 'quote', candles: false }],
    'closing the chart switches its candle messages off; the row stays subscribed');
  ws.sent.length = 0;
  ws.receive({ ...msg, interval: '5m' });
  assert.equal(candles.length, 1, 'one already in flight does not reach the page');
  feed.setCandles(null);
  assert.deepEqual(ws.sent, [], 'nothing more to switch off');

  // A chart of a symbol off the page keeps it streamed, and after a reconnect the candle
  // subscription is made again.
  feed.setCandles('NSE:SBIN', '1m');
  ws.sent.length = 0;
  feed.setCandles('NSE:TCS', '15m');
  assert.deepEqual(ws.sent.map(strip), [
    { action: 'subscribe', symbols: ['NSE:SBIN'], mode: 'quote', candles: false },
    { action: 'subscribe', symbols: ['NSE:TCS'], mode: 'quote', candles: '15m' },
  ], 'moving the chart to another symbol switches the old one\'s candles off');
  assert.deepEqual(feed.subscribed.sort(), ['NSE:INFY', 'NSE:SBIN', 'NSE:TCS']);
  ws.lose();
  mock.timers.tick(1000);
  const again = FakeSocket.last();
  assert.notEqual(again, ws);
  again.open();
  assert.deepEqual(again.sent.map(strip).slice(1), [
    { action: 'subscribe', symbols: ['NSE:SBIN', 'NSE:INFY'], mode: 'quote' },
    { action: 'subscribe', symbols: ['NSE:TCS'], mode: 'quote', candles: '15m' },
  ]);
  again.sent.length = 0;
  feed.setCandles(null);
  assert.deepEqual(again.sent.map(strip), [{ action: 'unsubscribe', symbols: ['NSE:TCS'] }], 'off the page: unsubscribed when the chart closes');
});

test('close 4001 (no or a wrong key) stops retrying until a sign-in calls retryNow', () => {
  const feed = client();
  const unauthorized = events(feed, 'unauthorized');
  feed.setSymbols(['A']);
  feed.start();
  FakeSocket.last().onclose?.({ code: 4001 });
  assert.equal(unauthorized.length, 1);
  assert.equal(feed.state, 'waiting');
  const sockets = FakeSocket.all.length;
  mock.timers.tick(120_000);
  assert.equal(FakeSocket.all.length, sockets, 'no retries while nobody is signed in');
  feed.retryNow();
  assert.equal(FakeSocket.all.length, sockets + 1, 'a sign-in reconnects at once');
  FakeSocket.last().lose();
  mock.timers.tick(120_000);
  assert.ok(FakeSocket.all.length > sockets + 1, 'ordinary losses still retry');
});
