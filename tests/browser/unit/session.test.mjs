// Unit tests of web/js/session.js.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { credential, SessionClient } from '../../../web/js/session.js';

test('the form becomes KEY_ID:SECRET, a pasted pair is accepted, blanks are explained', () => {
  assert.deepEqual(credential(' fgk_1 ', ' s3cret '), { value: 'fgk_1:s3cret' });
  assert.deepEqual(credential('fgk_1:s3cret', ''), { value: 'fgk_1:s3cret' });
  assert.match(credential('', 'x').error, /key id/);
  assert.match(credential('fgk_1', '').error, /secret/);
  assert.match(credential('fgk_1:a', 'b').error, /own field/);
});

function fakeFetch(answers) {
  const calls = [];
  const fetch = async (url, init = {}) => {
    calls.push({ url, init });
    const { status, body } = answers.shift();
    return { ok: status >= 200 && status < 300, status, json: async () => body };
  };
  return { fetch, calls };
}

test('sign-in posts JSON and explains refusals without echoing the key', async () => {
  const { fetch, calls } = fakeFetch([
    { status: 200, body: { auth: 'keys', signed_in: true, key_id: 'fgk_1', scopes: ['read'] } },
    { status: 401, body: {} },
    { status: 429, body: {} },
  ]);
  const s = new SessionClient(fetch);
  assert.equal((await s.signIn('fgk_1:s3cret')).key_id, 'fgk_1');
  assert.equal(calls[0].init.method, 'POST');
  assert.equal(calls[0].init.headers['content-type'], 'application/json');
  assert.deepEqual(JSON.parse(calls[0].init.body), { key: 'fgk_1:s3cret' });
  await assert.rejects(s.signIn('fgk_1:wrong'), (e) => /do not match/.test(e.message) && !e.message.includes('wrong'));
  await assert.rejects(s.signIn('fgk_1:wrong'), /wait a moment/);
});

test('status and sign-out use the session endpoint', async () => {
  const { fetch, calls } = fakeFetch([
    { status: 200, body: { auth: 'off', signed_in: false, scopes: ['read', 'admin', 'orders'] } },
    { status: 204, body: null },
  ]);
  const s = new SessionClient(fetch);
  assert.equal((await s.status()).auth, 'off');
  await s.signOut();
  assert.equal(calls[1].init.method, 'DELETE');
});
