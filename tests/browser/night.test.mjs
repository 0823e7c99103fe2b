// The dashboard when the market is closed: `feedgate serve` against a separate `feedgate sim`.
// A first run with DEV_MODE=true (market treated as open) streams the page's rows and, at its
// graceful shutdown, writes the last known values and the session's candles to the data
// directory. A second run on the same data directory is the night: DEV_MODE=false, the
// scheduler on, and a calendar override that makes today (and tomorrow, in case the run crosses
// midnight) a holiday, so the market is CLOSED whatever the real time is. The dashboard must show
// the last known prices greyed with their time and age under a closed-market banner, the chart
// must show the session from the backup (and say so when a symbol has none), and the
// closed-market run must never open the broker's WebSocket.

import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { istDate } from './lib/candles.mjs';
import { banner, chart, rows } from './lib/dashboard.mjs';
import { Feedgate, freePort, getJson, launchBrowser, postJson, removeDir, screenshot, tempDir, waitFor, withFailureShot } from './lib/harness.mjs';

const SIM_READY = /^feedgate sim listening on (http:\/\/127\.0\.0\.1:(\d+))$/;
const DAY_MS = 24 * 3600_000;
const price = new Intl.NumberFormat('en-IN', { minimumFractionDigits: 2, maximumFractionDigits: 2 });

/** A calendar override (crates/session/CALENDAR-UPDATE.md) declaring these IST days holidays. */
function holidayCalendar(days) {
  const through = [...days, '2026-12-31'].sort().at(-1);
  const entries = days.map((d) => `
[[holidays.NSE_EQ]]
date = "${d}"
name = "Browser-test holiday"
source = "tests/browser/night.test.mjs: makes the market closed whatever the time"
`).join('');
  return `schema_version = 1\nvalid_through = "${through}"\ndata_as_of = "${days[0]}"\n${entries}`;
}

