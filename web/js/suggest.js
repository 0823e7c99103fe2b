// Symbol suggestions for the "Add a symbol" box, from GET /api/instruments?q=…&limit=10
// (`[{"symbol","name"}]`) into the input's <datalist>. A gateway without that endpoint
// simply gives no suggestions (asked again after a while, in case it was upgraded).

const DEBOUNCE_MS = 200;
const LIMIT = 10;
const ABSENT_RETRY_MS = 5 * 60_000;

/** Valid suggestions from the endpoint's JSON (anything malformed is skipped). */
export function parseSuggestions(json) {
  if (!Array.isArray(json)) return [];
  const out = [];
  for (const item of json) {
    if (!item || typeof item.symbol !== 'string' || item.symbol.length === 0) continue;
    out.push({ symbol: item.symbol, name: typeof item.name === 'string' ? item.name : '' });
    if (out.length >= LIMIT) break;
  }
  return out;
}

export class Suggestions {
  #input;
  #list;
  #fetch;
  #timer = null;
  #abort = null;
  #absentUntil = 0;
  #lastQuery = '';

  constructor(input, list, fetchImpl = globalThis.fetch.bind(globalThis)) {
    this.#input = input;
    this.#list = list;
    this.#fetch = fetchImpl;
    input.addEventListener('input', () => this.#schedule());
  }

  clear() {
    this.#abort?.abort();
    this.#lastQuery = '';
    this.#list.replaceChildren();
  }

  #schedule() {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.#load(), DEBOUNCE_MS);
  }

  async #load() {
    const q = this.#input.value.trim();
    if (q === this.#lastQuery) return;
    if (q.length === 0 || Date.now() < this.#absentUntil) {
      this.clear();
      return;
    }
    this.#abort?.abort();
    const abort = new AbortController();
    this.#abort = abort;
    try {
      const res = await this.#fetch(`/api/instruments?q=${encodeURIComponent(q)}&limit=${LIMIT}`, {
        signal: abort.signal,
        headers: { accept: 'application/json' },
      });
      if (res.status !== 200) {
        if (res.status === 404 || res.status === 405 || res.status === 501) this.#absentUntil = Date.now() + ABSENT_RETRY_MS;
        return;
      }
      const items = parseSuggestions(await res.json());
      if (abort.signal.aborted) return;
      this.#lastQuery = q;
      const doc = this.#list.ownerDocument;
      this.#list.replaceChildren(...items.map(({ symbol, name }) => {
        const option = doc.createElement('option');
        option.value = symbol;
        if (name) option.label = name;
        return option;
      }));
    } catch {
      // Aborted by a newer keystroke, or the network failed: no suggestions this time.
    }
  }
}
