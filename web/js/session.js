// The dashboard's sign-in (DESIGN.md §10): asks feedgate whether access control is on and who
// is signed in (GET /api/session), signs in with a key (POST, JSON, so no other site can post
// it) and out (DELETE). The session lives in an HttpOnly cookie the page never sees; the
// WebSocket and every fetch of this origin carry it. No DOM: Node tests drive it with a fake
// fetch.

/** `KEY_ID:SECRET` from the form's two fields, or an error message for the person. */
export function credential(keyId, secret) {
  const id = String(keyId ?? '').trim();
  const s = String(secret ?? '').trim();
  if (id.includes(':')) {
    // A whole KEY_ID:SECRET pasted into the id field is what people do; accept it.
    return s === '' ? { value: id } : { error: 'The key id has no ":"; put the secret in its own field.' };
  }
  if (id === '' || s === '') return { error: 'Enter the key id and its secret.' };
  return { value: `${id}:${s}` };
}

export class SessionClient {
  #fetch;

  constructor(fetchImpl = globalThis.fetch.bind(globalThis)) {
    this.#fetch = fetchImpl;
  }

  /** `{ auth: 'off' | 'keys', signed_in, key_id?, scopes }`. */
  async status() {
    const res = await this.#fetch('/api/session', { cache: 'no-store', headers: { accept: 'application/json' } });
    if (!res.ok) throw new Error(`feedgate answered HTTP ${res.status}`);
    return res.json();
  }

  /** Signs in; resolves to the status, or rejects with a message for the person. */
  async signIn(key) {
    const res = await this.#fetch('/api/session', {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({ key }),
    });
    if (res.status === 401) throw new Error('That key id and secret do not match a key.');
    if (res.status === 429) throw new Error('Too many wrong keys from this address; wait a moment and try again.');
    if (!res.ok) throw new Error(`feedgate answered HTTP ${res.status}`);
    return res.json();
  }

  async signOut() {
    await this.#fetch('/api/session', { method: 'DELETE', headers: { 'content-type': 'application/json' } });
  }
}
