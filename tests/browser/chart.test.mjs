// The click-to-open candle chart against `feedgate demo`: a row's symbol opens an accessible
// dialog with the session's candles from /api/candles; the interval buttons change the request
// and the WebSocket's candle subscription; Esc closes it and focus returns to the symbol;
// arrow keys, Home/End and the pointer move the OHLCV readout; an empty answer says so; axe
// finds nothing with the dialog open; it fits a phone; and a candle pushed at the minute's close
// shows up (the demo runs in real time: a second page keeps a chart open from the start, so
// the wait for the minute to close overlaps the other tests).

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { after, before, describe, test } from 'node:test';
import { fullSession, istDate, stubCandles } from './lib/candles.mjs';
import { axeViolations, chart, chartStates, recordChartStates, rows } from './lib/dashboard.mjs';
import { Feedgate, launchBrowser, screenshot as save, waitFor, withFailureShot } from './lib/harness.mjs';

const READY = /^feedgate demo listening on (http:\/\/127\.0\.0\.1:(\d+))$/;
const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const MINUTE = 60_000;

/** A screenshot of what is on screen (the dialog sits over the page, so not the full page). */
const screenshot = (page, name) => save(page, name, { fullPage: false });

describe('candle chart against feedgate demo', () => {
  let demo;
  let base;
  let browser;
  let page;
  /** A second page with SBIN's chart open from the start, waiting for a minute to close. */
  let watcher;
  /** Every /api/candles URL the main page requested, and every WebSocket message it sent. */
  const requests = [];
  const frames = [];

  const symbolButton = (p, symbol) => p.locator(`tr[data-symbol="${symbol}"] .sym-button`);
  const focusedRowSymbol = (p) => p.evaluate(() => {
    const el = document.activeElement;
    return el?.classList.contains('sym-button') ? el.closest('tr')?.dataset.symbol : `not a symbol button: ${el?.id || el?.tagName}`;
  });
  const candleSubscriptions = () => frames.filter((f) => f.action === 'subscribe' && f.candles);
  const readoutStart = async (p) => /^(\d\d:\d\d)–/.exec((await chart(p)).readout)?.[1];

  /** Waits for the open chart to show candles of `interval` (after an empty state, if any). */
  const chartReady = (p, interval, timeoutMs = 15_000) => waitFor(`the ${interval} chart to draw candles`, async () => {
    const c = await chart(p);
    return c.open && c.state === 'ready' && c.interval === interval && c.count > 0 && c.drawn ? c : null;
  }, { timeoutMs });

  /** Waits until the dialog has closed (its `close` event runs after `open` turns false). */
  const chartClosed = (p) => waitFor('the dialog to close', async () => {
    const c = await chart(p);
    return !c.open && c.state === 'closed';
  });

  /** Opens `symbol`'s chart with a click, at 1-minute candles. */
  async function openChart(p, symbol) {
    await symbolButton(p, symbol).click();
    await waitFor('the dialog', async () => (await chart(p)).open);
    if ((await chart(p)).interval !== '1m') await p.getByRole('button', { name: '1 min', exact: true }).click();
  }

  const rowsWithData = (p) => waitFor('rows with prices', async () => {
    const r = await rows(p);
    return r.length === 10 && r.every((x) => x.ltp !== '\u2014') ? r : null;
  });

  before(async () => {
    const started = await Feedgate.start('demo-chart', ['demo', '--listen', '127.0.0.1:0'], { ready: READY });
    demo = started.fg;
    base = started.match[1];
    browser = await launchBrowser();
    page = browser.page;
    page.on('request', (r) => {
      if (r.url().includes('/api/candles')) requests.push(new URL(r.url()));
    });
    page.on('websocket', (ws) => ws.on('framesent', ({ payload }) => {
      try {
        frames.push(JSON.parse(payload));
      } catch {
        // Not JSON ("ping"): not ours to check.
      }
    }));
    await page.goto(`${base}/`);
    watcher = await browser.context.newPage();
    watcher.on('pageerror', (err) => browser.errors.push(`watcher: ${err.message}`));
    await watcher.goto(`${base}/`);
    await rowsWithData(watcher);
    await symbolButton(watcher, 'NSE:SBIN').click();
    await chartReady(watcher, '1m');
  });

  after(async () => {
    await browser?.close();
    await demo?.stop();
  });

  test('a row\'s symbol opens a labelled dialog with the session\'s candles', () => withFailureShot(page, 'chart-open', async () => {
    await rowsWithData(page);
    // Keyboard: the symbol is a button.
    await symbolButton(page, 'NSE:SBIN').focus();
    await page.keyboard.press('Enter');
    const dialog = page.getByRole('dialog', { name: 'Candles of SBIN (NSE)' });
    await waitFor('the dialog', () => dialog.isVisible());
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'chart-plot', 'focus moves into the dialog, onto the chart');
    const c = await chartReady(page, '1m');
    assert.equal(c.symbol, 'NSE:SBIN');
    assert.equal(c.date, istDate(Date.now()), 'the demo\'s candles are today\'s');
    assert.match(c.session, /^Today's session, \d{1,2} \w{3} \d{4} \(times in IST\)$/);
    assert.match(c.readout, /^\d\d:\d\d–\d\d:\d\d \| O [\d,.]+ \| H [\d,.]+ \| L [\d,.]+ \| C [\d,.]+ \| /);
    assert.equal(c.valueNow, c.count, 'the newest candle is selected');
    assert.match(c.valueText, /^\d\d:\d\d–\d\d:\d\d, (rising|falling|unchanged)(, still forming)?: open [\d,.]+, high [\d,.]+, low [\d,.]+, close [\d,.]+/);
    assert.match(c.status, /^\d+ 1-minute candles?, \d\d:\d\d to \d\d:\d\d[.;]/);
    await waitFor('the status to say the chart is live', async () => /\. Live: /.test((await chart(page)).status));
    assert.ok(requests.some((u) => u.pathname === '/api/candles' && u.searchParams.get('symbol') === 'NSE:SBIN' && u.searchParams.get('interval') === '1m'));
    await waitFor('the WebSocket to ask for SBIN\'s 1-minute candles', () => candleSubscriptions().some((f) => f.symbols.join() === 'NSE:SBIN' && f.candles === '1m'));
    await screenshot(page, 'chart-1-open');
  }));

  test('the interval buttons change the request and the candle subscription', () => withFailureShot(page, 'chart-interval', async () => {
    for (const [label, interval, minutes] of [['5 min', '5m', 5], ['15 min', '15m', 15], ['1 min', '1m', 1]]) {
      const asked = requests.length;
      const button = page.getByRole('button', { name: label, exact: true });
      await button.click();
      assert.equal(await button.getAttribute('aria-pressed'), 'true');
      const c = await chartReady(page, interval);
      const url = requests.slice(asked).find((u) => u.pathname === '/api/candles');
      assert.ok(url, `a request for the ${interval} candles`);
      assert.equal(url.searchParams.get('interval'), interval);
      assert.equal(url.searchParams.get('symbol'), 'NSE:SBIN');
      await waitFor(`a ${interval} candle subscription`, () => candleSubscriptions().at(-1)?.candles === interval);
      const start = await readoutStart(page);
      assert.equal(Number(start.slice(3)) % minutes, 0, `a ${interval} candle starts on a multiple of ${minutes} minutes: ${start} ${JSON.stringify(await chart(page))} ${browser.errors}`);
      assert.match(c.status, new RegExp(`^\\d+ ${minutes}-minute candles?`));
    }
  }));

  test('Esc closes the chart and focus returns to the symbol', () => withFailureShot(page, 'chart-escape', async () => {
    await page.locator('#chart-plot').focus();
    await page.keyboard.press('Escape');
    await chartClosed(page);
    assert.equal(await focusedRowSymbol(page), 'NSE:SBIN');
  }));

  test('arrow keys, Home/End and the pointer move the readout through a full session (stubbed)', () => withFailureShot(page, 'chart-keyboard', async () => {
    const day = istDate(Date.now() - 3 * 24 * 3600_000);
    const unstub = await stubCandles(page, 'NSE:TCS', fullSession(day), day);
    try {
      await openChart(page, 'NSE:TCS');
      let c = await chartReady(page, '1m');
      assert.equal(c.count, 375);
      const [y, m, d] = day.split('-').map(Number);
      const shown = new Intl.DateTimeFormat('en-GB', { day: 'numeric', month: 'short', year: 'numeric', timeZone: 'UTC' }).format(Date.UTC(y, m - 1, d));
      assert.equal(c.session, `Session of ${shown} (times in IST)`, 'an earlier session says which day it is');
      assert.match(c.status, /^375 1-minute candles, 09:15 to 15:29; showing \d\d:\d\d to 15:29\.$/, 'more than fit: the newest are shown');
      // The readout is filled in the frame after the candles are drawn (a loaded CI machine
      // showed the drawn chart with the readout still empty).
      await waitFor('the readout on the newest candle', async () => (await readoutStart(page)) === '15:29');
      assert.equal(c.valueNow, 375);
      await page.keyboard.press('ArrowLeft');
      assert.equal(await readoutStart(page), '15:28');
      assert.equal((await chart(page)).valueNow, 374);
      await page.keyboard.press('Home');
      assert.equal(await readoutStart(page), '09:15');
      c = await chart(page);
      assert.equal(c.valueNow, 1);
      assert.match(c.status, /showing 09:15 to \d\d:\d\d\.$/, 'the window follows the selection');
      await page.keyboard.press('ArrowRight');
      assert.equal(await readoutStart(page), '09:16');
      await page.keyboard.press('PageUp');
      assert.equal(await readoutStart(page), '09:26');
      // The pointer: hovering the middle of the plot selects the candle under it.
      const box = await page.locator('#chart-svg').boundingBox();
      // From a point off the plot first: a move to where the pointer already is fires no
      // pointer event (one full run failed that way), and the steps give several events.
      await page.mouse.move(box.x + 2, box.y - 10);
      await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2, { steps: 5 });
      const hovered = await waitFor('the readout to follow the pointer', async () => {
        const at = await readoutStart(page);
        return at !== '09:26' ? at : null;
      });
      assert.ok(hovered > '09:26' && hovered < '15:29', `the candle under the pointer: ${hovered}`);
      await page.getByRole('button', { name: 'Later' }).click();
      assert.match((await chart(page)).status, /showing \d\d:\d\d to \d\d:\d\d\.$/);
      await page.locator('#chart-plot').focus();
      await page.keyboard.press('End');
      assert.equal(await readoutStart(page), '15:29');
      await screenshot(page, 'chart-2-full-session');
      await page.keyboard.press('Escape');
      await chartClosed(page);
      assert.equal(await focusedRowSymbol(page), 'NSE:TCS');
    } finally {
      await unstub();
    }
  }));

  test('an empty answer says "No candles yet", then live ticks start the first candle', () => withFailureShot(page, 'chart-empty', async () => {
    const unstub = await stubCandles(page, 'NSE:INFY', [], istDate(Date.now()), { times: 1 });
    try {
      await recordChartStates(page);
      await openChart(page, 'NSE:INFY');
      await waitFor('the empty state', async () => (await chartStates(page)).includes('empty: No candles yet for this session.'));
      const c = await chartReady(page, '1m');
      assert.equal(c.count, 1, 'one forming candle, from the row\'s live ticks');
      assert.equal(c.empty, null);
      await page.keyboard.press('Escape');
      await chartClosed(page);
    } finally {
      await unstub();
    }
  }));

  test('axe finds no violations with the dialog open, light and dark', () => withFailureShot(page, 'chart-a11y', async () => {
    await openChart(page, 'NSE:SBIN');
    await chartReady(page, '1m');
    try {
      for (const scheme of ['light', 'dark']) {
        await page.emulateMedia({ colorScheme: scheme });
        const found = await axeViolations(page, AXE);
        assert.deepEqual(found, [], `axe violations in the ${scheme} scheme:\n${found.join('\n')}`);
      }
      await screenshot(page, 'chart-3-dark');
    } finally {
      await page.emulateMedia({ colorScheme: 'light' });
    }
    await page.getByRole('button', { name: 'Close', exact: true }).click();
    await chartClosed(page);
    assert.equal(await focusedRowSymbol(page), 'NSE:SBIN', 'the Close button returns focus too');
  }));

  test('on a phone the dialog fits the screen', () => withFailureShot(page, 'chart-phone', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    try {
      await openChart(page, 'NSE:SBIN');
      await chartReady(page, '1m');
      const { scroll, left, right } = await page.evaluate(() => {
        const r = document.getElementById('chart').getBoundingClientRect();
        return { scroll: document.documentElement.scrollWidth, left: r.left, right: r.right };
      });
      assert.ok(scroll <= 390, `page is ${scroll} px wide`);
      assert.ok(left >= 0 && right <= 390, `dialog spans ${left}–${right} px`);
      await screenshot(page, 'chart-4-phone');
      await page.keyboard.press('Escape');
      await chartClosed(page);
    } finally {
      await page.setViewportSize({ width: 1280, height: 900 });
    }
  }));

  test('a candle pushed at the minute\'s close replaces the forming one', () => withFailureShot(watcher, 'chart-closed', async () => {
    // The watcher's chart has been open since the start; the next minute ends within 60 s.
    const wait = MINUTE - (Date.now() % MINUTE) + 20_000;
    const c = await waitFor('a candle message at the close of a minute', async () => {
      const now = await chart(watcher);
      return now.closedAt ? now : null;
    }, { timeoutMs: wait, intervalMs: 250 });
    const closed = Date.parse(c.closedAt);
    assert.equal(closed % MINUTE, 0, `a minute boundary: ${c.closedAt}`);
    assert.ok(closed + MINUTE <= Date.now() + 2000, 'the pushed candle\'s minute has ended');
    const hhmm = c.closedAt.slice(11, 16);
    assert.match(c.status, new RegExp(`Live: the ${hhmm} candle closed\\.$`));
    await waitFor('the next minute\'s candle to form from live ticks', async () => (await chart(watcher)).count >= 2, { timeoutMs: 10_000 });
    await screenshot(watcher, 'chart-5-live-close');
    assert.deepEqual(browser.errors, [], 'no uncaught errors or CSP violations in the pages');
  }));
});
