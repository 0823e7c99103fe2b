// Test harness for the dashboard's browser tests: starts feedgate processes from the built
// binary, drives Debian's chromium through playwright-core, and cleans up whatever it started,
// also when a test fails or the runner is interrupted. Waits are bounded: conditions are polled
// until a deadline, never slept for a fixed time.

import { spawn } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const BIN = resolve(ROOT, process.env.FEEDGATE_BIN ?? 'target/debug/feedgate');
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const ARTIFACTS = join(ROOT, 'artifacts');
export const SHOTS = join(ARTIFACTS, 'screenshots');
const LOGS = join(ARTIFACTS, 'logs');

/** Chromium flags: headless, no sandbox (CI containers), and no traffic of its own. */
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Everything started here, so that any exit path can stop it. */
const live = new Set();

function killAllNow() {
  for (const p of live) {
    try {
      p.kill('SIGKILL');
    } catch {
      // Already gone.
    }
  }
  live.clear();
}

process.on('exit', killAllNow);
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    killAllNow();
    process.exit(130);
  });
}

/** Polls `fn` until it returns something truthy (which is returned), or fails at the deadline. */
export async function waitFor(what, fn, { timeoutMs = 15_000, intervalMs = 100 } = {}) {
  const deadline = Date.now() + timeoutMs;
  let lastError = null;
  for (;;) {
    try {
      const value = await fn();
      if (value) return value;
      lastError = null;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= deadline) {
      const why = lastError ? ` (last error: ${lastError.message})` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${why}`);
    }
    await delay(intervalMs);
  }
}

/** A TCP port that was free a moment ago (bound to port 0, then released). */
export async function freePort() {
  return new Promise((resolvePort, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolvePort(port));
    });
  });
}

/** A fresh, empty temporary directory; removed by `removeDir`. */
export const tempDir = (prefix) => mkdtemp(join(tmpdir(), prefix));
export const removeDir = (dir) => rm(dir, { recursive: true, force: true });

/**
 * A running feedgate process. Its stdout and stderr go to `artifacts/logs/<name>.log`.
 * It runs in a fresh empty working directory, so no `.env` of the developer's is read, and
 * with the parent's environment minus any broker credentials, plus `env`.
 */
export class Feedgate {
  #proc;
  #cwd;
  #exited;
  name;

  static async start(name, args, { env = {}, ready = null, timeoutMs = 20_000 } = {}) {
    const fg = new Feedgate();
    await fg.#spawn(name, args, env);
    if (ready === null) return { fg, match: null };
    try {
      const match = await fg.#firstLine(ready, timeoutMs);
      return { fg, match };
    } catch (err) {
      await fg.stop();
      throw err;
    }
  }

  async #spawn(name, args, env) {
    this.name = name;
    this.#cwd = await tempDir(`feedgate-test-${name}-`);
    mkdirSync(LOGS, { recursive: true });
    const log = createWriteStream(join(LOGS, `${name}.log`), { flags: 'a' });
    log.write(`\n=== ${new Date().toISOString()} ${BIN} ${args.join(' ')}\n`);
    const base = { ...process.env };
    for (const key of Object.keys(base)) {
      if (/^(ZERODHA_|KITE_|FYERS_|FEEDGATE_)/.test(key)) delete base[key];
    }
    const proc = spawn(BIN, args, {
      cwd: this.#cwd,
      env: { ...base, NO_COLOR: '1', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.#proc = proc;
    live.add(proc);
    this.#exited = new Promise((resolveExit) => {
      // 'close' (not 'exit'): the output streams are drained by then, so the log is complete.
      proc.once('close', (code, signal) => {
        live.delete(proc);
        log.end(`=== exited: code ${code}, signal ${signal}\n`);
        resolveExit({ code, signal });
      });
      proc.once('error', (err) => {
        live.delete(proc);
        log.end(`=== failed to start: ${err.message}\n`);
        resolveExit({ code: null, signal: null, error: err });
      });
    });
    proc.stderr.pipe(log, { end: false });
    this.stdoutLines = createInterface({ input: proc.stdout });
    this.stdoutLines.on('line', (line) => log.write(`[stdout] ${line}\n`));
  }

  #firstLine(pattern, timeoutMs) {
    return new Promise((resolveLine, reject) => {
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`${this.name}: no line matching ${pattern} on stdout within ${timeoutMs} ms (see artifacts/logs/${this.name}.log)`));
      }, timeoutMs);
      const onLine = (line) => {
        const m = pattern.exec(line);
        if (m) {
          cleanup();
          resolveLine(m);
        }
      };
      const onExit = ({ code, signal, error }) => {
        cleanup();
        reject(new Error(`${this.name} exited before it was ready (code ${code}, signal ${signal}${error ? `, ${error.message}` : ''}); see artifacts/logs/${this.name}.log`));
      };
      const cleanup = () => {
        clearTimeout(timer);
        this.stdoutLines.off('line', onLine);
      };
      this.stdoutLines.on('line', onLine);
      this.#exited.then(onExit);
    });
  }

  get running() {
    return live.has(this.#proc);
  }

  /** Sends `signal` (e.g. SIGKILL: no goodbye) and waits until the process has exited. */
  async kill(signal) {
    if (!this.running) return;
    this.#proc.kill(signal);
    await this.#exited;
  }

  /** SIGTERM, then SIGKILL if it has not exited within `graceMs`; removes its working directory. */
  async stop(graceMs = 8000) {
    if (this.running) {
      this.#proc.kill('SIGTERM');
      const timedOut = await Promise.race([this.#exited.then(() => false), delay(graceMs).then(() => true)]);
      if (timedOut) {
        this.#proc.kill('SIGKILL');
        await this.#exited;
      }
    }
    await removeDir(this.#cwd);
  }
}

/** Chromium with a fresh profile directory; `close()` ends it and removes the profile. */
export async function launchBrowser({ width = 1280, height = 900, ignoreHTTPSErrors = false } = {}) {
  const profile = await tempDir('feedgate-chromium-');
  let context;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
      viewport: { width, height },
      // Only for a test's own local CA (Caddy's internal certificates).
      ignoreHTTPSErrors,
      // Timeouts of single actions; tests wait for conditions with their own deadlines.
      timeout: 30_000,
    });
  } catch (err) {
    await removeDir(profile);
    throw err;
  }
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(15_000);
  const errors = [];
  page.on('pageerror', (err) => errors.push(err.message));
  // The dashboard must work under its own Content-Security-Policy: any violation is an error.
  page.on('console', (msg) => {
    if (msg.type() === 'error' && /Content Security Policy/i.test(msg.text())) errors.push(msg.text());
  });
  return {
    context,
    page,
    /** Uncaught exceptions and CSP violations in the page so far. */
    errors,
    async close() {
      await context.close().catch(() => {});
      await removeDir(profile);
    },
  };
}

/**
 * Saves a screenshot as artifacts/screenshots/<name>.png: the full page, or with
 * `fullPage: false` what is on screen (for a modal dialog, which sits over the viewport).
 */
export async function screenshot(page, name, { fullPage = true } = {}) {
  mkdirSync(SHOTS, { recursive: true });
  const path = join(SHOTS, `${name}.png`);
  // From the top, so the sticky banner sits where a person sees it.
  if (fullPage) await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path, fullPage });
  return path;
}

/** Runs a test body; on failure saves a screenshot named after the test, then rethrows. */
export async function withFailureShot(page, name, body) {
  try {
    return await body();
  } catch (err) {
    await screenshot(page, `FAILED-${name}`).catch(() => {});
    throw err;
  }
}

export async function getJson(url) {
  const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
  if (!res.ok) throw new Error(`GET ${url} answered ${res.status}`);
  return res.json();
}

export async function postJson(url, body) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(5000),
  });
  if (!res.ok) throw new Error(`POST ${url} answered ${res.status}: ${await res.text()}`);
  return res.json();
}