describe('night view: last known values with the market closed', () => {
  let sim;
  let simUrl;
  let gateway;
  let base;
  let env;
  let dataDir;
  let calendarDir;
  let browser;
  let page;
  /** The simulator's WebSocket upgrade count once the day run has stopped. */
  let upgradesAfterDay;

  const upgrades = async () => {
    const u = (await getJson(`${simUrl}/_sim/state`)).upgrades;
    return u.accepted + Object.values(u.refused).reduce((a, b) => a + b, 0);
  };

  async function startGateway(name, extra) {
    ({ fg: gateway } = await Feedgate.start(name, ['serve'], { env: { ...env, ...extra } }));
    // `serve` prints nothing when ready: its health endpoint answering is the signal.
    await waitFor(`feedgate ${name} to answer`, async () => {
      if (!gateway.running) throw new Error(`feedgate ${name} exited; see artifacts/logs/${name}.log`);
      return getJson(`${base}/api/system/health`);
    }, { timeoutMs: 20_000 });
  }

  before(async () => {
    const started = await Feedgate.start('night-sim', ['sim', '--listen', '127.0.0.1:0'], { ready: SIM_READY });
    sim = started.fg;
    simUrl = started.match[1];
    const { access_token: token } = await postJson(`${simUrl}/_sim/token`, {});
    assert.ok(token, 'the simulator mints an access token');
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    dataDir = await tempDir('feedgate-test-night-data-');
    calendarDir = await tempDir('feedgate-test-night-calendar-');
    env = {
      FEEDGATE_LISTEN: `127.0.0.1:${port}`,
      FEEDGATE_DATA_DIR: dataDir,
      KITE_API_URL: simUrl,
      KITE_WS_URL: simUrl.replace(/^http/, 'ws'),
      KITE_LOGIN_URL: `${simUrl}/connect/login`,
      ZERODHA_API_KEY: 'feedgate-sim',
      ZERODHA_API_SECRET: 'feedgate-sim-secret',
      ZERODHA_ACCESS_TOKEN: token,
    };
    browser = await launchBrowser();
    page = browser.page;
  });

  after(async () => {
    await browser?.close();
    await gateway?.stop();
    await sim?.stop();
    if (dataDir) await removeDir(dataDir);
    if (calendarDir) await removeDir(calendarDir);
  });

  test('a day session leaves its last values and candles on disk at shutdown', () => withFailureShot(page, 'night-day-run', async () => {
    await startGateway('serve-day', { DEV_MODE: 'true' });
    await page.goto(`${base}/`);
    await waitFor('live prices in every row', async () => {
      const r = await rows(page);
      return r.length === 10 && r.every((x) => x.ltp !== '\u2014' && !x.stale);
    }, { timeoutMs: 30_000 });
    await waitFor('session candles for the page\'s stocks', async () => (await getJson(`${base}/api/candles?symbol=NSE:RELIANCE&interval=1m`)).length > 0);
    await gateway.stop();
    assert.ok(existsSync(join(dataDir, 'last_values.json')), 'last known values written at shutdown');
    assert.ok(existsSync(join(dataDir, 'candles', `${istDate(Date.now())}.csv`)), 'the day\'s candles written at shutdown');
    upgradesAfterDay = await upgrades();
    assert.ok(upgradesAfterDay >= 1, 'the day run streamed from the simulator');
  }));

  test('with the market closed the rows show last known prices, greyed, with their time and age', () => withFailureShot(page, 'night-cached', async () => {
    const now = Date.now();
    const calendar = join(calendarDir, 'holiday.toml');
    writeFileSync(calendar, holidayCalendar([istDate(now), istDate(now + DAY_MS)]));
    await startGateway('serve-night', { DEV_MODE: 'false', ENABLE_SCHEDULER: 'true', FEEDGATE_CALENDAR: calendar });
    await page.reload();

    // Until the first health document arrives the banner speaks from the WebSocket's status
    // messages, which know the phase but not the holiday: wait for the health document's words.
    const b = await waitFor('a closed-market banner naming the holiday', async () => {
      const s = await banner(page);
      return s.status === 'MARKET_SESSION' && s.phase === 'CLOSED' && /Browser-test holiday/.test(s.message) ? s : null;
    }, { timeoutMs: 20_000 });
    assert.equal(b.tone, 'closed');
    assert.equal(b.title, 'Market Holiday');
    assert.match(b.message, /Browser-test holiday/);

    // The time (with the date when it is not today's), then "last known, <age> old" below it.
    const STAMP = /^(\d{1,2} \w{3}, )?\d\d:\d\d:\d\d last known, .+ old$/;
    const night = await waitFor('last known values in every row', async () => {
      const r = await rows(page);
      return r.length === 10 && r.every((x) => x.ltp !== '\u2014' && x.stale && STAMP.test(x.time)) ? r : null;
    });
    // Exactly the values feedgate kept, and marked as not live.
    const quotes = (await getJson(`${base}/api/quotes?symbols=${encodeURIComponent(night.map((r) => r.symbol).join(','))}`)).data;
    for (const r of night) {
      const q = quotes[r.symbol];
      assert.ok(q, `feedgate has a last known value of ${r.symbol}`);
      assert.equal(q.src, 'cache', `${r.symbol} comes from the saved values`);
      assert.equal(r.ltp, price.format(q.ltp), `${r.symbol} shows the saved price`);
    }
    const colours = await page.evaluate(() => {
      const tr = document.querySelector('#quotes-body tr.stale');
      const muted = getComputedStyle(document.querySelector('.muted')).color;
      return { ltp: getComputedStyle(tr.querySelector('.ltp')).color, muted };
    });
    assert.equal(colours.ltp, colours.muted, 'the price is greyed');
    await screenshot(page, 'night-1-cached');

    // The age keeps counting while the page stays open.
    const firstTime = night[0].time;
    await waitFor('the age of a last known value to move on', async () => (await rows(page))[0].time !== firstTime, { timeoutMs: 15_000 });
  }));

  test('the chart shows the session from the close-time backup, or says there is none', () => withFailureShot(page, 'night-chart', async () => {
    await page.locator('tr[data-symbol="NSE:RELIANCE"] .sym-button').click();
    const c = await waitFor('the chart of the backed-up session', async () => {
      const s = await chart(page);
      return s.open && s.state === 'ready' && s.count > 0 && s.drawn ? s : null;
    });
    assert.equal(c.date, istDate(Date.now()), 'today\'s session, read back from the backup');
    assert.match(c.status, /^\d+ 1-minute candles?, \d\d:\d\d to \d\d:\d\d\.$/, 'nothing live is claimed');
    await screenshot(page, 'night-2-chart', { fullPage: false });
    await page.keyboard.press('Escape');
    await waitFor('the dialog to close', async () => (await chart(page)).state === 'closed');

    // Page 2 was never streamed by the day run: its rows get one REST snapshot each (greyed
    // too), and no candles, so the chart says there are none.
    await page.getByRole('button', { name: 'Next page' }).click();
    await waitFor('page 2 with snapshot values', async () => {
      const r = await rows(page);
      return r[0]?.symbol === 'NSE:ITC' && r.every((x) => x.ltp !== '\u2014' && x.stale);
    });
    await page.locator('tr[data-symbol="NSE:ITC"] .sym-button').click();
    await waitFor('the empty state', async () => (await chart(page)).state === 'empty');
    const e = await chart(page);
    assert.equal(e.empty, 'No candles yet for this session.');
    assert.equal(e.valueText, 'No candles yet for this session.');
    assert.equal(e.count, 0);
    await page.keyboard.press('Escape');
    await waitFor('the dialog to close', async () => (await chart(page)).state === 'closed');
    assert.equal(await page.evaluate(() => document.activeElement?.closest('tr')?.dataset.symbol), 'NSE:ITC', 'focus returns to the symbol');
  }));

  test('the closed-market run never opened the broker\'s WebSocket', async () => {
    assert.equal(await upgrades(), upgradesAfterDay, 'no WebSocket upgrade reached the simulator since the day run');
    const state = await getJson(`${simUrl}/_sim/state`);
    assert.equal(state.connections.length, 0);
    const health = await getJson(`${base}/api/system/health`);
    assert.equal(health.market.phase, 'CLOSED');
    assert.equal(health.feed.should_run, false);
    assert.deepEqual(browser.errors, [], 'no uncaught errors or CSP violations in the page');
  });
});
