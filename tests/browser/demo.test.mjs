// The dashboard against `feedgate demo` (simulator + gateway in one process, market treated as
// open): market phase in the banner, live rows, paging that moves the subscriptions, adding and
// removing symbols, broker outages shown and recovered from, accessibility, a phone layout, and
// the page's own reconnection when feedgate itself goes away and comes back.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { after, before, describe, test } from 'node:test';
import { announced, banner, bannerLog, PHASES, recordBanner, rows } from './lib/dashboard.mjs';
import { Feedgate, getJson, launchBrowser, postJson, screenshot, waitFor, withFailureShot } from './lib/harness.mjs';

const READY = /^feedgate demo listening on (http:\/\/127\.0\.0\.1:(\d+))$/;
// Quicker upstream retries than the production defaults keep the outage tests short.
const ENV = { FEED_RECONNECT_DELAY: '1', FEED_MAX_RECONNECT_DELAY: '2' };
const DEFAULTS = [
  'NSE:NIFTY 50', 'NSE:NIFTY BANK', 'BSE:SENSEX', 'NSE:RELIANCE', 'NSE:HDFCBANK', 'NSE:TCS', 'NSE:INFY',
  'NSE:ICICIBANK', 'NSE:SBIN', 'NSE:BHARTIARTL', 'NSE:ITC', 'NSE:LT', 'NSE:KOTAKBANK', 'NSE:AXISBANK',
  'NSE:HINDUNILVR', 'NSE:BAJFINANCE', 'NSE:MARUTI', 'NSE:SUNPHARMA', 'NSE:TITAN', 'NSE:ULTRACEMCO',
  'NSE:NTPC', 'NSE:POWERGRID', 'NSE:ONGC', 'NSE:TATAMOTORS', 'NSE:TATASTEEL', 'NSE:WIPRO', 'NSE:HCLTECH',
  'NSE:ASIANPAINT', 'NSE:M&M', 'NSE:ADANIENT',
];

