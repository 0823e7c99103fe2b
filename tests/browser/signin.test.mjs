// Access control in a real browser: `feedgate serve` with FEEDGATE_AUTH=keys and no broker
// token, against a separate `feedgate sim`. The dashboard shows only its sign-in form; a wrong
// secret is refused; the right key shows the dashboard, whose broker login (bound to the
// session) goes through the simulator's page and comes back live; signing out shows the form.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { banner, rows } from './lib/dashboard.mjs';
import { Feedgate, freePort, getJson, launchBrowser, removeDir, screenshot, tempDir, waitFor, withFailureShot } from './lib/harness.mjs';

const SIM_READY = /^feedgate sim listening on (http:\/\/127\.0\.0\.1:(\d+))$/;
const KEY_ID = 'ops';
const SECRET = 'ops-secret-0123456789';

describe('sign in with a key, then the session-bound broker login', () => {
  let sim;
  let gateway;
  let dataDir;
  let base;
  let browser;
  let page;

  before(async () => {
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    const started = await Feedgate.start('sim-signin', [
      'sim', '--listen', '127.0.0.1:0', '--redirect-url', `${base}/api/auth/callback`,
    ], { ready: SIM_READY });
    sim = started.fg;
    const simUrl = started.match[1];
    dataDir = await tempDir('feedgate-test-data-');
    ({ fg: gateway } = await Feedgate.start('serve-signin', ['serve'], {
      env: {
        FEEDGATE_LISTEN: `127.0.0.1:${port}`,
        FEEDGATE_AUTH: 'keys',
        FEEDGATE_API_KEYS: `${KEY_ID}:${SECRET}:read+admin`,
        KITE_API_URL: simUrl,
        KITE_WS_URL: simUrl.replace(/^http/, 'ws'),
        KITE_LOGIN_URL: `${simUrl}/connect/login`,
        ZERODHA_API_KEY: 'feedgate-sim',
        ZERODHA_API_SECRET: 'feedgate-sim-secret',
        DEV_MODE: 'true',
        FEEDGATE_DATA_DIR: dataDir,
      },
    }));
    await waitFor('feedgate serve to answer', async () => {
      if (!gateway.running) throw new Error('feedgate serve exited; see artifacts/logs/serve-signin.log');
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

  test('only the sign-in form is shown, and a wrong secret is refused', () => withFailureShot(page, 'signin-form', async () => {
    await page.goto(`${base}/`);
    await page.getByLabel('Key id').waitFor();
    assert.equal(await page.locator('#screener').isVisible(), false, 'no dashboard before signing in');
    await page.getByLabel('Key id').fill(KEY_ID);
    await page.getByLabel('Secret').fill('not-the-secret-000000');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await waitFor('the refusal', async () => /do not match/.test(await page.locator('#signin-feedback').textContent()));
    await screenshot(page, 'signin-1-refused');
  }));

  test('the right key shows the dashboard, and the broker login comes back live', () => withFailureShot(page, 'signin-login', async () => {
    await page.getByLabel('Secret').fill(SECRET);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('#screener').waitFor({ state: 'visible' });
    const b = await waitFor('the login banner', async () => {
      const s = await banner(page);
      return s.status === 'AUTH_REQUIRED' ? s : null;
    });
    assert.equal(b.title, 'Login required');
    await page.getByRole('link', { name: 'Login' }).click();
    await page.waitForURL((url) => url.pathname === '/connect/login');
    await page.getByRole('button', { name: /log ?in/i }).click();
    await page.waitForURL((url) => url.origin === base && url.pathname === '/');
    await page.locator('#screener').waitFor({ state: 'visible' });
    await waitFor('live prices in the rows', async () => {
      const r = await rows(page);
      return r.filter((x) => x.ltp !== '\u2014' && !x.stale).length >= 5;
    }, { timeoutMs: 30_000 });
    await screenshot(page, 'signin-2-live');
    assert.deepEqual(browser.errors, [], 'no uncaught errors in the page');
  }));

  test('signing out shows the form again', () => withFailureShot(page, 'signin-out', async () => {
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('Key id').waitFor();
    assert.equal(await page.locator('#screener').isVisible(), false);
  }));
});
