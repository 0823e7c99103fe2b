// Unit tests of web/js/banner-model.js: what the banner says for each combination of the
// health verdict, the page's own link and the WebSocket status messages.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bannerModel, countdownLabel, detailRows, streamInfo, withoutTitle } from '../../../web/js/banner-model.js';

const OPEN = { state: 'open', retryInMs: null };

function health(overrides = {}) {
  return {
    priority_status: 'MARKET_SESSION',
    priority_message: 'Market is live',
    market: { phase: 'LIVE', title: 'Market Live', description: 'Active trading (9:15 AM - 3:30 PM)', is_trading_hours: true,
      seconds_to_next_phase: 18900, next_phase: 'POST_CLOSE', now: '2026-11-23T10:15:00+05:30', holiday: null },
    auth: { state: 'valid', is_valid: true, requires_login: false, token_age_hours: 2.5, login_url: '/api/login' },
    feed: { state: 'connected', is_healthy: true, mode: 'WebSocket', using_rest_fallback: false, last_tick_seconds_ago: 0.8,
      connection_quality: 98.5, reconnect_attempts: 0, subscribed: 3 },
    ...overrides,
  };
}

test('verdicts', () => {
  const feedDown = (feed) => health({ priority_status: 'FEED_DISCONNECTED', priority_message: null, feed: { ...health().feed, ...feed } });
  const table = [
    // [name, input, expected subset]
    ['page offline', { health: health(), link: { state: 'waiting', retryInMs: 3500 } },
      { status: 'OFFLINE', tone: 'offline', title: 'Offline: reconnecting in 4 s…', retry: true, login: null }],
    ['page offline, no retry time', { health: null, link: { state: 'waiting', retryInMs: null } },
      { status: 'OFFLINE', title: 'Offline: reconnecting…' }],
    ['first connection', { health: null, link: { state: 'connecting' } }, { status: 'CONNECTING', tone: 'neutral' }],
    ['login required', { health: health({ priority_status: 'AUTH_REQUIRED', priority_message: 'Login required to view live data',
      auth: { state: 'required', is_valid: false, requires_login: true, token_age_hours: null, login_url: 'http://gw/api/login' } }), link: OPEN },
    { status: 'AUTH_REQUIRED', tone: 'auth', title: 'Login required', message: 'Login required to view live data', login: 'http://gw/api/login' }],
    ['login required, no url', { health: health({ priority_status: 'AUTH_REQUIRED', auth: {} }), link: OPEN }, { login: '/api/login' }],
    ['REST fallback', { health: feedDown({ state: 'disconnected', is_healthy: false, using_rest_fallback: true, mode: 'REST API Polling', reconnect_attempts: 11 }), link: OPEN },
      { status: 'FEED_DISCONNECTED', tone: 'feed', title: 'Using REST fallback', phase: 'LIVE' }],
    ['stale feed', { health: feedDown({ state: 'stale', is_healthy: false, last_tick_seconds_ago: 14 }), link: OPEN },
      { status: 'FEED_DISCONNECTED', title: 'Reconnecting… (feed stalled)', message: 'No data from the broker for 14 s: feedgate is reconnecting.' }],
    ['reconnecting', { health: feedDown({ state: 'connecting', is_healthy: false, reconnect_attempts: 2 }), link: OPEN },
      { status: 'FEED_DISCONNECTED', title: 'Reconnecting…', message: 'The connection to the broker is down: feedgate is reconnecting (attempt 2).' }],
    ['server message wins', { health: { ...feedDown({ state: 'error' }), priority_message: 'Kite refused the connection; retrying in 5 s' }, link: OPEN },
      { message: 'Kite refused the connection; retrying in 5 s' }],
    ['live market', { health: health(), healthAgeS: 2, link: OPEN },
      { status: 'MARKET_SESSION', tone: 'live', phase: 'LIVE', title: 'Market Live', countdown: { label: 'Market closes in', seconds: 18898 } }],
    ['pre-open', { health: health({ market: { phase: 'PRE_OPEN', seconds_to_next_phase: 60, next_phase: 'AUCTION_FREEZE' } }), link: OPEN },
      { tone: 'pre', title: 'Pre-open session', countdown: { label: 'Pre-open order entry closes in', seconds: 60 } }],
    ['closed, no next phase', { health: health({ market: { phase: 'CLOSED', title: 'Market Closed', seconds_to_next_phase: null, next_phase: null } }), link: OPEN },
      { tone: 'closed', title: 'Market Closed', countdown: null }],
    ['countdown never negative', { health: health(), healthAgeS: 99999, link: OPEN }, { countdown: { label: 'Market closes in', seconds: 0 } }],
    ['stale health falls back to ws status', { health: health(), healthError: 'HTTP 500', healthAgeS: 60, link: OPEN,
      wsStatus: { type: 'connection_status', mode: 'WebSocket', quality: 'EXCELLENT', message: '✓ Connected', market_status: 'LIVE', auth_required: false } },
    { status: 'MARKET_SESSION', tone: 'live', title: 'Market Live', countdown: null }],
    ['recent health survives one failed poll', { health: health(), healthError: 'timed out', healthAgeS: 5, link: OPEN }, { status: 'MARKET_SESSION', tone: 'live' }],
    ['ws status: auth', { health: null, link: OPEN, wsStatus: { auth_required: true, market_status: 'LIVE', mode: 'WebSocket' } },
      { status: 'AUTH_REQUIRED', login: '/api/login' }],
    ['ws status: REST', { health: null, link: OPEN, wsStatus: { auth_required: false, market_status: 'LIVE', mode: 'REST API Polling', quality: 'DEGRADED' } },
      { status: 'FEED_DISCONNECTED', title: 'Using REST fallback' }],
    ['ws status: poor while live', { health: null, link: OPEN, wsStatus: { auth_required: false, market_status: 'LIVE', mode: 'WebSocket', quality: 'POOR' } },
      { status: 'FEED_DISCONNECTED', title: 'Reconnecting…' }],
    ['no status at all yet', { health: null, link: OPEN }, { status: 'CONNECTING', title: 'Checking feedgate status…' }],
  ];
  for (const [name, input, want] of table) {
    const got = bannerModel(input);
    for (const [k, v] of Object.entries(want)) assert.deepEqual(got[k], v, `${name}: ${k}`);
  }
});

