// The screener table: one row per visible symbol, updated from ticker messages. Keeps the
// latest quote of every symbol it has seen (so a page that opens again shows its last values
// at once), renders dirty rows once per animation frame, and flashes a price cell when it
// moves (the animation is CSS, switched off under prefers-reduced-motion). A row's symbol is
// a button that opens the candle chart. Last-known (stale) values show when they are from and
// an age that keeps counting.

import { direction, formatAge, formatChange, formatPercent, formatPrice, formatVolume, isNum, stampOf } from './format.js';
import { createSparkline, drawSparkline } from './sparkline.js';

const COLUMNS = 9;
const SVG_NS = 'http://www.w3.org/2000/svg';

export class Screener {
  #doc;
  #body;
  #series;
  #onRemove;
  #onChart;
  /** symbol → merged latest ticker data (plus `receivedAt`, ms) */
  #quotes = new Map();
  /** symbol → why the server refused it */
  #rejected = new Map();
  /** symbol → row parts, for the visible rows */
  #rows = new Map();
  #dirty = new Set();
  #frame = 0;

  constructor(doc, { series, onRemove, onChart }) {
    this.#doc = doc;
    this.#body = doc.getElementById('quotes-body');
    this.#series = series;
    this.#onRemove = onRemove;
    this.#onChart = onChart;
  }

