// "Run a cluster" (README, DESIGN.md §9), end to end in a browser: a real redis-server, two
// ingest nodes, two edges and Caddy running the repository's own deploy/cluster/Caddyfile
// (the edges' addresses and the port made local), against `feedgate sim` as the broker. No
// node has a broker token: the dashboard, signed in with a key through Caddy, says the login is
// required; its Login goes through the broker's page and back through Caddy to an edge, whose
// callback hands the code to the leader; the page then streams and names the edge that serves
// it and the leader. The leader killed with SIGKILL → the page shows the other ingest node
// leading (with the same login, shared through Redis) and the rows stay live; the page's edge
// killed → the page reconnects through Caddy to the other edge by itself, still signed in, and
// streams again.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { banner, rows } from './lib/dashboard.mjs';
import { Feedgate, freePort, launchBrowser, removeDir, ROOT, screenshot, tempDir, waitFor, withFailureShot } from './lib/harness.mjs';

const SIM_READY = /^feedgate sim listening on (http:\/\/127\.0\.0\.1:(\d+))$/;
const KEY_ID = 'ops';
const SECRET = 'ops-secret-0123456789abcdef';
const REDIS_PASSWORD = 'cluster-test-password';

/** deploy/cluster/Caddyfile with the listening port and the edges made local. */
function localCaddyfile(port, edgePorts) {
  const shipped = readFileSync(join(ROOT, 'deploy/cluster/Caddyfile'), 'utf8');
  assert.match(shipped, /^:80 \{/m, 'the shipped Caddyfile listens on :80');
  assert.match(shipped, /reverse_proxy edge-1:8080 edge-2:8080/, 'and balances over edge-1 and edge-2');
  assert.match(shipped, /Host 127\.0\.0\.1:8080/, 'its health checks present the public host');
  const global = '{\n\tadmin off\n\tauto_https off\n}\n\n';
  return global + shipped
    .replace(/^:80 \{/m, `:${port} {`)
    .replace('reverse_proxy edge-1:8080 edge-2:8080', `reverse_proxy 127.0.0.1:${edgePorts[0]} 127.0.0.1:${edgePorts[1]}`)
    .replace('Host 127.0.0.1:8080', `Host 127.0.0.1:${port}`);
}

/** A real redis-server on `port`, with a password, persisting nothing. */
function startRedis(port, dir) {
  const proc = spawn(process.env.FEEDGATE_REDIS_SERVER ?? 'redis-server', [
    '--port', String(port), '--bind', '127.0.0.1', '--requirepass', REDIS_PASSWORD,
    '--save', '', '--appendonly', 'no', '--dir', dir,
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  proc.stderr.on('data', (d) => { log += d; });
  proc.log = () => log;
  return proc;
}

describe('a cluster behind Caddy: two ingest nodes, two edges, Redis', () => {
  let dir;
  let redis;
  let sim;
  let simUrl;
  let caddy;
  let origin;
  let browser;
  let page;
  const nodes = new Map();
  const edgePorts = [];
  const nodePorts = new Map();

  async function health(name) {
    const r = await fetch(`http://127.0.0.1:${nodePorts.get(name)}/api/system/health`, {
      headers: { authorization: `Bearer ${KEY_ID}:${SECRET}` },
    }).catch(() => null);
    return r?.ok ? r.json() : null;
  }

  async function startNode(name, role, env) {
    const { fg } = await Feedgate.start(`cluster-${name}`, ['serve'], { env: { ...env(name), FEEDGATE_ROLE: role, FEEDGATE_NODE: name } });
    nodes.set(name, fg);
  }

  before(async () => {
    dir = await tempDir('feedgate-cluster-');
    const redisPort = await freePort();
    redis = startRedis(redisPort, dir);
    const caddyPort = await freePort();
    origin = `http://127.0.0.1:${caddyPort}`;
    const started = await Feedgate.start('cluster-sim', [
      'sim', '--listen', '127.0.0.1:0', '--redirect-url', `${origin}/api/auth/callback`,
    ], { ready: SIM_READY });
    sim = started.fg;
    simUrl = started.match[1];
    for (const name of ['ingest-1', 'ingest-2', 'edge-1', 'edge-2']) nodePorts.set(name, await freePort());
    edgePorts.push(nodePorts.get('edge-1'), nodePorts.get('edge-2'));
    const env = (name) => ({
      FEEDGATE_LISTEN: `127.0.0.1:${nodePorts.get(name)}`,
      FEEDGATE_PUBLIC_URL: name.startsWith('edge') ? origin : `http://127.0.0.1:${nodePorts.get(name)}`,
      FEEDGATE_TRUSTED_PROXIES: '127.0.0.1',
      FEEDGATE_AUTH: 'keys',
      FEEDGATE_API_KEYS: `${KEY_ID}:${SECRET}:read+admin`,
      FEEDGATE_REDIS_URL: `redis://:${REDIS_PASSWORD}@127.0.0.1:${redisPort}/0`,
      FEEDGATE_SECRET_KEY: 'a'.repeat(64),
      FEEDGATE_RECORD: 'off',
      KITE_API_URL: simUrl,
      KITE_WS_URL: simUrl.replace(/^http/, 'ws'),
      KITE_LOGIN_URL: `${simUrl}/connect/login`,
      ZERODHA_API_KEY: 'feedgate-sim',
      ZERODHA_API_SECRET: 'feedgate-sim-secret',
      DEV_MODE: 'true',
      FEEDGATE_DATA_DIR: join(dir, name),
    });
    await startNode('ingest-1', 'ingest', env);
    await waitFor('ingest-1 leads', async () => (await health('ingest-1'))?.cluster?.is_leader === true, { timeoutMs: 20_000 });
    await startNode('ingest-2', 'ingest', env);
    await startNode('edge-1', 'edge', env);
    await startNode('edge-2', 'edge', env);
    writeFileSync(join(dir, 'Caddyfile'), localCaddyfile(caddyPort, edgePorts));
    caddy = spawn(process.env.FEEDGATE_CADDY ?? 'caddy', ['run', '--config', join(dir, 'Caddyfile'), '--adapter', 'caddyfile'], {
      env: { ...process.env, HOME: dir, XDG_DATA_HOME: join(dir, 'xdg-data'), XDG_CONFIG_HOME: join(dir, 'xdg-config') },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let caddyLog = '';
    caddy.stderr.on('data', (d) => { caddyLog += d; });
    browser = await launchBrowser();
    page = browser.page;
    await waitFor('both edges through Caddy', async () => {
      if (caddy.exitCode !== null) throw new Error(`caddy exited: ${caddyLog.slice(-2000)}`);
      if (redis.exitCode !== null) throw new Error(`redis-server exited: ${redis.log().slice(-2000)}`);
      for (const [name, fg] of nodes) if (!fg.running) throw new Error(`${name} exited; see artifacts/logs/cluster-${name}.log`);
      const r = await page.request.get(`${origin}/api/system/health`).catch(() => null);
      const [h1, h2] = [await health('edge-1'), await health('edge-2')];
      return r?.ok() && h1?.cluster?.ticks?.subscribed && h2?.cluster?.ticks?.subscribed;
    }, { timeoutMs: 30_000 });
  });

  after(async () => {
    await browser?.close();
    caddy?.kill('SIGTERM');
    await Promise.all([...nodes.values()].map((fg) => fg.stop()));
    await sim?.stop();
    redis?.kill('SIGTERM');
    if (dir) await removeDir(dir);
  });

  /** The page's "Served by" and "Leader" rows, once the page shows live prices. */
  async function liveVia() {
    return waitFor('live prices and the cluster rows', async () => {
      const r = await rows(page);
      const b = await banner(page);
      const live = r.filter((x) => x.ltp !== '\u2014' && !x.stale).length;
      return live >= 5 && b.details['Served by'] && b.details.Leader ? b.details : null;
    }, { timeoutMs: 30_000 });
  }

  test('signed in through Caddy, the broker login completes through an edge; the page streams and names its edge and the leader', () => withFailureShot(page, 'cluster-live', async () => {
    await page.goto(`${origin}/`);
    await page.getByLabel('Key id').fill(KEY_ID);
    await page.getByLabel('Secret').fill(SECRET);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('#screener').waitFor({ state: 'visible' });
    await waitFor('"Login required" on the page', async () => (await banner(page)).title === 'Login required', { timeoutMs: 20_000 });
    await screenshot(page, 'cluster-0-login-required');
    // The login starts on the page's own edge, through Caddy (not at the leader's address).
    const href = await page.getByRole('link', { name: 'Login' }).getAttribute('href');
    assert.equal(new URL(href, origin).origin, origin, `the Login link: ${href}`);
    await page.getByRole('link', { name: 'Login' }).click();
    await page.waitForURL((url) => url.pathname === '/connect/login');
    await page.getByRole('button', { name: /log ?in/i }).click();
    await page.waitForURL((url) => url.origin === origin && url.pathname === '/');
    const details = await liveVia();
    assert.match(details['Served by'], /^edge-[12] \(edge\)$/);
    assert.match(details.Leader, /^ingest-1, term \d+$/);
    assert.equal(details.Redis, undefined, 'Redis answers: no "not answering" row');
    // Caddy's `lb` cookie keeps the page's status requests on its WebSocket's edge: the page
    // names one node, not whichever answered last.
    const seen = new Set();
    for (let i = 0; i < 8; i += 1) {
      seen.add((await banner(page)).details['Served by']);
      await new Promise((r) => setTimeout(r, 500));
    }
    assert.equal(seen.size, 1, `one edge serves the page: ${[...seen]}`);
    const cookies = await browser.context.cookies(origin);
    assert.ok(cookies.some((c) => c.name === 'feedgate_edge'), `Caddy pinned the browser: ${cookies.map((c) => c.name)}`);
    const state = await (await fetch(`${simUrl}/_sim/state`)).json();
    assert.equal(state.connections?.length ?? state.connections, 1, `one broker connection: ${JSON.stringify(state.connections)}`);
    const leader = await health('ingest-1');
    assert.equal(leader.auth.token_source, 'login', 'the leader holds the login\'s token');
    const leaderLog = readFileSync(join(ROOT, 'artifacts/logs/cluster-ingest-1.log'), 'utf8');
    assert.match(leaderLog, /answered a login forwarded by another node/, 'the edge forwarded the code to the leader');
    await screenshot(page, 'cluster-1-live');
  }));

  test('the leader killed: the page shows the new leader and its rows stay live', () => withFailureShot(page, 'cluster-failover', async () => {
    const servedBy = (await banner(page)).details['Served by'];
    await nodes.get('ingest-1').kill('SIGKILL');
    await waitFor('ingest-2 named leader on the page', async () => /^ingest-2, term \d+$/.test((await banner(page)).details.Leader ?? ''), { timeoutMs: 15_000 });
    const details = await liveVia();
    assert.equal(details['Served by'], servedBy, 'the page kept its edge: no reconnect');
    const standby = await health('ingest-2');
    assert.equal(standby.auth.token_source, 'cluster', 'the new leader streams with the login shared through Redis');
    await screenshot(page, 'cluster-2-new-leader');
  }));

  test('the page\'s edge killed: it reconnects through Caddy to the other edge and streams', () => withFailureShot(page, 'cluster-edge-gone', async () => {
    const servedBy = (await banner(page)).details['Served by'];
    const mine = servedBy.split(' ')[0];
    const other = mine === 'edge-1' ? 'edge-2' : 'edge-1';
    await nodes.get(mine).kill('SIGKILL');
    await waitFor(`the page served by ${other}`, async () => (await banner(page)).details['Served by'] === `${other} (edge)`, { timeoutMs: 30_000 });
    await liveVia();
    await screenshot(page, 'cluster-3-other-edge');
    assert.deepEqual(browser.errors.filter((e) => !/WebSocket|Failed to fetch|NetworkError/.test(String(e))), [], 'no uncaught errors in the page');
  }));
});
