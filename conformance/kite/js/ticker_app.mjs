// An app written against kiteconnectjs's KiteTicker, pointed at feedgate's /kite: prints every
// tick (and connect/close/error events) as one JSON line each, for
// test_kite_compat_ticker.py to compare with what the simulator sent.
//
// Usage: node ticker_app.mjs ROOT KEY_ID SECRET MODE TOKEN,TOKEN,...
import { KiteTicker } from 'kiteconnect';

const [root, apiKey, secret, mode, tokenList] = process.argv.slice(2);
const tokens = tokenList.split(',').map(Number);
const out = (event) => process.stdout.write(`${JSON.stringify(event)}\n`);

const ticker = new KiteTicker({ api_key: apiKey, access_token: secret, root });
ticker.autoReconnect(true, 10, 5);
ticker.on('connect', () => {
  out({ connect: true });
  ticker.subscribe(tokens);
  ticker.setMode(mode, tokens);
});
ticker.on('ticks', (ticks) => ticks.forEach((tick) => out({ tick })));
ticker.on('disconnect', (err) => out({ close: String(err ?? '') }));
ticker.on('error', (err) => out({ error: String(err?.message ?? err) }));
ticker.connect();
process.on('SIGTERM', () => process.exit(0));
