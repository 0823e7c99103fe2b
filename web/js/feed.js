// The page's connection to feedgate's /ws/market (DESIGN.md §6): keeps one WebSocket open,
// reconnects with capped, jittered backoff, and keeps the server's subscriptions equal to the
// set of symbols the page wants (the visible rows), re-sending them after every reconnect.
// No DOM: it reports through events, so Node tests drive it with a fake WebSocket.
//
// Events (CustomEvent, payload in `detail`):
//   state              { state, retryInMs, attempt }    link state changed ('connecting' | 'open' | 'waiting')
//   ticker             the `data` of a ticker message
//   candle             a candle message (only for the symbol set with `setCandles`)
//   connection_status  the message
//   heartbeat          the message
//   rejected           { symbol, reason }               the server refused a symbol we asked for
//   servererror        the error message                an error that answers none of our requests
//   unauthorized       {}                               feedgate wants a key (close 4001): no retry
//                                                       until `retryNow` after a sign-in

import { backoffDelay } from './backoff.js';

const REQUEST_TIMEOUT_MS = 10_000;
/** With no message for this long we send a ping; twice this long means the socket is dead. */
const QUIET_MS = 20_000;
/** feedgate's close code for a missing or wrong key. */
const CLOSE_UNAUTHORIZED = 4001;
/** A connection that stayed up this long resets the backoff to its first step. */
const STABLE_MS = 10_000;

export class FeedClient extends EventTarget {
  #url;
  #WebSocket;
  #random;
  #throttleMs;
  #socket = null;
  #state = 'idle';
  #attempt = 0;
  #retryTimer = null;
  #retryAt = 0;
  #openedAt = 0;
  #lastMessageAt = 0;
  #livenessTimer = null;
  #nextId = 1;
  #pending = new Map();
  /** Symbols the page wants streamed, in display order. */
  #desired = [];
  /** Symbols the server has for this connection (as far as our requests and acks say). */
  #server = new Set();
  /** `{ symbol, interval }` whose candles the page wants pushed (the open chart), or null. */
  #candles = null;
  /** symbol → candle interval the server pushes for this connection. */
  #serverCandles = new Map();

  constructor(url, { throttleMs = 250, WebSocketImpl = globalThis.WebSocket, random = Math.random } = {}) {
    super();
    this.#url = url;
    this.#WebSocket = WebSocketImpl;
    this.#random = random;
    this.#throttleMs = throttleMs;
  }

  get state() {
    return this.#state;
  }

  /** Milliseconds until the next connection attempt, while waiting; otherwise null. */
  get retryInMs() {
    return this.#state === 'waiting' ? Math.max(0, this.#retryAt - Date.now()) : null;
  }

