// The click-to-open candle chart: a modal <dialog> (index.html #chart) with the session's
// candles of one symbol from GET /api/candles, at 1, 5 or 15 minutes, drawn as SVG: hollow
// (up) and filled (down) candles in a colour-blind-safe blue/orange pair, volume bars, a price
// axis, IST time labels and a crosshair whose OHLCV readout follows the pointer or the arrow
// keys (the plot is a slider over the candles, so screen readers hear the same readout).
//
// Live updates: the page's WebSocket asks for `candle` messages of the open chart's symbol and
// interval (FeedClient.setCandles), so each candle is replaced by the server's own at its close,
// and between closes the forming candle follows the row's live ticks (candles.js). A fetch runs
// on open, on an interval change and after the page reconnects (to mend what it missed).
// Chosen over re-fetching every minute: the close arrives when the server closes the minute
// (not up to a polling period later), 5- and 15-minute candles come aggregated by the server,
// and the page's one connection already carries the ticks that move the forming candle.

import { fetchCandles, INTERVALS, istDate, istTime, LiveCandles } from './candles.js';
import { candlePaths, layout, priceRange, priceTicks, timeTicks, visibleMax, xOf, yOf } from './chart-scale.js';
import { formatChange, formatPercent, formatPrice, formatVolume } from './format.js';

const SVG_NS = 'http://www.w3.org/2000/svg';
/** Below this many candles the plot keeps room for more on the right instead of stretching them. */
const MIN_SLOTS = 40;
/** A live tick from a day the chart does not show fetches again, at most this often. */
const OTHER_DAY_REFETCH_MS = 30_000;

const dayFormat = new Intl.DateTimeFormat('en-GB', { day: 'numeric', month: 'short', year: 'numeric', timeZone: 'UTC' });

/** `20 Nov 2026` for `2026-11-20`. */
export function formatDay(date) {
  const [y, m, d] = date.split('-').map(Number);
  return dayFormat.format(Date.UTC(y, m - 1, d));
}

/** What the chart's subtitle says about the day its candles are from. */
export function sessionLabel(date, today) {
  if (!date) return '';
  return date === today ? `Today's session, ${formatDay(date)} (times in IST)` : `Session of ${formatDay(date)} (times in IST)`;
}

/** The readout of one candle, as shown and as read out: `{ time, parts: [[label, value]], speech }`. */
export function describeCandle(c, minutes) {
  const time = `${istTime(c.t)}\u2013${istTime(c.t + minutes * 60_000)}`;
  const move = c.close - c.open;
  const pct = c.open !== 0 ? (move / c.open) * 100 : 0;
  const arrow = move > 0 ? '\u25b2 ' : move < 0 ? '\u25bc ' : '';
  const parts = [
    ['O', formatPrice(c.open)],
    ['H', formatPrice(c.high)],
    ['L', formatPrice(c.low)],
    ['C', formatPrice(c.close)],
    ['', `${arrow}${formatChange(move)} (${formatPercent(pct)})`],
  ];
  if (c.volume > 0) parts.push(['Vol', formatVolume(c.volume)]);
  const kind = move > 0 ? 'rising' : move < 0 ? 'falling' : 'unchanged';
  const speech = `${time}, ${kind}${c.final === false ? ', still forming' : ''}: open ${formatPrice(c.open)}, high ${formatPrice(c.high)}, `
    + `low ${formatPrice(c.low)}, close ${formatPrice(c.close)}${c.volume > 0 ? `, volume ${formatVolume(c.volume)}` : ''}`;
  return { time, parts, speech };
}

