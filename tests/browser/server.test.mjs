// "Run it on a server" (README), end to end on this machine: `feedgate serve` on loopback with
// keys, behind Caddy running the repository's own deploy/Caddyfile (host and upstream port
// swapped for local ones; Caddy's internal CA instead of Let's Encrypt), against `feedgate sim`
// as the broker. A browser signs in over HTTPS (the session cookie is Secure and HttpOnly),
// logs in at the broker and gets live prices through the proxy's WebSocket. The other
// deployment files are checked by their own tools: `nginx -t` for deploy/nginx.conf and
// `systemd-analyze verify` for deploy/feedgate.service.

import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { rows } from './lib/dashboard.mjs';
import { Feedgate, freePort, getJson, launchBrowser, removeDir, ROOT, screenshot, tempDir, waitFor, withFailureShot } from './lib/harness.mjs';

const SIM_READY = /^feedgate sim listening on (http:\/\/127\.0\.0\.1:(\d+))$/;
const KEY_ID = 'ops';
const SECRET = 'ops-secret-0123456789abcdef';

/** deploy/Caddyfile with the host, the upstream and Caddy's own state made local. */
function localCaddyfile(httpsPort, httpPort, upstreamPort) {
  const shipped = readFileSync(join(ROOT, 'deploy/Caddyfile'), 'utf8');
  assert.match(shipped, /^feeds\.example\.com \{/m, 'the shipped Caddyfile serves feeds.example.com');
  assert.match(shipped, /reverse_proxy 127\.0\.0\.1:8080/, 'and proxies to 127.0.0.1:8080');
  const global = `{\n\tadmin off\n\tskip_install_trust\n\thttp_port ${httpPort}\n\thttps_port ${httpsPort}\n\tlocal_certs\n}\n\n`;
  return global + shipped
    .replace(/^feeds\.example\.com \{/m, `localhost:${httpsPort} {`)
    .replace('reverse_proxy 127.0.0.1:8080', `reverse_proxy 127.0.0.1:${upstreamPort}`);
}

describe('behind Caddy over HTTPS, signed in with a key', () => {
  let sim;
  let gateway;
  let caddy;
  let dir;
  let origin;
  let browser;
  let page;

  before(async () => {
    dir = await tempDir('feedgate-server-');
    const [port, httpsPort, httpPort] = [await freePort(), await freePort(), await freePort()];
    origin = `https://localhost:${httpsPort}`;
    const started = await Feedgate.start('server-sim', [
      'sim', '--listen', '127.0.0.1:0', '--redirect-url', `${origin}/api/auth/callback`,
    ], { ready: SIM_READY });
    sim = started.fg;
    const simUrl = started.match[1];
    ({ fg: gateway } = await Feedgate.start('server-serve', ['serve'], {
      env: {
        FEEDGATE_LISTEN: `127.0.0.1:${port}`,
        FEEDGATE_PUBLIC_URL: origin,
        FEEDGATE_TRUSTED_PROXIES: '127.0.0.1',
        FEEDGATE_AUTH: 'keys',
        FEEDGATE_API_KEYS: `${KEY_ID}:${SECRET}:read+admin`,
        KITE_API_URL: simUrl,
        KITE_WS_URL: simUrl.replace(/^http/, 'ws'),
        KITE_LOGIN_URL: `${simUrl}/connect/login`,
        ZERODHA_API_KEY: 'feedgate-sim',
        ZERODHA_API_SECRET: 'feedgate-sim-secret',
        DEV_MODE: 'true',
        FEEDGATE_DATA_DIR: join(dir, 'data'),
      },
    }));
    writeFileSync(join(dir, 'Caddyfile'), localCaddyfile(httpsPort, httpPort, port));
    caddy = spawn(process.env.FEEDGATE_CADDY ?? 'caddy', ['run', '--config', join(dir, 'Caddyfile'), '--adapter', 'caddyfile'], {
      env: { ...process.env, HOME: dir, XDG_DATA_HOME: join(dir, 'xdg-data'), XDG_CONFIG_HOME: join(dir, 'xdg-config') },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let caddyLog = '';
    caddy.stderr.on('data', (d) => { caddyLog += d; });
    browser = await launchBrowser({ ignoreHTTPSErrors: true });
    page = browser.page;
    await waitFor('feedgate through Caddy', async () => {
      if (caddy.exitCode !== null) throw new Error(`caddy exited: ${caddyLog.slice(-2000)}`);
      if (!gateway.running) throw new Error('feedgate serve exited; see artifacts/logs/server-serve.log');
      const r = await page.request.get(`${origin}/api/system/health`).catch(() => null);
      return r?.ok() ? r.json() : null;
    }, { timeoutMs: 30_000 });
  });

  after(async () => {
    await browser?.close();
    caddy?.kill('SIGTERM');
    await gateway?.stop();
    await sim?.stop();
    if (dir) await removeDir(dir);
  });

  test('anonymous callers get only the verdict, and nothing else, through the proxy', async () => {
    const health = await (await page.request.get(`${origin}/api/system/health`)).json();
    assert.deepEqual(Object.keys(health), ['priority_status']);
    const quotes = await page.request.get(`${origin}/api/quotes?symbols=NSE:SBIN`);
    assert.equal(quotes.status(), 401);
    const headers = (await page.request.get(`${origin}/`)).headers();
    assert.equal(headers['x-content-type-options'], 'nosniff');
    assert.match(headers['strict-transport-security'] ?? '', /max-age=/, 'the Caddyfile adds HSTS');
  });

  test('sign in over HTTPS, log in at the broker, and prices stream through the proxy', () => withFailureShot(page, 'server-https', async () => {
    await page.goto(`${origin}/`);
    await page.getByLabel('Key id').fill(KEY_ID);
    await page.getByLabel('Secret').fill(SECRET);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('#screener').waitFor({ state: 'visible' });
    const cookies = await browser.context.cookies(origin);
    assert.ok(cookies.length > 0, 'a session cookie');
    for (const c of cookies) {
      assert.equal(c.secure, true, `${c.name} is Secure behind an HTTPS proxy`);
      assert.equal(c.httpOnly, true, `${c.name} is HttpOnly`);
      assert.equal(c.sameSite, 'Strict', `${c.name} is SameSite=Strict`);
    }
    await page.getByRole('link', { name: 'Login' }).click();
    await page.waitForURL((url) => url.pathname === '/connect/login');
    await page.getByRole('button', { name: /log ?in/i }).click();
    await page.waitForURL((url) => url.origin === origin && url.pathname === '/');
    await waitFor('live prices through the proxy', async () => {
      const r = await rows(page);
      return r.filter((x) => x.ltp !== '\u2014' && !x.stale).length >= 5;
    }, { timeoutMs: 30_000 });
    await screenshot(page, 'server-1-https-live');
    assert.deepEqual(browser.errors, [], 'no uncaught errors in the page');
  }));

  test('deploy/nginx.conf passes nginx -t', () => {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=feeds.example.com',
      '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
    const site = readFileSync(join(ROOT, 'deploy/nginx.conf'), 'utf8')
      .replaceAll('/etc/letsencrypt/live/feeds.example.com/fullchain.pem', join(dir, 'cert.pem'))
      .replaceAll('/etc/letsencrypt/live/feeds.example.com/privkey.pem', join(dir, 'key.pem'));
    writeFileSync(join(dir, 'site.conf'), site);
    // Temporary paths inside the test's folder: nginx checks its defaults under /var/lib/nginx.
    const temps = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']
      .map((t) => `  ${t}_temp_path ${join(dir, `nginx-${t}`)};`).join('\n');
    writeFileSync(join(dir, 'nginx.conf'),
      `pid ${join(dir, 'nginx.pid')};\nerror_log stderr;\nevents {}\nhttp {\n  access_log off;\n${temps}\n  include ${join(dir, 'site.conf')};\n}\n`);
    execFileSync(process.env.FEEDGATE_NGINX ?? 'nginx', ['-t', '-q', '-p', dir, '-e', 'stderr', '-c', join(dir, 'nginx.conf')], { stdio: 'pipe' });
  });

  test('deploy/feedgate.service passes systemd-analyze verify', () => {
    const unit = readFileSync(join(ROOT, 'deploy/feedgate.service'), 'utf8')
      .replace('ExecStart=/usr/local/bin/feedgate serve', `ExecStart=${process.env.FEEDGATE_BIN ?? join(ROOT, 'target/debug/feedgate')} serve`);
    writeFileSync(join(dir, 'feedgate.service'), unit);
    const out = execFileSync('systemd-analyze', ['verify', join(dir, 'feedgate.service')], { stdio: 'pipe', encoding: 'utf8' });
    assert.equal(out.trim(), '');
  });
});