  /** Shows these symbols, in order, reusing the rows that stay. */
  show(symbols) {
    const keep = new Map();
    const frag = this.#doc.createDocumentFragment();
    for (const symbol of symbols) {
      const row = this.#rows.get(symbol) ?? this.#createRow(symbol);
      keep.set(symbol, row);
      this.#render(symbol, row, 0);
      frag.append(row.tr);
    }
    if (symbols.length === 0) frag.append(this.#emptyRow());
    this.#rows = keep;
    this.#dirty.clear();
    this.#body.replaceChildren(frag);
  }

  /** Focuses the remove button of the row at `index` (or the last row), if there is one. */
  focusRemove(index) {
    const rows = [...this.#rows.values()];
    const row = rows[Math.min(index, rows.length - 1)];
    if (row) row.remove.focus();
    return Boolean(row);
  }

  /** A ticker message's data. */
  update(data) {
    const symbol = data.symbol;
    const prev = this.#quotes.get(symbol);
    // A quote-mode tick carries every field; an ltp-mode one only some: keep the rest, but
    // staleness always comes from the newest message.
    const merged = { ...prev, ...data, stale: data.stale === true, age_s: data.age_s, receivedAt: Date.now() };
    this.#quotes.set(symbol, merged);
    this.#rejected.delete(symbol);
    const row = this.#rows.get(symbol);
    if (!row) return;
    const move = isNum(prev?.ltp) && isNum(data.ltp) ? direction(data.ltp - prev.ltp) : 0;
    if (move !== 0) row.flash = move;
    this.#markDirty(symbol);
  }

  reject(symbol, reason) {
    this.#rejected.set(symbol, reason);
    if (this.#rows.has(symbol)) this.#markDirty(symbol);
  }

  /** Redraws the visible last-known rows, so their age keeps counting. */
  refreshAges() {
    for (const symbol of this.#rows.keys()) {
      if (this.#quotes.get(symbol)?.stale) this.#markDirty(symbol);
    }
  }

  /** The sparkline source changed (candles arrived). */
  seriesChanged(symbol) {
    if (this.#rows.has(symbol)) this.#markDirty(symbol);
  }

  #markDirty(symbol) {
    this.#dirty.add(symbol);
    if (this.#frame === 0) this.#frame = requestAnimationFrame(() => this.#flush());
  }

  #flush() {
    this.#frame = 0;
    for (const symbol of this.#dirty) {
      const row = this.#rows.get(symbol);
      if (!row) continue;
      this.#render(symbol, row, row.flash);
      row.flash = 0;
    }
    this.#dirty.clear();
  }

  #createRow(symbol) {
    const doc = this.#doc;
    const tr = doc.createElement('tr');
    tr.dataset.symbol = symbol;
    const th = doc.createElement('th');
    th.scope = 'row';
    th.className = 'col-symbol';
    const [exchange, name] = symbol.includes(':') ? symbol.split(/:(.*)/s, 2) : ['', symbol];
    const open = doc.createElement('button');
    open.type = 'button';
    open.className = 'sym-button';
    open.title = `Candle chart of ${symbol}`;
    open.setAttribute('aria-haspopup', 'dialog');
    const nameEl = doc.createElement('span');
    nameEl.className = 'sym';
    nameEl.textContent = name;
    const exchEl = doc.createElement('span');
    exchEl.className = 'exch';
    exchEl.textContent = exchange;
    const hint = doc.createElement('span');
    hint.className = 'visually-hidden';
    hint.textContent = ', chart';
    open.append(nameEl, ' ', exchEl, hint, chartIcon(doc));
    open.addEventListener('click', () => this.#onChart(symbol, open));
    const note = doc.createElement('span');
    note.className = 'note';
    th.append(open, note);

    const cell = (cls) => {
      const td = doc.createElement('td');
      td.className = cls;
      return td;
    };
    const ltp = cell('num ltp');
    const ch = cell('num ch');
    const chp = cell('num chp');
    const vol = cell('num vol');
    const hl = cell('num hl');
    const sparkTd = cell('spark-cell');
    const spark = createSparkline(doc);
    sparkTd.append(spark);
    const time = cell('time');
    const removeTd = cell('remove-cell');
    const remove = doc.createElement('button');
    remove.type = 'button';
    remove.className = 'remove';
    remove.setAttribute('aria-label', `Remove ${symbol} from the watchlist`);
    remove.title = `Remove ${symbol}`;
    remove.textContent = '\u00d7';
    remove.addEventListener('click', () => this.#onRemove(symbol));
    removeTd.append(remove);
    tr.append(th, ltp, ch, chp, vol, hl, sparkTd, time, removeTd);
    return { tr, note, ltp, ch, chp, vol, hl, spark, time, remove, flash: 0 };
  }

  #render(symbol, row, flash) {
    const q = this.#quotes.get(symbol);
    const rejected = this.#rejected.get(symbol);
    const { tr } = row;
    tr.classList.toggle('stale', q?.stale === true);
    tr.classList.toggle('rejected', rejected !== undefined);
    if (isNum(q?.token) && tr.dataset.token !== String(q.token)) tr.dataset.token = String(q.token);
    setText(row.note, rejected ? `not available: ${rejected}` : '');

    setText(row.ltp, formatPrice(q?.ltp));
    const dir = direction(q?.ch);
    for (const el of [row.ch, row.chp]) {
      el.classList.toggle('up', dir > 0);
      el.classList.toggle('down', dir < 0);
    }
    setText(row.ch, `${dir > 0 ? '\u25b2 ' : dir < 0 ? '\u25bc ' : ''}${formatChange(q?.ch)}`);
    setText(row.chp, formatPercent(q?.chp));
    setText(row.vol, formatVolume(q?.volume));
    setText(row.hl, isNum(q?.high) || isNum(q?.low) ? `${formatPrice(q?.high)} / ${formatPrice(q?.low)}` : '\u2014');

    if (!q) setText(row.time, rejected ? '' : 'waiting…');
    else if (q.stale) {
      // The age the server gave, plus the time since it gave it; on a second line.
      const age = isNum(q.age_s) ? q.age_s + (Date.now() - q.receivedAt) / 1000 : null;
      const stamp = stampOf(q.ts);
      const note = `last known${age !== null ? `, ${formatAge(age)} old` : ''}`;
      if (row.time.textContent !== `${stamp} ${note}`) {
        const span = this.#doc.createElement('span');
        span.className = 'age';
        span.textContent = note;
        row.time.replaceChildren(stamp, ' ', span);
      }
    } else setText(row.time, stampOf(q.ts));
    row.time.title = q?.src ? `source: ${q.src}` : '';

    const values = this.#series.values(symbol);
    const label = values.length >= 2
      ? `Session trend of ${symbol}: ${formatPrice(values[0])} to ${formatPrice(values[values.length - 1])}`
      : `No price history of ${symbol} yet`;
    drawSparkline(row.spark, values, q?.close, label);

    if (flash !== 0) {
      const el = row.ltp;
      el.classList.toggle('last-up', flash > 0);
      el.classList.toggle('last-down', flash < 0);
      el.classList.remove('flash-up', 'flash-down');
      // Reading layout restarts the CSS animation when the same class comes back.
      void el.offsetWidth;
      el.classList.add(flash > 0 ? 'flash-up' : 'flash-down');
    }
  }

  #emptyRow() {
    const tr = this.#doc.createElement('tr');
    const td = this.#doc.createElement('td');
    td.colSpan = COLUMNS;
    td.className = 'empty';
    td.textContent = 'The watchlist is empty. Add a symbol above, or restore the default watchlist below.';
    tr.append(td);
    return tr;
  }
}

/** A small candlestick glyph that marks the symbol as the chart's button. */
function chartIcon(doc) {
  const svg = doc.createElementNS(SVG_NS, 'svg');
  svg.setAttribute('class', 'sym-icon');
  svg.setAttribute('viewBox', '0 0 12 12');
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('focusable', 'false');
  const path = doc.createElementNS(SVG_NS, 'path');
  path.setAttribute('d', 'M3 1v2M3 8v3M2 3h2v5H2zM9 2v3M9 9v2M8 5h2v4H8z');
  svg.append(path);
  return svg;
}

function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}
