// Unit tests of web/js/watchlist.js.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  cleanInput, DEFAULT_SYMBOLS, MAX_SYMBOLS, PAGE_SIZE, pageCount, pageOf, parseStored, STORAGE_KEY, Watchlist,
} from '../../../web/js/watchlist.js';

class MemoryStorage {
  map = new Map();
  getItem(k) { return this.map.has(k) ? this.map.get(k) : null; }
  setItem(k, v) { this.map.set(k, String(v)); }
}

test('defaults: about thirty well-known symbols, indices first, no duplicates', () => {
  assert.equal(DEFAULT_SYMBOLS.length, 30);
  assert.deepEqual(DEFAULT_SYMBOLS.slice(0, 3), ['NSE:NIFTY 50', 'NSE:NIFTY BANK', 'BSE:SENSEX']);
  assert.equal(new Set(DEFAULT_SYMBOLS).size, DEFAULT_SYMBOLS.length);
  assert.ok(DEFAULT_SYMBOLS.every((s) => /^(NSE|BSE):[A-Z0-9&\- ]+$/.test(s)));
});

test('input cleaning', () => {
  const table = [['  nse:sbin ', 'nse:sbin'], ['NIFTY   BANK', 'NIFTY BANK'], ['', null], ['   ', null], [42, null], ['X'.repeat(61), null]];
  for (const [input, want] of table) assert.equal(cleanInput(input), want, JSON.stringify(input));
});

test('page arithmetic', () => {
  assert.deepEqual([pageOf(0), pageOf(9), pageOf(10), pageOf(29)], [0, 0, 1, 2]);
  assert.deepEqual([pageCount(0), pageCount(1), pageCount(10), pageCount(11), pageCount(30)], [1, 1, 1, 2, 3]);
});

test('stored data is validated, deduplicated and bounded', () => {
  const table = [
    [null, null], ['not json', null], ['[]', null], ['{"symbols":"x"}', null],
    ['{"symbols":["A","A",7,"","B"],"page":1}', { symbols: ['A', 'B'], page: 1 }],
    ['{"symbols":["A"],"page":-3}', { symbols: ['A'], page: 0 }],
    ['{"symbols":["A"],"page":1.5}', { symbols: ['A'], page: 0 }],
  ];
  for (const [raw, want] of table) assert.deepEqual(parseStored(raw), want, String(raw));
  const many = JSON.stringify({ symbols: Array.from({ length: 2000 }, (_, i) => `S${i}`) });
  assert.equal(parseStored(many).symbols.length, MAX_SYMBOLS);
});

test('paging, adding and removing persist and keep the page in range', () => {
  const storage = new MemoryStorage();
  const w = new Watchlist(storage);
  assert.equal(w.pageCount, 3);
  assert.deepEqual(w.pageSymbols(), DEFAULT_SYMBOLS.slice(0, PAGE_SIZE));
  assert.equal(w.setPage(2), true);
  assert.equal(w.setPage(2), false);
  assert.equal(w.setPage(99), false, 'already on the last page');
  assert.equal(w.page, 2, 'clamped to the last page');

  assert.equal(w.add('NSE:CIPLA'), true);
  assert.equal(w.page, 3, 'adding opens the page that shows the symbol');
  assert.deepEqual(w.pageSymbols(), ['NSE:CIPLA']);
  w.add('NSE:SBIN');
  assert.equal(w.page, 0, 'an existing symbol is shown where it is, not added twice');
  assert.equal(w.symbols.length, 31);

  const again = new Watchlist(storage);
  assert.deepEqual(again.symbols, w.symbols);
  assert.equal(again.page, 0);

  again.setPage(3);
  again.remove('NSE:CIPLA');
  assert.equal(again.page, 2, 'removing the only row of the last page goes back a page');
  assert.deepEqual(JSON.parse(storage.getItem(STORAGE_KEY)).symbols, [...DEFAULT_SYMBOLS]);

  again.reset();
  assert.equal(again.page, 0);
});

test('storage that throws or is missing still gives a working watchlist', () => {
  const broken = { getItem() { throw new Error('denied'); }, setItem() { throw new Error('denied'); } };
  const w = new Watchlist(broken);
  assert.equal(w.add('NSE:CIPLA'), true);
  const none = new Watchlist(null);
  assert.deepEqual(none.symbols, [...DEFAULT_SYMBOLS]);
});