test('offline is announced once, not every second', () => {
  const a = bannerModel({ health: null, link: { state: 'waiting', retryInMs: 4000 } });
  const b = bannerModel({ health: null, link: { state: 'waiting', retryInMs: 3000 } });
  assert.notEqual(a.title, b.title);
  assert.equal(a.announce, b.announce);
});

test('countdown wording', () => {
  const table = [['CLOSED', 'PRE_OPEN', 'Pre-open starts in'], ['AUCTION_FREEZE', 'LIVE', 'Trading starts in'],
    ['LIVE', 'CLOSED', 'Market closes in'], ['CLOSED', 'POST_CLOSE', 'Post-close session starts in'],
    ['POST_CLOSE', 'CLOSED', 'Post-close session ends in'], ['LIVE', 'SOMETHING_NEW', 'Next phase in']];
  for (const [phase, next, want] of table) assert.equal(countdownLabel(phase, next), want, `${phase} → ${next}`);
});

test('details list what the health document says, and tolerate extra or missing fields', () => {
  const doc = health({ feed: { ...health().feed, reconnects_total: 4, some_future_field: { x: 1 } } });
  const rows = Object.fromEntries(detailRows({ health: doc, healthAgeS: 1.5, link: OPEN }));
  assert.equal(rows.Login, 'valid, token 2.5 h old');
  assert.equal(rows['Broker feed'], 'connected (healthy)');
  assert.equal(rows.Mode, 'WebSocket');
  assert.equal(rows['Last tick'], '0.8 s ago');
  assert.equal(rows['Connection quality'], '98.5 % (last 15 min)');
  assert.equal(rows['Reconnect attempts'], '0');
  assert.equal(rows['Reconnects since start'], '4');
  assert.equal(rows['Broker subscriptions'], '3');
  assert.equal(rows['Clients connected'], undefined, 'an older gateway sends no clients section');
  const withClients = Object.fromEntries(detailRows({ health: health({ clients: { connections: 7, kite: 5 } }), link: OPEN }));
  assert.equal(withClients['Clients connected'], '7 (5 Kite protocol, on /kite)');
  const jsonOnly = Object.fromEntries(detailRows({ health: health({ clients: { connections: 2, kite: 0 } }), link: OPEN }));
  assert.equal(jsonOnly['Clients connected'], '2');
  assert.equal(rows.Market, 'Market Live');
  assert.equal(rows['This page'], 'live (WebSocket to feedgate)');
  assert.equal(rows['Status checked'], '1.5 s ago');

  const holiday = Object.fromEntries(detailRows({ health: health({ market: { phase: 'CLOSED', holiday: { name: 'Diwali' } } }), link: OPEN }));
  assert.equal(holiday.Market, 'Market Closed (holiday: Diwali)');

  const fromHeartbeat = Object.fromEntries(detailRows({ health: null, healthError: 'HTTP 404', link: { state: 'waiting', retryInMs: 2000 },
    heartbeat: { connectionHealth: { state: 'stale', is_healthy: false, connection_quality: 80, last_tick_seconds_ago: null } } }));
  assert.equal(fromHeartbeat['Broker feed'], 'stale (not healthy)');
  assert.equal(fromHeartbeat['Last tick'], 'none yet');
  assert.equal(fromHeartbeat['This page'], 'offline; reconnecting in 2 s');
  assert.equal(fromHeartbeat['Status check'], 'failing: HTTP 404');
  assert.deepEqual(detailRows({ health: { feed: 'garbage', auth: 7 }, link: OPEN }).map(([k]) => k), ['This page']);

  assert.equal(rows['Served by'], undefined, 'a single node shows no cluster');
  assert.equal(rows.Leader, undefined);
  const cluster = (c) => Object.fromEntries(detailRows({ health: health({ cluster: c }), link: OPEN }));
  const edge = cluster({ node: 'edge-1', role: 'edge', leader: 'ingest-2', is_leader: false, term: 7, lease_ms: 2600, redis_ok: true });
  assert.equal(edge['Served by'], 'edge-1 (edge)');
  assert.equal(edge.Leader, 'ingest-2, term 7');
  assert.equal(edge.Redis, undefined);
  const leader = cluster({ node: 'ingest-2', role: 'ingest', leader: 'ingest-2', is_leader: true, term: 7, redis_ok: true });
  assert.equal(leader.Leader, 'ingest-2 (this node), term 7');
  const alone = cluster({ node: 'edge-1', role: 'edge', leader: null, is_leader: false, term: null, redis_ok: false });
  assert.equal(alone.Leader, 'none (no node holds the broker connection)');
  assert.equal(alone.Redis, 'not answering');

  // An edge serves the leader's login and feed, and says whose they are.
  const following = Object.fromEntries(detailRows({
    health: health({
      auth: { ...health().auth, from: 'ingest-2' },
      feed: { ...health().feed, from: 'ingest-2' },
      cluster: { node: 'edge-1', role: 'edge', leader: 'ingest-2', is_leader: false, term: 7, redis_ok: true },
    }),
    link: OPEN,
  }));
  assert.equal(following.Login, 'valid, token 2.5 h old — on the leader, ingest-2');
  assert.equal(following['Broker feed'], 'connected (healthy) — on the leader, ingest-2');
  assert.equal(following['Served by'], 'edge-1 (edge)');
  assert.equal(rows.Login, 'valid, token 2.5 h old', 'a node\'s own login is not marked');
});