describe('dashboard against feedgate demo', () => {
  let demo;
  let base;
  let port;
  let browser;
  let page;
  /** Tokens the gateway streams for its own watchlist, whatever the page asks for. */
  let baseline;

  const simTokens = async () => {
    const state = await getJson(`${base}/_sim/state`);
    return new Set(state.connections.flatMap((c) => c.subscriptions.map((s) => s.token)));
  };
  const wsStatus = () => getJson(`${base}/api/websocket/status`);

  /** Waits until every visible row shows a value, and returns the rows. */
  const rowsWithData = (what, timeoutMs = 15_000) => waitFor(what, async () => {
    const r = await rows(page);
    return r.length > 0 && r.every((row) => row.ltp !== '\u2014' && row.token !== null) ? r : null;
  }, { timeoutMs });

  /** Waits until at least `min` rows show a different price or time than they do now. */
  async function rowsChange(what, min = 3, timeoutMs = 15_000) {
    const first = await rows(page);
    return waitFor(what, async () => {
      const now = await rows(page);
      const changed = now.filter((r, i) => first[i]?.symbol === r.symbol && r.ltp !== '\u2014' && !r.stale
        && (r.ltp !== first[i].ltp || r.time !== first[i].time));
      return changed.length >= min ? changed : null;
    }, { timeoutMs });
  }

  before(async () => {
    const started = await Feedgate.start('demo', ['demo', '--listen', '127.0.0.1:0'], { env: ENV, ready: READY });
    demo = started.fg;
    base = started.match[1];
    port = Number(started.match[2]);
    baseline = await waitFor('the gateway to subscribe its own watchlist upstream', async () => {
      const t = await simTokens();
      return t.size > 0 ? t : null;
    });
    browser = await launchBrowser();
    page = browser.page;
    await page.goto(`${base}/`);
  });

  after(async () => {
    await browser?.close();
    await demo?.stop();
  });

  test('the banner shows the market phase', () => withFailureShot(page, 'demo-market-phase', async () => {
    const b = await waitFor('the banner to show a market session', async () => {
      const s = await banner(page);
      return s.status === 'MARKET_SESSION' ? s : null;
    });
    assert.ok(PHASES.includes(b.phase), `a market phase: ${b.phase}`);
    assert.match(b.title, /market|session|pre-open/i);
    assert.notEqual(b.tone, 'neutral');
    await page.getByText('Connection details').click();
    const details = await waitFor('connection details', async () => {
      const s = await banner(page);
      return s.details['Broker feed'] ? s.details : null;
    });
    assert.match(details['Broker feed'], /^connected/);
    assert.match(details.Login, /^valid/);
    assert.equal(details.Mode, 'WebSocket');
    await screenshot(page, 'demo-1-market-phase');
  }));

  test('rows stream live values that change over time', () => withFailureShot(page, 'demo-rows', async () => {
    const first = await rowsWithData('all ten rows of page 1 to show prices');
    assert.deepEqual(first.map((r) => r.symbol), DEFAULTS.slice(0, 10));
    assert.ok(first.every((r) => !r.stale), 'demo values are live, not last-known');
    await rowsChange('rows to show new values');
    await waitFor('sparklines drawn from the session\'s prices', async () => (await rows(page)).filter((r) => r.spark).length >= 8);
    await screenshot(page, 'demo-2-live-rows');
  }));

  test('paging subscribes the new page and unsubscribes the old one', () => withFailureShot(page, 'demo-paging', async () => {
    await waitFor('the gateway to count the 10 visible rows as subscribed', async () => {
      const s = await wsStatus();
      return s.connections === 1 && s.subscribed_instruments === 10;
    });
    const page1 = (await rowsWithData('page 1 tokens')).map((r) => r.token);
    const page1Only = page1.filter((t) => !baseline.has(t));
    assert.ok(page1Only.length >= 5, 'page 1 has stocks beyond the gateway watchlist');
    await waitFor('page 1 to be subscribed upstream', async () => {
      const t = await simTokens();
      return page1.every((x) => t.has(x));
    });

    await page.getByRole('button', { name: 'Next page' }).click();
    const page2 = await waitFor('page 2 rows with prices', async () => {
      const r = await rows(page);
      const ok = r.map((x) => x.symbol).join() === DEFAULTS.slice(10, 20).join() && r.every((x) => x.token !== null && x.ltp !== '\u2014');
      return ok ? r.map((x) => x.token) : null;
    });
    await waitFor('the upstream subscriptions to follow the page', async () => {
      const t = await simTokens();
      return page2.every((x) => t.has(x)) && page1Only.every((x) => !t.has(x));
    });
    const status = await wsStatus();
    assert.equal(status.subscribed_instruments, 10, 'still only the visible rows');
    assert.equal(await page.locator('[aria-current="page"]').textContent(), '2');
    await rowsChange('page 2 rows to update', 2);
    await screenshot(page, 'demo-3-page-2');
  }));

  test('symbols are added from the search box, refused with a reason, removed and remembered', () => withFailureShot(page, 'demo-add-remove', async () => {
    const input = page.getByLabel('Add a symbol');
    await input.fill('NSE:NOPE');
    await input.press('Enter');
    const feedback = page.locator('#add-feedback');
    await waitFor('the server\'s rejection reason', async () => /^Could not add NSE:NOPE: .+/.test(await feedback.textContent()));
    assert.match(await feedback.textContent(), /unknown/i);

    await input.fill('SB');
    await waitFor('suggestions from /api/instruments', async () => {
      const values = await page.locator('#symbol-suggestions option').evaluateAll((os) => os.map((o) => o.value));
      return values.includes('NSE:SBIN');
    });

    await input.fill('cipla');
    await input.press('Enter');
    await waitFor('the added symbol on its own page', async () => {
      const r = await rows(page);
      return r.length === 1 && r[0].symbol === 'NSE:CIPLA' && r[0].ltp !== '\u2014';
    });
    assert.equal(await feedback.textContent(), 'Added NSE:CIPLA (page 4).');
    await waitFor('only the one visible row to be subscribed', async () => (await wsStatus()).subscribed_instruments === 1);
    await screenshot(page, 'demo-4-added-symbol');

    await page.reload();
    await waitFor('the watchlist and page to survive a reload', async () => {
      const r = await rows(page);
      return r.length === 1 && r[0].symbol === 'NSE:CIPLA';
    });

    await page.getByRole('button', { name: 'Remove NSE:CIPLA from the watchlist' }).click();
    await waitFor('the last page to be shown after the removal', async () => {
      const r = await rows(page);
      return r.map((x) => x.symbol).join() === DEFAULTS.slice(20, 30).join();
    });
    assert.ok(await page.evaluate(() => document.activeElement?.classList.contains('remove')), 'focus stays in the table');
    await page.reload();
    await waitFor('the removal to survive a reload', async () => (await page.locator('#pager [aria-label^="Page "]').count()) === 3);
    await page.getByRole('button', { name: 'Page 1', exact: true }).click();
    await rowsWithData('page 1 again');
  }));

  test('a dropped broker connection is shown and recovers to live', () => withFailureShot(page, 'demo-drop', async () => {
    const before = await waitFor('a live banner with details', async () => {
      const s = await banner(page);
      return s.status === 'MARKET_SESSION' && s.details['Reconnects since start'] !== undefined ? s : null;
    });
    await recordBanner(page);
    await postJson(`${base}/_sim/fault`, { kind: 'drop' });
    await waitFor('the page to show the reconnect', async () => {
      const log = await bannerLog(page);
      const shownDown = log.some((e) => /Reconnecting|FEED_DISCONNECTED/.test(e) || !/\|connected/.test(e));
      const s = await banner(page);
      return shownDown || s.details['Reconnects since start'] !== before.details['Reconnects since start'];
    }, { timeoutMs: 20_000 });
    await waitFor('the banner to be live again', async () => {
      const s = await banner(page);
      return s.status === 'MARKET_SESSION' && /^connected/.test(s.details['Broker feed'] ?? '');
    }, { timeoutMs: 30_000 });
    await rowsChange('rows to update after the reconnect');
  }));

  test('a longer broker outage shows "Reconnecting…" until the feed is back', () => withFailureShot(page, 'demo-outage', async () => {
    await postJson(`${base}/_sim/fault`, { kind: 'reject_ws', seconds: 6 });
    await postJson(`${base}/_sim/fault`, { kind: 'drop' });
    const down = await waitFor('the banner to say the feed is reconnecting', async () => {
      const s = await banner(page);
      return s.status === 'FEED_DISCONNECTED' ? s : null;
    }, { timeoutMs: 20_000 });
    assert.match(down.title, /Reconnecting|REST fallback/);
    assert.equal(down.tone, 'feed');
    assert.ok(down.message.length > 0, 'it says what is being done');
    await screenshot(page, 'demo-5-reconnecting');
    await waitFor('the banner to be live again', async () => (await banner(page)).status === 'MARKET_SESSION', { timeoutMs: 45_000 });
    await rowsChange('rows to update after the outage');
    await screenshot(page, 'demo-6-recovered');
  }));

  test('the page passes axe (WCAG 2.1 AA) and is keyboard usable', () => withFailureShot(page, 'demo-a11y', async () => {
    // Evaluated through the DevTools protocol: the page's CSP (rightly) refuses injected <script>s.
    const axePath = createRequire(import.meta.url).resolve('axe-core/axe.min.js');
    await page.evaluate(readFileSync(axePath, 'utf8'));
    // With the details open, so their list is checked too.
    await page.locator('#banner-details').evaluate((d) => { d.open = true; });
    // Axe reads colours at one instant: a price cell caught mid-flash has an interpolated
    // background it cannot judge. Check the steady state with animations off; the flash colours
    // themselves are contrast-checked at their peak in unit/contrast.test.mjs.
    await page.emulateMedia({ reducedMotion: 'reduce' });
    await page.evaluate(() => document.getAnimations().forEach((a) => a.finish()));
    for (const scheme of ['light', 'dark']) {
      await page.emulateMedia({ colorScheme: scheme });
      const result = await page.evaluate(() => window.axe.run(document, {
        runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] },
      }));
      const found = result.violations.map((v) => `${v.id} (${v.impact}): ${v.help}\n    ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join('\n    ')}`);
      assert.deepEqual(found, [], `axe violations in the ${scheme} scheme:\n${found.join('\n')}`);
    }
    await page.emulateMedia({ colorScheme: 'light', reducedMotion: 'no-preference' });

    // Price flashes are an animation, switched off for people who ask for reduced motion.
    const flash = () => page.evaluate(() => {
      const el = document.createElement('span');
      el.className = 'ltp flash-up';
      document.body.append(el);
      const name = getComputedStyle(el).animationName;
      el.remove();
      return name;
    });
    assert.equal(await flash(), 'flash-up');
    await page.emulateMedia({ reducedMotion: 'reduce' });
    assert.equal(await flash(), 'none');
    await page.emulateMedia({ reducedMotion: 'no-preference' });

    // From the top of a freshly loaded page, Tab reaches the skip link first, then the controls.
    await page.reload();
    await rowsWithData('rows after the reload');
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Skip to the screener');
    const outline = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
    assert.notEqual(outline, 'none', 'focus is visible');
    let reached = false;
    for (let i = 0; i < 8 && !reached; i += 1) {
      await page.keyboard.press('Tab');
      reached = await page.evaluate(() => document.activeElement?.id === 'add-symbol');
    }
    assert.ok(reached, 'Tab reaches the add-symbol box');
  }));

  test('a phone-sized screen has no sideways page scroll', () => withFailureShot(page, 'demo-phone', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    try {
      await rowsWithData('rows on a phone');
      const width = await page.evaluate(() => document.documentElement.scrollWidth);
      assert.ok(width <= 390, `page is ${width} px wide`);
      // Nor does the table scroll sideways inside its box: columns collapse instead.
      const table = await page.evaluate(() => {
        const wrap = document.querySelector('.table-wrap');
        const shown = [...document.querySelectorAll('#quotes thead th')]
          .filter((th) => getComputedStyle(th).display !== 'none')
          .map((th) => th.textContent.trim());
        return { scroll: wrap.scrollWidth, client: wrap.clientWidth, shown };
      });
      assert.ok(table.scroll <= table.client, `the table is ${table.scroll} px in a ${table.client} px box`);
      assert.deepEqual(table.shown, ['Symbol', 'LTP', '% Change', 'Remove']);
      await screenshot(page, 'demo-7-phone');
    } finally {
      await page.setViewportSize({ width: 1280, height: 900 });
    }
  }));

  test('the page shows it is offline when feedgate stops, then reconnects and resubscribes by itself', () => withFailureShot(page, 'demo-offline', async () => {
    await demo.stop();
    const off = await waitFor('the offline banner', async () => {
      const s = await banner(page);
      return s.status === 'OFFLINE' ? s : null;
    });
    assert.match(off.title, /^Offline: reconnecting in \d+ s…$/);
    assert.match(await announced(page), /^Offline: reconnecting to feedgate\. /, 'announced once, without the ticking seconds');
    assert.ok(await page.getByRole('button', { name: 'Retry now' }).isVisible());
    await screenshot(page, 'demo-8-offline');

    const restarted = await Feedgate.start('demo-restarted', ['demo', '--listen', `127.0.0.1:${port}`], { env: ENV, ready: READY });
    demo = restarted.fg;
    await waitFor('the page to reconnect', async () => (await banner(page)).status === 'MARKET_SESSION', { timeoutMs: 30_000 });
    await waitFor('the visible rows to be subscribed again', async () => {
      const s = await wsStatus();
      return s.connections === 1 && s.subscribed_instruments === 10;
    });
    await rowsChange('rows to update after the page reconnected');
    await screenshot(page, 'demo-9-back-online');
    assert.deepEqual(browser.errors, [], 'no uncaught errors in the page');
  }));
});
