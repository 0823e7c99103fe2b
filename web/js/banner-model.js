// What the status banner says, as a pure function of what the page knows: the latest health
// document (DESIGN.md §5), the page's own link to feedgate, and the WebSocket's
// connection_status/heartbeat messages (DESIGN.md §6). No DOM; unit-tested under Node.
//
// Order of precedence: the page cannot reach feedgate → "Offline"; then the server's priority
// verdict (AUTH_REQUIRED > FEED_DISCONNECTED > MARKET_SESSION). Without a usable health
// document (an older gateway, or a failing health check) the WebSocket's status messages give
// the same verdict in less detail.

import { formatAge, formatHours, isNum } from './format.js';

/** Market phases: banner tone and a title for when the server sends none. */
export const PHASES = Object.freeze({
  PRE_OPEN: { tone: 'pre', title: 'Pre-open session' },
  AUCTION_FREEZE: { tone: 'pre', title: 'Pre-open auction' },
  LIVE: { tone: 'live', title: 'Market Live' },
  POST_CLOSE: { tone: 'closed', title: 'Post-close session' },
  CLOSED: { tone: 'closed', title: 'Market Closed' },
});

/** A health document older than this (while polls fail) no longer speaks for the present. */
export const HEALTH_MAX_AGE_S = 15;
const REST_MODE = 'REST API Polling';

/** The words before a countdown to `next` while the market is in `phase`. */
export function countdownLabel(phase, next) {
  switch (next) {
    case 'LIVE':
      return 'Trading starts in';
    case 'PRE_OPEN':
      return 'Pre-open starts in';
    case 'AUCTION_FREEZE':
      return 'Pre-open order entry closes in';
    case 'POST_CLOSE':
      return phase === 'LIVE' ? 'Market closes in' : 'Post-close session starts in';
    case 'CLOSED':
      if (phase === 'LIVE') return 'Market closes in';
      if (phase === 'POST_CLOSE') return 'Post-close session ends in';
      return 'Session ends in';
    default:
      return 'Next phase in';
  }
}

const obj = (v) => (v && typeof v === 'object' ? v : {});
const str = (v) => (typeof v === 'string' && v.length > 0 ? v : null);

function holidayText(h) {
  if (typeof h === 'string') return h;
  if (h && typeof h === 'object') return str(h.name) ?? str(h.description) ?? str(h.reason);
  return null;
}

function linkText(link) {
  if (link.state === 'open') return 'live (WebSocket to feedgate)';
  if (link.state === 'waiting' && isNum(link.retryInMs)) return `offline; reconnecting in ${Math.ceil(link.retryInMs / 1000)} s`;
  return 'connecting';
}

/** The rows of the expandable details list: `[label, value]`, missing values left out. */
export function detailRows({ health, healthError, healthAgeS, link, heartbeat }) {
  const rows = [];
  const add = (label, value) => {
    if (value !== null && value !== undefined && value !== '') rows.push([label, String(value)]);
  };
  const auth = obj(health?.auth);
  const feed = obj(health?.feed);
  const hbFeed = obj(heartbeat?.connectionHealth);
  const market = obj(health?.market);

  // In a cluster, a node that does not lead serves the leader's login and feed, named in `from`.
  const onLeader = (section) => (str(section.from) ? ` — on the leader, ${section.from}` : '');
  if (str(auth.state)) {
    const age = isNum(auth.token_age_hours) ? `, token ${formatHours(auth.token_age_hours)} old` : '';
    add('Login', `${auth.state}${age}${onLeader(auth)}`);
  }
  const feedState = str(feed.state) ?? str(hbFeed.state);
  if (feedState) {
    const healthy = feed.is_healthy ?? hbFeed.is_healthy;
    const state = typeof healthy === 'boolean' ? `${feedState} (${healthy ? 'healthy' : 'not healthy'})` : feedState;
    add('Broker feed', `${state}${onLeader(feed)}`);
  }
  add('Mode', str(feed.mode));
  const lastTick = isNum(feed.last_tick_seconds_ago) ? feed.last_tick_seconds_ago : hbFeed.last_tick_seconds_ago;
  if (feedState) add('Last tick', isNum(lastTick) ? `${formatAge(lastTick)} ago` : 'none yet');
  const quality = isNum(feed.connection_quality) ? feed.connection_quality : hbFeed.connection_quality;
  if (isNum(quality)) add('Connection quality', `${quality.toFixed(1)} % (last 15 min)`);
  if (isNum(feed.reconnect_attempts)) add('Reconnect attempts', feed.reconnect_attempts);
  // Not in DESIGN.md §5: shown when the gateway sends it.
  if (isNum(feed.reconnects_total)) add('Reconnects since start', feed.reconnects_total);
  if (isNum(feed.subscribed)) add('Broker subscriptions', feed.subscribed);
  const clients = obj(health?.clients);
  if (isNum(clients.connections)) {
    const kite = isNum(clients.kite) && clients.kite > 0 ? ` (${clients.kite} Kite protocol, on /kite)` : '';
    add('Clients connected', `${clients.connections}${kite}`);
  }
  if (str(market.phase)) {
    const holiday = holidayText(market.holiday);
    add('Market', `${str(market.title) ?? PHASES[market.phase]?.title ?? market.phase}${holiday ? ` (holiday: ${holiday})` : ''}`);
  }
  // A cluster node's health has a `cluster` section (DESIGN.md §9); a single node's has none.
  const cluster = obj(health?.cluster);
  if (str(cluster.node)) {
    const role = str(cluster.role);
    add('Served by', `${cluster.node}${role ? ` (${role})` : ''}`);
    const term = isNum(cluster.term) ? `, term ${cluster.term}` : '';
    const leader = str(cluster.leader)
      ? `${cluster.leader}${cluster.is_leader === true ? ' (this node)' : ''}${term}`
      : 'none (no node holds the broker connection)';
    add('Leader', leader);
    if (cluster.redis_ok === false) add('Redis', 'not answering');
  }
  add('This page', linkText(link));
  if (healthError) add('Status check', `failing: ${healthError}`);
  else if (isNum(healthAgeS) && healthAgeS !== Infinity) add('Status checked', `${formatAge(healthAgeS)} ago`);
  return rows;
}

