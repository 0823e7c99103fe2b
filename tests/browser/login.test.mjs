// The login flow in a real browser: `feedgate serve` with no access token, pointed at a
// separate `feedgate sim`. The banner must say a login is required; its Login button goes
// through the simulator's login page (a form with a Login button) and comes back to the
// dashboard, which then shows live data.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { banner, rows } from './lib/dashboard.mjs';
import { Feedgate, freePort, getJson, launchBrowser, removeDir, screenshot, tempDir, waitFor, withFailureShot } from './lib/harness.mjs';

const SIM_READY = /^feedgate sim listening on (http:\/\/127\.0\.0\.1:(\d+))$/;

describe('login required, then login through the broker page', () => {
  let sim;
  let gateway;
  let dataDir;
  let base;
  let browser;
  let page;

  before(async () => {
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    const started = await Feedgate.start('sim', [
      'sim', '--listen', '127.0.0.1:0', '--redirect-url', `${base}/api/auth/callback`,
    ], { ready: SIM_READY });
    sim = started.fg;
    const simUrl = started.match[1];
    dataDir = await tempDir('feedgate-test-data-');
    ({ fg: gateway } = await Feedgate.start('serve', ['serve'], {
      env: {
        FEEDGATE_LISTEN: `127.0.0.1:${port}`,
        KITE_API_URL: simUrl,
        KITE_WS_URL: simUrl.replace(/^http/, 'ws'),
        KITE_LOGIN_URL: `${simUrl}/connect/login`,
        ZERODHA_API_KEY: 'feedgate-sim',
        ZERODHA_API_SECRET: 'feedgate-sim-secret',
        DEV_MODE: 'true',
        FEEDGATE_DATA_DIR: dataDir,
      },
    }));
    // `serve` prints nothing when ready: its health endpoint answering is the signal.
    await waitFor('feedgate serve to answer', async () => {
      if (!gateway.running) throw new Error('feedgate serve exited; see artifacts/logs/serve.log');
      return getJson(`${base}/api/system/health`);
    }, { timeoutMs: 20_000 });
    browser = await launchBrowser();
    page = browser.page;
  });

  after(async () => {
    await browser?.close();
    await gateway?.stop();
    await sim?.stop();
    if (dataDir) await removeDir(dataDir);
  });

  test('the banner says login is required and offers a Login button', () => withFailureShot(page, 'login-required', async () => {
    await page.goto(`${base}/`);
    const b = await waitFor('the login banner', async () => {
      const s = await banner(page);
      return s.status === 'AUTH_REQUIRED' ? s : null;
    });
    assert.equal(b.title, 'Login required');
    assert.equal(b.tone, 'auth');
    assert.ok(await page.getByRole('link', { name: 'Login' }).isVisible());
    await screenshot(page, 'login-1-required');
  }));

  test('Login goes through the broker\'s login page and comes back live', () => withFailureShot(page, 'login-flow', async () => {
    await page.getByRole('link', { name: 'Login' }).click();
    await page.waitForURL((url) => url.pathname === '/connect/login');
    await screenshot(page, 'login-2-broker-page');
    await page.getByRole('button', { name: /log ?in/i }).click();
    await page.waitForURL((url) => url.origin === base && url.pathname === '/');

    await waitFor('the banner to leave "login required"', async () => {
      const s = await banner(page);
      return s.status === 'MARKET_SESSION' || s.status === 'FEED_DISCONNECTED' ? s : null;
    }, { timeoutMs: 20_000 });
    await waitFor('live (not last-known) prices in the rows', async () => {
      const r = await rows(page);
      return r.filter((x) => x.ltp !== '\u2014' && !x.stale).length >= 5;
    }, { timeoutMs: 30_000 });
    const health = await getJson(`${base}/api/system/health`);
    assert.equal(health.auth.is_valid, true);
    assert.notEqual(health.priority_status, 'AUTH_REQUIRED');
    await waitFor('a live banner', async () => (await banner(page)).status === 'MARKET_SESSION', { timeoutMs: 30_000 });
    await waitFor('sparklines', async () => (await rows(page)).filter((r) => r.spark).length >= 5);
    await screenshot(page, 'login-3-live');
    assert.deepEqual(browser.errors, [], 'no uncaught errors in the page');
  }));
});
