// The watchlist: which symbols the screener shows, in which order, and which page is open.
// Persisted in localStorage (storage is a parameter, so Node tests pass a fake); no DOM.

/** Indices plus large NIFTY 50 constituents, in Kite's canonical form. */
export const DEFAULT_SYMBOLS = Object.freeze([
  'NSE:NIFTY 50', 'NSE:NIFTY BANK', 'BSE:SENSEX',
  'NSE:RELIANCE', 'NSE:HDFCBANK', 'NSE:TCS', 'NSE:INFY', 'NSE:ICICIBANK', 'NSE:SBIN',
  'NSE:BHARTIARTL', 'NSE:ITC', 'NSE:LT', 'NSE:KOTAKBANK', 'NSE:AXISBANK', 'NSE:HINDUNILVR',
  'NSE:BAJFINANCE', 'NSE:MARUTI', 'NSE:SUNPHARMA', 'NSE:TITAN', 'NSE:ULTRACEMCO', 'NSE:NTPC',
  'NSE:POWERGRID', 'NSE:ONGC', 'NSE:TATAMOTORS', 'NSE:TATASTEEL', 'NSE:WIPRO', 'NSE:HCLTECH',
  'NSE:ASIANPAINT', 'NSE:M&M', 'NSE:ADANIENT',
]);

export const PAGE_SIZE = 10;
/** More rows than anyone pages through; also bounds what a corrupted store can make us load. */
export const MAX_SYMBOLS = 500;
export const MAX_SYMBOL_LENGTH = 60;
export const STORAGE_KEY = 'feedgate.watchlist.v1';

/** Trimmed user input with inner runs of spaces collapsed, or null when there is nothing to add. */
export function cleanInput(text) {
  if (typeof text !== 'string') return null;
  const s = text.trim().replace(/\s+/g, ' ');
  if (s.length === 0 || s.length > MAX_SYMBOL_LENGTH) return null;
  return s;
}

/** Which page (0-based) holds index `i`. */
export const pageOf = (i, pageSize = PAGE_SIZE) => Math.floor(Math.max(0, i) / pageSize);

/** Number of pages for `n` symbols (at least one, so an empty list still has a page). */
export const pageCount = (n, pageSize = PAGE_SIZE) => Math.max(1, Math.ceil(n / pageSize));

/** Reads a stored watchlist; anything malformed yields null (and the defaults are used). */
export function parseStored(raw) {
  if (typeof raw !== 'string') return null;
  let value;
  try {
    value = JSON.parse(raw);
  } catch {
    return null;
  }
  if (!value || typeof value !== 'object' || !Array.isArray(value.symbols)) return null;
  const seen = new Set();
  const symbols = [];
  for (const s of value.symbols) {
    if (typeof s !== 'string' || s.length === 0 || s.length > MAX_SYMBOL_LENGTH || seen.has(s)) continue;
    seen.add(s);
    symbols.push(s);
    if (symbols.length >= MAX_SYMBOLS) break;
  }
  const page = Number.isInteger(value.page) && value.page >= 0 ? value.page : 0;
  return { symbols, page };
}

export class Watchlist {
  #storage;
  #symbols;
  #page;

  /** `storage`: anything with getItem/setItem (localStorage), or null to keep it in memory. */
  constructor(storage) {
    this.#storage = storage;
    let stored = null;
    try {
      stored = parseStored(storage?.getItem(STORAGE_KEY));
    } catch {
      // Storage can be disabled (privacy settings): the watchlist then lives for this page only.
    }
    this.#symbols = stored ? stored.symbols : [...DEFAULT_SYMBOLS];
    this.#page = stored ? stored.page : 0;
    this.#clampPage();
  }

  get symbols() {
    return [...this.#symbols];
  }

  get page() {
    return this.#page;
  }

  get pageCount() {
    return pageCount(this.#symbols.length);
  }

  /** The symbols on the open page, in order. */
  pageSymbols() {
    const start = this.#page * PAGE_SIZE;
    return this.#symbols.slice(start, start + PAGE_SIZE);
  }

  has(symbol) {
    return this.#symbols.includes(symbol);
  }

  /** Opens page `n` (clamped); true when the page changed. */
  setPage(n) {
    const before = this.#page;
    this.#page = Number.isInteger(n) ? n : 0;
    this.#clampPage();
    this.#save();
    return this.#page !== before;
  }

  /** Appends a symbol (if new) and opens the page that shows it; returns false when it was full. */
  add(symbol) {
    if (!this.has(symbol)) {
      if (this.#symbols.length >= MAX_SYMBOLS) return false;
      this.#symbols.push(symbol);
    }
    this.#page = pageOf(this.#symbols.indexOf(symbol));
    this.#save();
    return true;
  }

  remove(symbol) {
    const i = this.#symbols.indexOf(symbol);
    if (i < 0) return;
    this.#symbols.splice(i, 1);
    this.#clampPage();
    this.#save();
  }

  reset() {
    this.#symbols = [...DEFAULT_SYMBOLS];
    this.#page = 0;
    this.#save();
  }

  #clampPage() {
    this.#page = Math.min(Math.max(0, this.#page), this.pageCount - 1);
  }

  #save() {
    try {
      this.#storage?.setItem(STORAGE_KEY, JSON.stringify({ symbols: this.#symbols, page: this.#page }));
    } catch {
      // Full or disabled storage: keep working from memory.
    }
  }
}