  /** Symbols currently subscribed on the server for this page. */
  get subscribed() {
    return [...this.#server];
  }

  start() {
    if (this.#state === 'idle') this.#connect();
  }

  /** Skips the remaining backoff (the "Retry now" button, or the browser coming back online). */
  retryNow() {
    if (this.#state !== 'waiting') return;
    clearTimeout(this.#retryTimer);
    this.#connect();
  }

  /** Sets the symbols to stream; only the difference is sent to the server. */
  setSymbols(symbols) {
    this.#desired = [...new Set(symbols)];
    if (this.#state === 'open') this.#reconcile();
  }

  /**
   * Asks for `candle` messages of one symbol at `interval` ('1m', '5m', '15m'), or for none
   * (`symbol` null). The symbol is streamed while it is set, visible or not. When the chart
   * closes (or moves to another symbol) the old symbol's candle messages are switched off with
   * `"candles": false`; one already in flight is dropped here instead of reaching the page.
   */
  setCandles(symbol, interval) {
    this.#candles = symbol ? { symbol, interval } : null;
    if (this.#state === 'open') this.#reconcile();
  }

  /**
   * Asks the server to subscribe one user-typed symbol and reports its verdict:
   * `{ ok: true, symbol }` with the canonical symbol, or `{ ok: false, reason }`.
   */
  async probe(symbol) {
    if (this.#state !== 'open') {
      return { ok: false, reason: 'not connected to feedgate; try again once the page is back online' };
    }
    let reply;
    try {
      reply = await this.#request({ action: 'subscribe', symbols: [symbol], mode: 'quote' });
    } catch (err) {
      return { ok: false, reason: err.message };
    }
    if (reply.type === 'error') return { ok: false, reason: reply.message || 'refused by feedgate' };
    const rejected = Array.isArray(reply.rejected) ? reply.rejected : [];
    if (rejected.length > 0) return { ok: false, reason: String(rejected[0].reason || 'refused by feedgate') };
    const canonical = Array.isArray(reply.symbols) && typeof reply.symbols[0] === 'string' ? reply.symbols[0] : symbol;
    this.#server.add(canonical);
    return { ok: true, symbol: canonical };
  }

  #setState(state) {
    this.#state = state;
    this.#emit('state', { state, retryInMs: this.retryInMs, attempt: this.#attempt });
  }

  #emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  #connect() {
    this.#retryTimer = null;
    let socket;
    try {
      socket = new this.#WebSocket(this.#url);
    } catch {
      this.#scheduleRetry();
      return;
    }
    this.#socket = socket;
    this.#setState('connecting');
    socket.onopen = () => this.#onOpen(socket);
    socket.onmessage = (ev) => this.#onMessage(socket, ev);
    socket.onclose = (ev) => this.#onClose(socket, ev);
    // An error is always followed by a close event, which does the work.
    socket.onerror = () => {};
  }

  #onOpen(socket) {
    if (socket !== this.#socket) return;
    this.#openedAt = Date.now();
    this.#lastMessageAt = this.#openedAt;
    this.#server.clear();
    this.#serverCandles.clear();
    this.#setState('open');
    this.#send({ action: 'options', throttle_ms: this.#throttleMs, id: this.#takeId() });
    this.#reconcile();
    this.#livenessTimer = setInterval(() => this.#checkLiveness(socket), QUIET_MS / 2);
  }

  #onClose(socket, ev) {
    if (socket !== this.#socket) return;
    this.#dropSocket();
    if (ev?.code === CLOSE_UNAUTHORIZED) {
      // Retrying cannot help until someone signs in; `retryNow` starts again after that.
      this.#attempt = 0;
      this.#openedAt = 0;
      this.#retryAt = Date.now();
      this.#setState('waiting');
      this.#emit('unauthorized', {});
      return;
    }
    // Only a connection that opened and then stayed up earns a fresh start.
    if (this.#openedAt > 0 && Date.now() - this.#openedAt >= STABLE_MS) this.#attempt = 0;
    this.#openedAt = 0;
    this.#scheduleRetry();
  }

  /** Forgets the current socket: handlers detached, replies failed, subscriptions gone. */
  #dropSocket() {
    const socket = this.#socket;
    this.#socket = null;
    clearInterval(this.#livenessTimer);
    this.#livenessTimer = null;
    this.#server.clear();
    this.#serverCandles.clear();
    for (const { reject, timer } of this.#pending.values()) {
      clearTimeout(timer);
      reject(new Error('the connection to feedgate closed before it answered'));
    }
    this.#pending.clear();
    if (socket) {
      socket.onopen = socket.onmessage = socket.onclose = socket.onerror = null;
      try {
        socket.close();
      } catch {
        // Already closed.
      }
    }
  }

  #scheduleRetry() {
    this.#attempt += 1;
    const delay = backoffDelay(this.#attempt, this.#random);
    this.#retryAt = Date.now() + delay;
    this.#retryTimer = setTimeout(() => this.#connect(), delay);
    this.#setState('waiting');
  }

  /** A socket that went silent (a dead network path never closes by itself) is replaced. */
  #checkLiveness(socket) {
    if (socket !== this.#socket) return;
    const quiet = Date.now() - this.#lastMessageAt;
    if (quiet >= 2 * QUIET_MS) {
      this.#dropSocket();
      this.#openedAt = 0;
      this.#scheduleRetry();
    } else if (quiet >= QUIET_MS) {
      this.#send({ action: 'ping', id: this.#takeId() });
    }
  }

  #reconcile() {
    const chart = this.#candles;
    const want = new Set(this.#desired);
    if (chart) want.add(chart.symbol);
    const remove = [...this.#server].filter((s) => !want.has(s));
    const add = [...want].filter((s) => !this.#server.has(s) && s !== chart?.symbol);
    if (remove.length > 0) {
      for (const s of remove) {
        this.#server.delete(s);
        this.#serverCandles.delete(s);
      }
      this.#send({ action: 'unsubscribe', symbols: remove, id: this.#takeId() });
    }
    if (add.length > 0) {
      for (const s of add) this.#server.add(s);
      this.#send({ action: 'subscribe', symbols: add, mode: 'quote', id: this.#takeId() });
    }
    // Subscribing a symbol again with `candles` only switches its candle messages on, off (false)
    // or to another interval: no new snapshot, nothing changes upstream.
    const off = [...this.#serverCandles.keys()].filter((s) => s !== chart?.symbol && this.#server.has(s));
    if (off.length > 0) {
      for (const s of off) this.#serverCandles.delete(s);
      this.#send({ action: 'subscribe', symbols: off, mode: 'quote', candles: false, id: this.#takeId() });
    }
    if (chart && this.#serverCandles.get(chart.symbol) !== chart.interval) {
      this.#server.add(chart.symbol);
      this.#serverCandles.set(chart.symbol, chart.interval);
      this.#send({ action: 'subscribe', symbols: [chart.symbol], mode: 'quote', candles: chart.interval, id: this.#takeId() });
    }
  }

  #takeId() {
    const id = this.#nextId;
    this.#nextId += 1;
    return id;
  }

  #send(message) {
    if (!this.#socket || this.#state !== 'open') return false;
    try {
      this.#socket.send(JSON.stringify(message));
      return true;
    } catch {
      return false;
    }
  }

  /** Sends a request and resolves with the ack, pong or error that carries its id. */
  #request(message) {
    const id = this.#takeId();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error('feedgate did not answer in time'));
      }, REQUEST_TIMEOUT_MS);
      this.#pending.set(id, { resolve, reject, timer });
      if (!this.#send({ ...message, id })) {
        clearTimeout(timer);
        this.#pending.delete(id);
        reject(new Error('not connected to feedgate'));
      }
    });
  }

  #onMessage(socket, ev) {
    if (socket !== this.#socket) return;
    this.#lastMessageAt = Date.now();
    if (typeof ev.data !== 'string') return;
    let msg;
    try {
      msg = JSON.parse(ev.data);
    } catch {
      return;
    }
    if (!msg || typeof msg !== 'object') return;
    switch (msg.type) {
      case 'ticker':
        if (msg.data && typeof msg.data.symbol === 'string') this.#emit('ticker', msg.data);
        break;
      case 'ack':
      case 'pong':
      case 'error':
        this.#onReply(msg);
        break;
      case 'connection_status':
      case 'heartbeat':
        this.#emit(msg.type, msg);
        break;
      case 'candle':
        if (this.#candles && msg.symbol === this.#candles.symbol && msg.interval === this.#candles.interval) this.#emit('candle', msg);
        break;
      default:
        // Message types this page does not use are ignored.
        break;
    }
  }

  #onReply(msg) {
    const waiter = msg.id !== undefined ? this.#pending.get(msg.id) : undefined;
    if (waiter) {
      clearTimeout(waiter.timer);
      this.#pending.delete(msg.id);
      waiter.resolve(msg);
      return;
    }
    if (msg.type === 'ack' && Array.isArray(msg.rejected)) {
      for (const r of msg.rejected) {
        if (!r || typeof r.symbol !== 'string') continue;
        this.#server.delete(r.symbol);
        this.#serverCandles.delete(r.symbol);
        this.#emit('rejected', { symbol: r.symbol, reason: String(r.reason || 'refused by feedgate') });
      }
    } else if (msg.type === 'error') {
      this.#emit('servererror', msg);
    }
  }
}