/**
 * The banner's content: `{ status, tone, phase, title, message, login, retry, countdown, details }`
 * where `login` is a URL (or null), `retry` says whether to offer "Retry now", and
 * `countdown` is `{ label, seconds }` (or null). An `announce` text, when present, is what
 * screen readers hear instead of a title that changes every second.
 */
export function bannerModel(input) {
  const model = verdictModel(input);
  return { ...model, message: withoutTitle(model.title, model.message) };
}

/**
 * The message without a repeat of the title at its start: the server's messages stand alone
 * ("Using REST fallback: the broker WebSocket is unavailable, …"), and under a title saying the
 * same they read "Using REST fallback Using REST fallback: …".
 */
export function withoutTitle(title, message) {
  if (!title || !message) return message;
  const bare = (t) => t.replace(/[.…:\s]+$/u, '').toLowerCase();
  const head = bare(title);
  if (!message.toLowerCase().startsWith(head)) return message;
  // Only a whole clause repeats the title ("Using REST fallback: …"); "Reconnecting to the
  // broker" under "Reconnecting…" says more and stays.
  const after = message.slice(head.length);
  if (after && !/^\s*[:.…—-]/u.test(after)) return message;
  const rest = after.replace(/^[\s:.…,—-]+/u, '');
  return rest ? rest.charAt(0).toUpperCase() + rest.slice(1) : '';
}

/**
 * The line under the table about what the page streams, agreeing with the banner: "Streaming"
 * only when live data can flow.
 */
export function streamInfo(model, onPage, total) {
  const of = `${onPage} symbol${onPage === 1 ? '' : 's'} on this page (of ${total})`;
  switch (model?.status) {
    case 'AUTH_REQUIRED':
      return `Not streaming until the broker login: showing the last known prices of the ${of}.`;
    case 'OFFLINE':
      return `Not connected to feedgate: the prices of the ${of} are not updating.`;
    case 'FEED_DISCONNECTED':
      return `The broker feed is interrupted: the ${of} update as quotes arrive.`;
    case 'MARKET_SESSION':
      if (model.phase === 'CLOSED' || model.phase === 'POST_CLOSE') {
        return `Market closed: showing the last known prices of the ${of}.`;
      }
      return `Streaming the ${of}.`;
    default:
      return `Connecting: the ${of} will stream once feedgate answers.`;
  }
}

