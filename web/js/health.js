// Polls GET /api/system/health (DESIGN.md §5) every few seconds, and at once when asked (a
// connection_status message says something changed). Keeps the latest document and when it
// arrived; reports through an `update` event. No DOM.

const INTERVAL_MS = 3000;
/** A hidden tab polls less often; it catches up as soon as it is shown again. */
const HIDDEN_INTERVAL_MS = 15_000;
const TIMEOUT_MS = 2500;
const SOON_MS = 150;

export class HealthMonitor extends EventTarget {
  #url;
  #fetch;
  #timer = null;
  #inFlight = false;
  #again = false;
  /** The last document received, or null. */
  doc = null;
  /** `performance.now()` when `doc` arrived. */
  receivedAt = 0;
  /** Why the last poll failed, or null when it succeeded. */
  error = null;

  constructor(url = '/api/system/health', fetchImpl = globalThis.fetch.bind(globalThis)) {
    super();
    this.#url = url;
    this.#fetch = fetchImpl;
  }

  start() {
    this.#poll();
  }

  /** Polls again shortly (coalescing bursts of requests into one). */
  refreshSoon() {
    if (this.#inFlight) {
      this.#again = true;
      return;
    }
    this.#schedule(SOON_MS);
  }

  /** Seconds since the last document arrived (Infinity when there is none). */
  get ageSeconds() {
    return this.doc ? (performance.now() - this.receivedAt) / 1000 : Infinity;
  }

  #schedule(ms) {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.#poll(), ms);
  }

  async #poll() {
    clearTimeout(this.#timer);
    this.#inFlight = true;
    this.#again = false;
    const abort = new AbortController();
    const timeout = setTimeout(() => abort.abort(), TIMEOUT_MS);
    try {
      const res = await this.#fetch(this.#url, { cache: 'no-store', signal: abort.signal, headers: { accept: 'application/json' } });
      if (!res.ok) throw new Error(`health check answered HTTP ${res.status}`);
      const doc = await res.json();
      if (!doc || typeof doc !== 'object') throw new Error('health check answered something that is not a health document');
      this.doc = doc;
      this.receivedAt = performance.now();
      this.error = null;
    } catch (err) {
      this.error = err.name === 'AbortError' ? 'health check timed out' : err.message;
    } finally {
      clearTimeout(timeout);
      this.#inFlight = false;
    }
    this.dispatchEvent(new CustomEvent('update'));
    const hidden = typeof document !== 'undefined' && document.hidden;
    this.#schedule(this.#again ? SOON_MS : hidden ? HIDDEN_INTERVAL_MS : INTERVAL_MS);
  }
}
