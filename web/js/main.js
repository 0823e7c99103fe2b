// The dashboard's entry point: wires the sign-in, the WebSocket client, the health poller, the
// banner, the screener, the candle chart, the pager and the add-symbol box together. Everything with logic
// worth testing lives in the modules it imports; this file only connects events to them.

import { bannerModel, streamInfo } from './banner-model.js';
import { Banner } from './banner.js';
import { CandleChart } from './chart.js';
import { FeedClient } from './feed.js';
import { HealthMonitor } from './health.js';
import { Pager } from './pager.js';
import { Screener } from './screener.js';
import { credential, SessionClient } from './session.js';
import { CandleFetcher, SeriesStore } from './series.js';
import { Suggestions } from './suggest.js';
import { cleanInput, pageOf, Watchlist } from './watchlist.js';

const THROTTLE_MS = 250;

function localStorageOrNull() {
  try {
    return window.localStorage;
  } catch {
    return null;
  }
}

const $ = (id) => document.getElementById(id);

const wsUrl = `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}/ws/market`;
const feed = new FeedClient(wsUrl, { throttleMs: THROTTLE_MS });
const health = new HealthMonitor('/api/system/health');
const watchlist = new Watchlist(localStorageOrNull());
const series = new SeriesStore();
const banner = new Banner(document, () => {
  feed.retryNow();
  health.refreshSoon();
});
const screener = new Screener(document, { series, onRemove: removeSymbol, onChart: (symbol, opener) => chart.open(symbol, opener) });
const candles = new CandleFetcher(series, (symbol) => screener.seriesChanged(symbol));
const chart = new CandleChart(document, {
  onWant: (symbol, interval) => feed.setCandles(symbol, interval),
  // The chart's 1-minute candles are the sparkline's too: one source for both.
  onCandles: (symbol, list, date) => {
    if (series.setFromCandles(symbol, list, date)) screener.seriesChanged(symbol);
  },
});
const pager = new Pager(document, (page) => {
  if (watchlist.setPage(page)) showPage();
});

const form = $('add-form');
const input = $('add-symbol');
const feedback = $('add-feedback');
const suggestions = new Suggestions(input, $('symbol-suggestions'));

let wsStatus = null;
let heartbeat = null;
let visible = new Set();
let lastBanner = null;

function renderBanner() {
  lastBanner = bannerModel({
    health: health.doc,
    healthError: health.error,
    healthAgeS: health.ageSeconds,
    link: { state: feed.state, retryInMs: feed.retryInMs },
    wsStatus,
    heartbeat,
  });
  banner.render(lastBanner);
  renderStreamInfo();
}

function renderStreamInfo() {
  const text = streamInfo(lastBanner, watchlist.pageSymbols().length, watchlist.symbols.length);
  const el = $('stream-info');
  if (el.textContent !== text) el.textContent = text;
}

function showPage() {
  const symbols = watchlist.pageSymbols();
  visible = new Set(symbols);
  screener.show(symbols);
  feed.setSymbols(symbols);
  pager.render(watchlist.page, watchlist.pageCount);
  $('quotes-caption').textContent = `Watchlist, page ${watchlist.page + 1} of ${watchlist.pageCount}`;
  renderStreamInfo();
}

function removeSymbol(symbol) {
  const index = watchlist.pageSymbols().indexOf(symbol);
  watchlist.remove(symbol);
  series.forget(symbol);
  showPage();
  say(`Removed ${symbol}.`, 'info');
  // Keep keyboard users in the table: focus the row that took the removed one's place.
  if (!screener.focusRemove(Math.max(0, index))) input.focus();
}

function say(text, kind) {
  feedback.textContent = text;
  feedback.dataset.kind = kind;
}

async function addSymbol(event) {
  event.preventDefault();
  const text = cleanInput(input.value);
  if (text === null) {
    say('Type a symbol first, for example NSE:SBIN.', 'error');
    return;
  }
  const button = form.querySelector('button[type="submit"]');
  button.disabled = true;
  say(`Checking ${text}…`, 'info');
  try {
    const verdict = await feed.probe(text);
    if (!verdict.ok) {
      say(`Could not add ${text}: ${verdict.reason}.`, 'error');
      // The probe may have left nothing subscribed, or something off-page: realign.
      feed.setSymbols(watchlist.pageSymbols());
      return;
    }
    const known = watchlist.has(verdict.symbol);
    if (!watchlist.add(verdict.symbol)) {
      say(`The watchlist is full; remove a symbol before adding ${verdict.symbol}.`, 'error');
      feed.setSymbols(watchlist.pageSymbols());
      return;
    }
    const page = pageOf(watchlist.symbols.indexOf(verdict.symbol)) + 1;
    say(known ? `${verdict.symbol} is already in the watchlist (page ${page}).` : `Added ${verdict.symbol} (page ${page}).`, 'ok');
    input.value = '';
    suggestions.clear();
    showPage();
  } finally {
    button.disabled = false;
  }
}