function verdictModel(input) {
  const { healthError = null, healthAgeS = Infinity, link, wsStatus = null } = input;
  const usable = input.health && (!healthError || healthAgeS <= HEALTH_MAX_AGE_S) ? input.health : null;
  const details = detailRows({ ...input, health: usable });
  const base = { phase: null, login: null, retry: false, countdown: null, details };

  if (link.state !== 'open') {
    if (link.state === 'waiting') {
      const secs = isNum(link.retryInMs) ? Math.max(1, Math.ceil(link.retryInMs / 1000)) : null;
      return {
        ...base,
        status: 'OFFLINE',
        tone: 'offline',
        title: secs === null ? 'Offline: reconnecting…' : `Offline: reconnecting in ${secs} s…`,
        announce: 'Offline: reconnecting to feedgate.',
        message: 'This page has lost its connection to feedgate; the prices shown are not updating.',
        retry: true,
      };
    }
    return { ...base, status: 'CONNECTING', tone: 'neutral', title: 'Connecting to feedgate…', message: '' };
  }

  if (!usable) return fromWsStatus(base, wsStatus);

  const market = obj(usable.market);
  const feed = obj(usable.feed);
  const auth = obj(usable.auth);
  const message = str(usable.priority_message);

  if (usable.priority_status === 'AUTH_REQUIRED') {
    return {
      ...base,
      status: 'AUTH_REQUIRED',
      tone: 'auth',
      title: 'Login required',
      message: message ?? 'Log in to the broker to receive live data.',
      login: str(auth.login_url) ?? '/api/login',
    };
  }

  if (usable.priority_status === 'FEED_DISCONNECTED') {
    const attempts = isNum(feed.reconnect_attempts) && feed.reconnect_attempts > 0 ? ` (attempt ${feed.reconnect_attempts})` : '';
    let title;
    let doing;
    if (str(obj(usable.cluster).node) && message?.startsWith('No leader')) {
      // A cluster without a leader: the server's message says what to do.
      title = 'No leader';
      doing = message;
    } else if (feed.using_rest_fallback === true || feed.mode === REST_MODE) {
      title = 'Using REST fallback';
      doing = `The broker's live feed is down: prices are polled over REST every few seconds while feedgate keeps reconnecting${attempts}.`;
    } else if (feed.state === 'stale') {
      title = 'Reconnecting… (feed stalled)';
      doing = `No data from the broker${isNum(feed.last_tick_seconds_ago) ? ` for ${formatAge(feed.last_tick_seconds_ago)}` : ''}: feedgate is reconnecting${attempts}.`;
    } else {
      title = 'Reconnecting…';
      doing = `The connection to the broker is down: feedgate is reconnecting${attempts}.`;
    }
    return { ...base, status: 'FEED_DISCONNECTED', tone: 'feed', phase: str(market.phase), title, message: message ?? doing };
  }

  const phase = str(market.phase);
  const info = PHASES[phase] ?? { tone: 'closed', title: phase ?? 'Market status unknown' };
  let text = str(market.description) ?? message ?? '';
  if (feed.using_rest_fallback === true) text = `${text}${text ? ' ' : ''}Live prices come from the REST fallback.`;
  const secs = isNum(market.seconds_to_next_phase) ? market.seconds_to_next_phase - (isNum(healthAgeS) ? healthAgeS : 0) : null;
  return {
    ...base,
    status: 'MARKET_SESSION',
    tone: info.tone,
    phase,
    title: str(market.title) ?? info.title,
    message: text,
    countdown: secs === null || !str(market.next_phase) ? null : { label: countdownLabel(phase, market.next_phase), seconds: Math.max(0, secs) },
  };
}

/** The verdict from connection_status alone (no health document to go by). */
function fromWsStatus(base, ws) {
  if (!ws) return { ...base, status: 'CONNECTING', tone: 'neutral', title: 'Checking feedgate status…', message: '' };
  if (ws.auth_required === true) {
    return { ...base, status: 'AUTH_REQUIRED', tone: 'auth', title: 'Login required', message: str(ws.message) ?? 'Log in to the broker to receive live data.', login: '/api/login' };
  }
  const phase = str(ws.market_status);
  if (ws.mode === REST_MODE) {
    return { ...base, status: 'FEED_DISCONNECTED', tone: 'feed', phase, title: 'Using REST fallback', message: str(ws.message) ?? 'Prices are polled over REST while feedgate reconnects.' };
  }
  if (ws.quality === 'POOR' && phase === 'LIVE') {
    return { ...base, status: 'FEED_DISCONNECTED', tone: 'feed', phase, title: 'Reconnecting…', message: str(ws.message) ?? 'feedgate is reconnecting to the broker.' };
  }
  const info = PHASES[phase] ?? { tone: 'closed', title: phase ?? 'Market status unknown' };
  return { ...base, status: 'MARKET_SESSION', tone: info.tone, phase, title: info.title, message: str(ws.message) ?? '' };
}