function svgEl(doc, name, attrs) {
  const el = doc.createElementNS(SVG_NS, name);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

export class CandleChart {
  #doc;
  #fetch;
  #onWant;
  #onCandles;
  #now;
  #el = {};
  #symbol = null;
  #opener = null;
  #series = new LiveCandles('1m');
  #state = 'closed';
  #abort = null;
  #seq = 0;
  /** Candle messages that arrived while a fetch was under way: applied after it. */
  #early = [];
  #otherDayAt = 0;
  /** Whether a live tick or a pushed candle has moved the chart since it loaded. */
  #live = false;
  /** Selected candle's start time, or null to follow the newest. */
  #selT = null;
  /** Exclusive end index of the visible window, or null to show the newest. */
  #end = null;
  #frame = 0;
  #view = null;

  /**
   * `onWant(symbol, interval)`: the candle messages wanted (null symbol: none).
   * `onCandles(symbol, candles, date)`: fresh 1-minute candles, for the row's sparkline.
   */
  constructor(doc, { fetchImpl = globalThis.fetch.bind(globalThis), onWant, onCandles, now = Date.now }) {
    this.#doc = doc;
    this.#fetch = fetchImpl;
    this.#onWant = onWant;
    this.#onCandles = onCandles;
    this.#now = now;
    const $ = (id) => doc.getElementById(id);
    const el = this.#el;
    for (const [key, id] of Object.entries({
      dialog: 'chart', symbol: 'chart-symbol', session: 'chart-session', close: 'chart-close', readout: 'chart-readout',
      plot: 'chart-plot', svg: 'chart-svg', empty: 'chart-empty', status: 'chart-status', announce: 'chart-announce',
      earlier: 'chart-earlier', later: 'chart-later',
    })) el[key] = $(id);
    el.intervals = [...el.dialog.querySelectorAll('button[data-interval]')];
    this.#buildSvg();

    el.dialog.addEventListener('close', () => this.#closed());
    // A click on the backdrop (the dialog box itself, outside its content) closes it too.
    el.dialog.addEventListener('click', (ev) => {
      if (ev.target === el.dialog) el.dialog.close();
    });
    el.close.addEventListener('click', () => el.dialog.close());
    for (const b of el.intervals) b.addEventListener('click', () => this.#setInterval(b.dataset.interval));
    el.plot.addEventListener('keydown', (ev) => this.#key(ev));
    el.plot.addEventListener('pointermove', (ev) => this.#point(ev));
    el.plot.addEventListener('pointerdown', (ev) => this.#point(ev));
    el.earlier.addEventListener('click', () => this.#page(-1));
    el.later.addEventListener('click', () => this.#page(1));
    if (typeof ResizeObserver === 'function') new ResizeObserver(() => this.#schedule()).observe(el.plot);
  }

  get symbol() {
    return this.#symbol;
  }

  /** Opens the chart of `symbol`; focus returns to `opener` when it closes. */
  open(symbol, opener = null) {
    const el = this.#el;
    this.#symbol = symbol;
    this.#opener = opener;
    const [exchange, name] = symbol.includes(':') ? symbol.split(/:(.*)/s, 2) : ['', symbol];
    el.symbol.textContent = exchange ? `${name} (${exchange})` : name;
    el.dialog.dataset.symbol = symbol;
    if (!el.dialog.open) el.dialog.showModal();
    el.plot.focus();
    this.#load(this.#series.interval);
  }

  /** A ticker message's data (any symbol). */
  onTick(data) {
    if (this.#state !== 'ready' && this.#state !== 'empty') return;
    if (data?.symbol !== this.#symbol) return;
    const r = this.#series.applyTick(data);
    if (r === 'changed') {
      this.#live = true;
      if (this.#state === 'empty') this.#setState('ready');
      this.#schedule();
    } else if (r === 'other-day' && this.#now() - this.#otherDayAt > OTHER_DAY_REFETCH_MS) {
      // The session the chart shows has ended and a new one is live: show the new one.
      this.#otherDayAt = this.#now();
      this.#load(this.#series.interval);
    }
  }

  /** A `candle` message from the WebSocket. */
  onCandle(msg) {
    if (msg?.symbol !== this.#symbol) return;
    if (this.#state === 'loading') {
      this.#early.push(msg);
      return;
    }
    if (this.#state !== 'ready' && this.#state !== 'empty') return;
    if (this.#series.applyClosed(msg)) {
      this.#live = true;
      this.#setState('ready');
      this.#el.dialog.dataset.closedAt = msg.t;
      this.#schedule();
    }
  }

  /** The page's connection came back: fetch what was missed while it was away. */
  reconnected() {
    if (this.#symbol && this.#state !== 'closed') this.#load(this.#series.interval);
  }

  #setInterval(interval) {
    if (!(interval in INTERVALS)) return;
    this.#load(interval);
  }

  async #load(interval) {
    const el = this.#el;
    const symbol = this.#symbol;
    const seq = ++this.#seq;
    this.#abort?.abort();
    const abort = typeof AbortController === 'function' ? new AbortController() : null;
    this.#abort = abort;
    if (interval !== this.#series.interval) {
      this.#selT = null;
      this.#end = null;
    }
    this.#series = new LiveCandles(interval);
    this.#early = [];
    this.#live = false;
    for (const b of el.intervals) b.setAttribute('aria-pressed', String(b.dataset.interval === interval));
    el.dialog.dataset.interval = interval;
    delete el.dialog.dataset.closedAt;
    this.#setState('loading');
    this.#schedule();
    this.#onWant(symbol, interval);
    let res;
    try {
      res = await fetchCandles(this.#fetch, symbol, interval, abort?.signal);
    } catch {
      res = null;
    }
    if (seq !== this.#seq || this.#symbol !== symbol) return;
    this.#abort = null;
    if (!res || res.candles === null) {
      const why = !res ? 'feedgate could not be reached' : res.message ?? `feedgate answered HTTP ${res.status}`;
      this.#error(`Could not load the candles: ${why}.`);
      return;
    }
    this.#series.load(res.candles, res.date, this.#now());
    el.dialog.dataset.date = this.#series.date;
    for (const msg of this.#early) {
      if (this.#series.applyClosed(msg)) {
        el.dialog.dataset.closedAt = msg.t;
        this.#live = true;
      }
    }
    this.#early = [];
    if (interval === '1m') this.#onCandles(symbol, this.#series.candles, this.#series.date);
    const n = this.#series.candles.length;
    this.#setState(n > 0 ? 'ready' : 'empty');
    // Said once per load (the status line below the plot changes every minute and is not announced).
    el.announce.textContent = n > 0
      ? `${n} candle${n === 1 ? '' : 's'} loaded. ${sessionLabel(this.#series.date, istDate(this.#now()))}.`
      : 'No candles yet for this session.';
    this.#render();
  }

  #error(text) {
    this.#setState('error');
    this.#el.empty.textContent = text;
    this.#el.status.textContent = text;
    this.#el.announce.textContent = text;
    this.#schedule();
  }

  #setState(state) {
    this.#state = state;
    this.#el.dialog.dataset.state = state;
  }

  #closed() {
    this.#seq += 1;
    this.#abort?.abort();
    this.#abort = null;
    this.#setState('closed');
    this.#symbol = null;
    this.#selT = null;
    this.#end = null;
    this.#onWant(null, null);
    const opener = this.#opener;
    this.#opener = null;
    if (opener?.isConnected) opener.focus();
  }

  // ---- view ----

  #schedule() {
    if (this.#frame === 0) this.#frame = requestAnimationFrame(() => {
      this.#frame = 0;
      this.#render();
    });
  }

  /** Indices of the visible window and the selected candle, from the view state. */
  #window(n, maxV) {
    const size = Math.min(n, maxV);
    const end = this.#end === null ? n : Math.min(n, Math.max(size, this.#end));
    const start = end - size;
    let sel = n - 1;
    if (this.#selT !== null) {
      const i = this.#series.candles.findIndex((c) => c.t >= this.#selT);
      sel = i < 0 ? n - 1 : i;
    }
    sel = Math.min(end - 1, Math.max(start, sel));
    return { start, end, sel };
  }

  /** Selects candle `i` (scrolling the window to it); drawn now, or at the next frame when `soon`. */
  #select(i, soon = false) {
    const candles = this.#series.candles;
    const v = this.#view;
    if (!v || candles.length === 0) return;
    const n = candles.length;
    const sel = Math.min(n - 1, Math.max(0, i));
    this.#selT = sel === n - 1 ? null : candles[sel].t;
    if (sel < v.start) this.#end = sel + v.size;
    else if (sel >= v.end) this.#end = sel + 1;
    if (this.#end !== null && this.#end >= n) this.#end = null;
    if (soon) this.#schedule();
    else this.#render();
  }

  #key(ev) {
    const v = this.#view;
    if (!v || this.#series.candles.length === 0) return;
    const steps = {
      ArrowLeft: -1, ArrowDown: -1, ArrowRight: 1, ArrowUp: 1, PageDown: -10, PageUp: 10,
    };
    let target;
    if (ev.key in steps) target = v.sel + steps[ev.key];
    else if (ev.key === 'Home') target = 0;
    else if (ev.key === 'End') target = this.#series.candles.length - 1;
    else return;
    ev.preventDefault();
    this.#select(target);
  }

  #point(ev) {
    const v = this.#view;
    if (!v || v.size === 0) return;
    const rect = this.#el.svg.getBoundingClientRect();
    const x = ev.clientX - rect.left;
    const i = Math.floor((x - v.geo.x0) / v.geo.pitch);
    if (i < 0 || i >= v.end - v.start) return;
    this.#select(v.start + i, true);
  }

  #page(direction) {
    const v = this.#view;
    if (!v) return;
    const n = this.#series.candles.length;
    const end = Math.min(n, Math.max(v.size, v.end + direction * v.size));
    this.#end = end >= n ? null : end;
    this.#selT = end >= n ? null : this.#series.candles[end - 1].t;
    this.#render();
  }

  #buildSvg() {
    const doc = this.#doc;
    const svg = this.#el.svg;
    const path = (cls) => svgEl(doc, 'path', { class: cls, d: '' });
    const parts = {
      band: svgEl(doc, 'rect', { class: 'chart-band', x: 0, y: 0, width: 0, height: 0 }),
      grid: path('chart-grid'),
      volume: path('chart-vol'),
      upWick: path('chart-wick-up'),
      downWick: path('chart-wick-down'),
      upBody: path('chart-up'),
      downBody: path('chart-down'),
      crossX: path('chart-cross'),
      crossY: path('chart-cross'),
      labels: svgEl(doc, 'g', { class: 'chart-labels' }),
      tag: svgEl(doc, 'g', { class: 'chart-tag' }),
    };
    parts.tagBox = svgEl(doc, 'rect', { x: 0, y: 0, width: 0, height: 18, rx: 3 });
    parts.tagText = svgEl(doc, 'text', { x: 0, y: 0 });
    parts.tag.append(parts.tagBox, parts.tagText);
    svg.replaceChildren(parts.band, parts.grid, parts.volume, parts.upWick, parts.downWick, parts.upBody, parts.downBody,
      parts.crossX, parts.crossY, parts.labels, parts.tag);
    this.#el.parts = parts;
  }

  #render() {
    const el = this.#el;
    const p = el.parts;
    const series = this.#series;
    const candles = series.candles;
    const n = candles.length;
    const today = istDate(this.#now());
    el.session.textContent = sessionLabel(series.date, today);
    el.dialog.dataset.count = String(n);
    const state = this.#state;
    const empty = state !== 'ready' || n === 0;

    if (state === 'loading') {
      el.empty.textContent = 'Loading candles\u2026';
      el.status.textContent = 'Loading candles\u2026';
    } else if (state === 'empty') {
      el.empty.textContent = 'No candles yet for this session.';
      el.status.textContent = series.date === today
        ? 'No candles yet for this session: they start with the first trade.'
        : 'No candles for this session.';
    }
    el.empty.hidden = !empty;
    el.plot.classList.toggle('is-empty', empty);

    const width = Math.round(el.svg.clientWidth || el.plot.clientWidth || 600);
    const height = Math.round(el.svg.clientHeight || 300);
    el.svg.setAttribute('viewBox', `0 0 ${width} ${height}`);

    if (empty) {
      this.#view = null;
      for (const key of ['grid', 'volume', 'upWick', 'downWick', 'upBody', 'downBody', 'crossX', 'crossY']) p[key].setAttribute('d', '');
      p.labels.replaceChildren();
      p.tag.setAttribute('visibility', 'hidden');
      p.band.setAttribute('width', '0');
      el.readout.replaceChildren();
      el.earlier.hidden = el.later.hidden = true;
      this.#slider(0, 0, 0, el.empty.textContent);
      return;
    }

    // Price labels decide the axis width, which decides how many candles fit: measure with a
    // first guess of the range, then lay out for real.
    const guess = priceTicks(...Object.values(priceRange(candles.slice(-60))), 5);
    const labelChars = Math.max(6, ...guess.map((v) => formatPrice(v).length));
    const maxV = visibleMax(width, labelChars);
    const { start, end, sel } = this.#window(n, maxV);
    const shown = candles.slice(start, end);
    const { lo, hi } = priceRange(shown);
    const ticks = priceTicks(lo, hi, height < 260 ? 4 : 5);
    const hasVolume = shown.some((c) => c.volume > 0);
    const geo = layout(width, height, Math.max(shown.length, Math.min(MIN_SLOTS, maxV)), { labelChars, volume: hasVolume });
    this.#view = { start, end, sel, size: shown.length, geo };

    const shapes = candlePaths(shown, geo, lo, hi);
    p.upBody.setAttribute('d', shapes.upBody);
    p.downBody.setAttribute('d', shapes.downBody);
    p.upWick.setAttribute('d', shapes.upWick);
    p.downWick.setAttribute('d', shapes.downWick);
    p.volume.setAttribute('d', shapes.volume);

    const doc = this.#doc;
    const labels = [];
    let grid = '';
    for (const v of ticks) {
      const y = Math.round(yOf(geo, lo, hi, v)) + 0.5;
      if (y < geo.priceTop || y > geo.priceBottom) continue;
      grid += `M${geo.x0} ${y}H${geo.x1}`;
      const t = svgEl(doc, 'text', { x: geo.axisX, y: y + 4, class: 'chart-axis' });
      t.textContent = formatPrice(v);
      labels.push(t);
    }
    const bottom = geo.volBottom;
    grid += `M${geo.x0} ${bottom + 0.5}H${geo.x1}`;
    const pitch = geo.pitch;
    for (const i of timeTicks(shown.map((c) => c.t), series.minutes, pitch)) {
      const x = xOf(geo, i);
      grid += `M${x} ${bottom}v4`;
      // Centred under its candle, unless that would cut it at the plot's edges.
      const edge = x - geo.x0 < 20 ? ' chart-time-start' : geo.x1 - x < 20 ? ' chart-time-end' : '';
      const t = svgEl(doc, 'text', { x: edge === ' chart-time-start' ? geo.x0 : edge ? geo.x1 : x, y: height - 5, class: `chart-axis chart-time${edge}` });
      t.textContent = istTime(shown[i].t);
      labels.push(t);
    }
    p.grid.setAttribute('d', grid);
    p.labels.replaceChildren(...labels);

    // Crosshair on the selected candle: a band behind it, a line through it, and its close on the axis.
    const c = candles[sel];
    const x = xOf(geo, sel - start);
    const yClose = Math.round(yOf(geo, lo, hi, c.close)) + 0.5;
    p.band.setAttribute('x', String(Math.round(x - pitch / 2)));
    p.band.setAttribute('y', String(geo.priceTop));
    p.band.setAttribute('width', String(Math.max(2, Math.round(pitch))));
    p.band.setAttribute('height', String(bottom - geo.priceTop));
    p.crossX.setAttribute('d', `M${x} ${geo.priceTop}V${bottom}`);
    p.crossY.setAttribute('d', `M${geo.x0} ${yClose}H${geo.x1}`);
    const tagText = formatPrice(c.close);
    p.tagText.textContent = tagText;
    p.tagText.setAttribute('x', String(geo.axisX));
    p.tagText.setAttribute('y', String(yClose + 4));
    p.tagBox.setAttribute('x', String(geo.axisX - 4));
    p.tagBox.setAttribute('y', String(yClose - 9));
    p.tagBox.setAttribute('width', String(Math.ceil(tagText.length * 7.2) + 8));
    p.tag.setAttribute('visibility', 'visible');

    const about = describeCandle(c, series.minutes);
    const readout = [doc.createElement('strong')];
    readout[0].textContent = about.time;
    for (const [label, value] of about.parts) {
      const span = doc.createElement('span');
      if (label) {
        const abbr = doc.createElement('abbr');
        abbr.textContent = label;
        abbr.title = { O: 'open', H: 'high', L: 'low', C: 'close', Vol: 'volume' }[label];
        span.append(abbr, ` ${value}`);
      } else {
        span.textContent = value;
        span.className = c.close > c.open ? 'up-candle' : c.close < c.open ? 'down-candle' : '';
      }
      readout.push(span);
    }
    el.readout.replaceChildren(...readout);
    this.#slider(sel + 1, 1, n, about.speech);

    el.earlier.hidden = start === 0 && end === n;
    el.later.hidden = el.earlier.hidden;
    el.earlier.disabled = start === 0;
    el.later.disabled = end === n;

    const first = istTime(candles[0].t);
    const last = istTime(candles[n - 1].t);
    const word = { '1m': '1-minute', '5m': '5-minute', '15m': '15-minute' }[series.interval];
    const live = this.#live && series.date === today;
    let status = `${n} ${word} candle${n === 1 ? '' : 's'}, ${first} to ${last}`;
    if (start > 0 || end < n) status += `; showing ${istTime(shown[0].t)} to ${istTime(shown[shown.length - 1].t)}`;
    if (live && el.dialog.dataset.closedAt) status += `. Live: the ${istTime(Date.parse(el.dialog.dataset.closedAt))} candle closed`;
    else if (live) status += '. Live: updates as trades come in';
    el.status.textContent = `${status}.`;
  }

  #slider(now, min, max, text) {
    const plot = this.#el.plot;
    plot.setAttribute('aria-valuemin', String(min));
    plot.setAttribute('aria-valuemax', String(max));
    plot.setAttribute('aria-valuenow', String(now));
    plot.setAttribute('aria-valuetext', text);
  }
}