test('a cluster without a leader says so, with what to do', () => {
  const message = "No leader: no ingest node holds the broker feed (none has published its status for a lease, 3 s). Start an ingest node (FEEDGATE_ROLE=ingest) on this Redis.";
  const m = bannerModel({
    health: health({
      priority_status: 'FEED_DISCONNECTED',
      priority_message: message,
      feed: { ...health().feed, state: 'disconnected', is_healthy: false },
      cluster: { node: 'edge-1', role: 'edge', leader: null, is_leader: false, term: 7, redis_ok: true },
    }),
    link: OPEN,
  });
  assert.equal(m.status, 'FEED_DISCONNECTED');
  assert.equal(m.title, 'No leader');
  assert.match(m.message, /^No ingest node holds the broker feed .*FEEDGATE_ROLE=ingest/);
  assert.equal(Object.fromEntries(m.details).Leader, 'none (no node holds the broker connection)');
});

test('a message never repeats its title (issue 18: "Using REST fallback Using REST fallback: …")', () => {
  const rest = health({
    priority_status: 'FEED_DISCONNECTED',
    priority_message: 'Using REST fallback: the broker WebSocket is unavailable, quotes are polled while it reconnects',
    feed: { ...health().feed, using_rest_fallback: true, mode: 'REST API Polling', state: 'error' },
  });
  const m = bannerModel({ health: rest, link: OPEN });
  assert.equal(m.title, 'Using REST fallback');
  assert.equal(m.message, 'The broker WebSocket is unavailable, quotes are polled while it reconnects');
  assert.equal(withoutTitle('Reconnecting…', 'Reconnecting to the broker…'), 'Reconnecting to the broker…',
    'a longer word that merely starts like the title stays');
  assert.equal(withoutTitle('Login required', 'Login required to view live data: open /api/login'),
    'Login required to view live data: open /api/login');
  assert.equal(withoutTitle('Market Live', 'Market Live.'), '');
});

test('the stream line agrees with the banner', () => {
  const live = bannerModel({ health: health(), link: OPEN });
  assert.equal(streamInfo(live, 10, 12), 'Streaming the 10 symbols on this page (of 12).');
  const login = bannerModel({
    health: health({ priority_status: 'AUTH_REQUIRED', priority_message: 'Login required', auth: { ...health().auth, requires_login: true } }),
    link: OPEN,
  });
  assert.match(streamInfo(login, 10, 10), /^Not streaming until the broker login/);
  const closed = bannerModel({ health: health({ market: { ...health().market, phase: 'CLOSED', title: 'Market Closed' } }), link: OPEN });
  assert.match(streamInfo(closed, 1, 1), /^Market closed: showing the last known prices of the 1 symbol on this page/);
  assert.match(streamInfo(null, 3, 3), /^Connecting/);
});