let everOpen = false;
feed.addEventListener('state', () => {
  renderBanner();
  if (feed.state !== 'open') return;
  health.refreshSoon();
  // Back after an outage: the open chart fetches the candles it missed.
  if (everOpen) chart.reconnected();
  everOpen = true;
});
feed.addEventListener('ticker', ({ detail }) => {
  // Last-known values are shown in the row, but are no new point of the session's line.
  if (detail.stale !== true) series.addTick(detail.symbol, detail.ltp, detail.ts, Date.now());
  screener.update(detail);
  chart.onTick(detail);
  if (visible.has(detail.symbol)) candles.want(detail.symbol);
});
feed.addEventListener('candle', ({ detail }) => {
  chart.onCandle(detail);
  if (detail.interval === '1m' && series.closeMinute(detail.symbol, Date.parse(detail.t), detail.close)) {
    screener.seriesChanged(detail.symbol);
  }
});
feed.addEventListener('connection_status', ({ detail }) => {
  wsStatus = detail;
  health.refreshSoon();
  renderBanner();
});
feed.addEventListener('heartbeat', ({ detail }) => {
  heartbeat = detail;
  renderBanner();
});
feed.addEventListener('rejected', ({ detail }) => screener.reject(detail.symbol, detail.reason));
feed.addEventListener('servererror', ({ detail }) => {
  if (typeof detail.message === 'string') say(`feedgate: ${detail.message}`, 'error');
});
health.addEventListener('update', renderBanner);

form.addEventListener('submit', addSymbol);
$('reset-watchlist').addEventListener('click', () => {
  watchlist.reset();
  showPage();
  say('Restored the default watchlist.', 'info');
});
window.addEventListener('online', () => {
  feed.retryNow();
  health.refreshSoon();
});
document.addEventListener('visibilitychange', () => {
  if (document.hidden) return;
  feed.retryNow();
  health.refreshSoon();
});
// Countdowns (market phase, reconnect) tick once a second; last-known ages every 10 seconds.
setInterval(renderBanner, 1000);
setInterval(() => screener.refreshAges(), 10_000);

// ---- sign-in (only when feedgate asks for keys) ----

const session = new SessionClient();
let live = false;

function showSignIn(show) {
  $('signin').hidden = !show;
  $('screener').hidden = show;
  if (show) $('signin-id').focus();
}

function startLive() {
  showSignIn(false);
  if (live) {
    feed.retryNow();
    health.refreshSoon();
    return;
  }
  live = true;
  showPage();
  feed.start();
  health.start();
  renderBanner();
}

async function signIn(event) {
  event.preventDefault();
  const feedbackEl = $('signin-feedback');
  const c = credential($('signin-id').value, $('signin-secret').value);
  if (c.error) {
    feedbackEl.textContent = c.error;
    feedbackEl.dataset.kind = 'error';
    return;
  }
  const button = event.target.querySelector('button[type="submit"]');
  button.disabled = true;
  try {
    await session.signIn(c.value);
    $('signin-secret').value = '';
    feedbackEl.textContent = '';
    $('sign-out').hidden = false;
    startLive();
  } catch (err) {
    feedbackEl.textContent = err.message;
    feedbackEl.dataset.kind = 'error';
  } finally {
    button.disabled = false;
  }
}

$('signin-form').addEventListener('submit', signIn);
$('sign-out').addEventListener('click', async () => {
  await session.signOut().catch(() => {});
  location.reload();
});
// The session expired or was signed out elsewhere: ask again instead of retrying forever.
feed.addEventListener('unauthorized', () => {
  $('sign-out').hidden = true;
  showSignIn(true);
});

async function boot() {
  let status = null;
  try {
    status = await session.status();
  } catch {
    // Unreachable for now: start as without access control; the feed's retries take over.
  }
  if (status?.auth === 'keys' && !status.signed_in) {
    showSignIn(true);
    return;
  }
  $('sign-out').hidden = status?.auth !== 'keys';
  startLive();
}

boot();
