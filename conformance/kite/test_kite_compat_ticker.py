#!/usr/bin/env python3
"""Conformance: existing KiteTicker apps, unchanged but for their root URL, on feedgate's `/kite`
(DESIGN.md §11), with Zerodha's official clients as the apps.

Starts `$FEEDGATE_BIN sim`, logs in to it with the official client, and starts
`$FEEDGATE_BIN serve` against it with access keys. Then:

* a direct `KiteTicker` on the simulator records every tick the simulator sends (full mode);
* five official `KiteTicker` apps (four pykiteconnect, one kiteconnectjs in node) with overlapping instruments and modes connect to
  `ws://127.0.0.1:PORT/kite`; the simulator serves exactly one upstream connection for them;
* every tick each app receives equals, field by field in the app's mode, a tick the
  simulator sent (prices, volumes, OHLC, depth, OI, timestamps, CDS/BCD divisors);
* a slow app (its own process, reading one message every 2 s) does not slow the others;
* bad requests get Kite's error text and the connection stays;
* a wrong key is refused with 403, as Kite refuses a bad token;
* an upstream drop is healed behind the apps: no app sees a close, ticks resume (the gap
  each app saw is printed and must stay under 1.5 s).

Run with the project venv: `.venv/bin/python conformance/kite/test_kite_compat_ticker.py`.
"""

import calendar
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback

import requests
from kiteconnect import KiteConnect, KiteTicker

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_official_client import (  # noqa: E402
    API_KEY,
    API_SECRET,
    INFY,
    NIFTY,
    RELIANCE,
    SBIN,
    SENSEX,
    Failure,
    Simulator,
    check,
    login,
    ok,
    step,
    wait_until,
)

TICK_TIMEOUT = 15.0
KEYS = {
    "app": "app-secret-0123456789abcdef",
    "slow": "slow-secret-0123456789abcdef",
}
HERE = os.path.dirname(os.path.abspath(__file__))
JS_APP = os.path.join(HERE, "js", "ticker_app.mjs")
MAX_HEAL_GAP_S = 1.5


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Gateway:
    """`feedgate serve` against the simulator, with access keys, in a fresh directory."""

    def __init__(self, binary, sim, access_token):
        self.dir = tempfile.mkdtemp(prefix="feedgate-kite-compat-")
        self.port = free_port()
        self.log = open(os.path.join(self.dir, "serve.log"), "w")
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("ZERODHA_", "KITE_", "FYERS_", "FEEDGATE_"))}
        env.update({
            "FEEDGATE_LISTEN": f"127.0.0.1:{self.port}",
            "FEEDGATE_AUTH": "keys",
            "FEEDGATE_API_KEYS": ",".join(f"{k}:{s}:read" for k, s in KEYS.items()),
            "FEEDGATE_DATA_DIR": os.path.join(self.dir, "data"),
            # The feed runs whatever the hour: CI runs at any time of the IST day, and outside
            # market hours the scheduler would keep the upstream closed.
            "DEV_MODE": "true",
            "KITE_API_URL": sim.base,
            "KITE_WS_URL": sim.ws_url,
            "KITE_LOGIN_URL": f"{sim.base}/connect/login",
            "ZERODHA_API_KEY": API_KEY,
            "ZERODHA_API_SECRET": API_SECRET,
            "ZERODHA_ACCESS_TOKEN": access_token,
            "NO_COLOR": "1",
        })
        self.proc = subprocess.Popen([binary, "serve"], cwd=self.dir, env=env,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        self.base = f"http://127.0.0.1:{self.port}"
        self.ws = f"ws://127.0.0.1:{self.port}/kite"

    def wait_ready(self):
        def ready():
            check(self.proc.poll() is None, f"feedgate serve exited: {self.log_tail()}")
            try:
                r = requests.get(f"{self.base}/api/system/health",
                                 headers={"Authorization": f"Bearer app:{KEYS['app']}"}, timeout=2)
            except requests.RequestException:
                return False
            return r.status_code == 200 and r.json().get("auth", {}).get("is_valid")
        wait_until(ready, 60, "feedgate serve to start with a valid broker token")

    def status(self):
        r = requests.get(f"{self.base}/api/websocket/status",
                         headers={"Authorization": f"Bearer app:{KEYS['app']}"}, timeout=5)
        check(r.status_code == 200, f"/api/websocket/status answered {r.status_code}")
        return r.json()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()

    def log_tail(self, lines=40):
        try:
            with open(self.log.name, encoding="utf-8", errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return ""


class App:
    """One official KiteTicker app; records its ticks with their arrival times."""

    def __init__(self, name, root, key, secret, plan):
        self.name = name
        self.plan = plan
        self.lock = threading.Lock()
        self.ticks = []  # (monotonic arrival, tick)
        self.connects = 0
        self.closes = []
        self.errors = []
        self.kt = KiteTicker(key, secret, root=root, reconnect_max_delay=5)
        self.kt.on_connect = self.on_connect
        self.kt.on_ticks = self.on_ticks
        self.kt.on_close = lambda ws, code, reason: self._add(self.closes, (code, str(reason)))
        self.kt.on_error = lambda ws, code, reason: self._add(self.errors, (code, str(reason)))

    def _add(self, lst, item):
        with self.lock:
            lst.append(item)

    def on_connect(self, ws, response):
        with self.lock:
            self.connects += 1
        tokens = sorted({t for group in self.plan.values() for t in group})
        ws.subscribe(tokens)
        for mode, group in self.plan.items():
            if mode != "quote":
                ws.set_mode(mode, group)

    def on_ticks(self, ws, ticks):
        now = time.monotonic()
        with self.lock:
            self.ticks.extend((now, t) for t in ticks)

    def snapshot(self):
        with self.lock:
            return list(self.ticks), self.connects, list(self.closes), list(self.errors)

    def modes(self):
        return {tok: mode for mode, group in self.plan.items() for tok in group}


def norm(v):
    """A comparable form of a parsed tick's value (datetimes as epoch seconds)."""
    if hasattr(v, "timestamp"):
        return int(v.timestamp())
    if isinstance(v, dict):
        return {k: norm(x) for k, x in v.items()}
    if isinstance(v, list):
        return [norm(x) for x in v]
    # JavaScript prints 1508.0 as 1508: compare every number as a float.
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return round(float(v), 9)
    return v


def key_of(tick, fields):
    return json.dumps({k: norm(tick.get(k)) for k in fields}, sort_keys=True)


class Sent:
    """Every tick the direct client saw, indexed by its projection onto each mode's fields."""

    def __init__(self):
        self.by_fields = {}

    def index(self, ticks, fields):
        fields = tuple(sorted(fields))
        if fields not in self.by_fields:
            self.by_fields[fields] = {key_of(t, fields) for _, t in ticks}
        return self.by_fields[fields]


def compare(name, got, direct_ticks, sent):
    """Every tick an app got equals a sent tick on the fields of its mode."""
    missing = []
    for _, t in got:
        fields = [k for k in t if k != "mode"]
        if key_of(t, fields) not in sent.index(direct_ticks, fields):
            missing.append(t)
    check(not missing, f"{name}: {len(missing)} of {len(got)} ticks match no tick the simulator "
          f"sent; first: {missing[:1]}")


def instruments(sim):
    kite = KiteConnect(API_KEY, root=sim.base)
    by_token = {i["instrument_token"]: i for i in kite.instruments()}
    cds = next(t for t, i in by_token.items() if i["segment"] == "CDS-FUT")
    bcd = next(t for t, i in by_token.items() if i["segment"] == "BCD-FUT")
    return by_token, cds, bcd


def start_js_app(gw, tokens, mode):
    """The kiteconnectjs app, when node and the package are installed: prints ticks as JSON."""
    node = shutil.which("node")
    check(node and os.path.isdir(os.path.join(HERE, "js", "node_modules", "kiteconnect")),
          "node or conformance/kite/js/node_modules is missing: run scripts/setup-test-deps")
    return subprocess.Popen(
        [node, JS_APP, gw.ws, "app", KEYS["app"], mode, ",".join(map(str, tokens))],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1)


def read_js_ticks(proc, seconds):
    """Reads the JS app's JSON lines for `seconds`, then stops it."""
    lines = []
    def reader():
        for line in proc.stdout:
            lines.append(line)
    th = threading.Thread(target=reader, daemon=True)
    th.start()
    time.sleep(seconds)
    proc.terminate()
    proc.wait(timeout=5)
    th.join(timeout=5)
    err = proc.stderr.read()
    events = [json.loads(l) for l in lines if l.strip()]
    return events, err


def js_tick_key(t):
    """A kiteconnectjs tick in the Python client's terms (same names; dates as ISO strings)."""
    out = {}
    for k, v in t.items():
        if k in ("last_trade_time", "exchange_timestamp", "timestamp") and isinstance(v, str):
            out[k] = calendar.timegm(time.strptime(v[:19], "%Y-%m-%dT%H:%M:%S"))
        else:
            out[k] = v
    return out


def run(sim, binary):
    step("log in to the simulator; a direct KiteTicker records what it sends")
    params = login(sim)
    broker = KiteConnect(API_KEY, root=sim.base)
    access_token = broker.generate_session(params["request_token"], API_SECRET)["access_token"]
    by_token, cds, bcd = instruments(sim)
    everything = sorted({INFY, SBIN, RELIANCE, NIFTY, SENSEX, cds, bcd})
    direct = App("direct", sim.ws_url, API_KEY, access_token, {"full": everything})
    direct.kt.connect(threaded=True)
    wait_until(lambda: {t["instrument_token"] for _, t in direct.snapshot()[0]} >= set(everything),
               TICK_TIMEOUT, "the direct client's first ticks")
    ok(f"direct client sees {len(everything)} instruments")

    gw = Gateway(binary, sim, access_token)
    try:
        run_with_gateway(sim, gw, direct, everything, cds, bcd, by_token)
    except Exception:
        print(f"--- feedgate serve log (last lines) ---\n{gw.log_tail()}", file=sys.stderr)
        raise
    finally:
        gw.stop()


def run_with_gateway(sim, gw, direct, everything, cds, bcd, by_token):
    step("five apps on /kite share one upstream connection")
    gw.wait_ready()
    plans = {
        "app1": {"full": [INFY, NIFTY, cds]},
        "app2": {"quote": [INFY, SBIN, bcd]},
        "app3": {"ltp": [INFY, SENSEX, RELIANCE]},
        "app4": {"full": [SBIN, RELIANCE], "quote": [NIFTY]},
        "app5": {"quote": [SENSEX, cds, bcd]},
    }
    # The fifth app is kiteconnectjs, in node.
    js = start_js_app(gw, [INFY, cds, bcd, NIFTY], "full")
    plans.pop("app5")
    apps = [App(n, gw.ws, "app", KEYS["app"], p) for n, p in plans.items()]
    for a in apps:
        a.kt.connect(threaded=True)
    for a in apps:
        for tok, mode in a.modes().items():
            wait_until(lambda: any(t["instrument_token"] == tok and t["mode"] == mode
                                   for _, t in a.snapshot()[0]),
                       TICK_TIMEOUT, f"{a.name}: a {mode} tick for {by_token[tok]['tradingsymbol']}")
    time.sleep(6)
    st = gw.status()
    check(st["kite_connections"] >= len(apps), f"kite_connections {st['kite_connections']}")
    check(st["upstream"]["connections"] == 1, f"upstream connections: {st['upstream']}")
    conns = sim.state()["connections"]
    check(len(conns) == 2, f"the simulator serves {len(conns)} sockets: want the direct client's "
          "and feedgate's one")
    ok(f"{len(apps)} pykiteconnect apps + 1 kiteconnectjs app; the simulator serves "
       f"{len(conns)} sockets (direct + feedgate)")

    step("every tick an app received equals a tick the simulator sent, in the app's mode")
    direct_ticks = direct.snapshot()[0]
    sent = Sent()
    total = 0
    for a in apps:
        got = a.snapshot()[0]
        # A subscribe starts in quote mode (Kite's default) until the app's `mode` request
        # lands; from its first tick in the wanted mode on, every tick is in that mode.
        settled = set()
        for _, t in got:
            tok, want = t["instrument_token"], a.modes()[t["instrument_token"]]
            if t["mode"] == want:
                settled.add(tok)
            check(t["mode"] == want or (tok not in settled and t["mode"] == "quote"),
                  f"{a.name}: {t['mode']} tick for a {want} subscription")
        compare(a.name, got, direct_ticks, sent)
        total += len(got)
    for cd in (cds, bcd):
        prices = [t["last_price"] for _, t in apps[0].snapshot()[0] + apps[1].snapshot()[0]
                  if t["instrument_token"] == cd]
        check(prices and all(50 < p < 150 for p in prices), f"divisor of {cd}: {prices[:3]}")
    ok(f"{total} ticks compared field by field, CDS/BCD divisors right")
    events, err = read_js_ticks(js, 0.5)
    js_ticks = [e["tick"] for e in events if "tick" in e]
    check(js_ticks, f"the kiteconnectjs app got no ticks; stderr: {err[-800:]}")
    direct_ticks = direct.snapshot()[0]
    conv = [(0, js_tick_key(t)) for t in js_ticks]
    compare("kiteconnectjs", conv, [(0, norm(t)) for _, t in direct_ticks], Sent())
    ok(f"kiteconnectjs: {len(js_ticks)} ticks equal ticks the simulator sent")

    check_slow_app(gw, apps)
    check_bad_requests(apps[2])
    check_wrong_key(gw)
    check_drop_healed(sim, apps)
    for a in apps + [direct]:
        a.kt.stop_retry()
    for a in apps + [direct]:
        a.kt.close()


def check_slow_app(gw, apps):
    step("a slow app does not slow the others")
    slow = subprocess.Popen([sys.executable, __file__, "--slow-app", gw.ws, "slow", KEYS["slow"]],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        def rate(window):
            start = time.monotonic()
            before = sum(len(a.snapshot()[0]) for a in apps)
            time.sleep(window)
            return (sum(len(a.snapshot()[0]) for a in apps) - before) / (time.monotonic() - start)
        wait_until(lambda: gw.status()["kite_connections"] >= len(apps) + 1, 10, "the slow app")
        with_slow = rate(5)
        if slow.poll() is not None:
            raise Failure(f"the slow app exited: {slow.stderr.read()[-500:]}")
    finally:
        # Its reactor is blocked in the callback, so it cannot act on SIGTERM.
        slow.kill()
        slow.wait(timeout=5)
    without = rate(5)
    check(with_slow > 0.7 * without, f"others' tick rate {with_slow:.1f}/s beside a slow app, "
          f"{without:.1f}/s without it")
    ok(f"others' tick rate beside a slow app {with_slow:.1f}/s, without {without:.1f}/s")


def check_bad_requests(app):
    step("bad requests get Kite's error text; the connection stays")
    before = len(app.snapshot()[3])
    for bad in (b"not json", b'{"a":"subscribe"}', b'{"a":"mode","v":["depth",[1]]}'):
        app.kt.ws.sendMessage(bad, isBinary=False)
    wait_until(lambda: len(app.snapshot()[3]) >= before + 3, 5, "three error messages")
    errors = app.snapshot()[3][before:]
    check(all(code == 0 for code, _ in errors), f"errors {errors}: Kite's text errors carry code 0")
    n = len(app.snapshot()[0])
    wait_until(lambda: len(app.snapshot()[0]) > n + 2, 5, "ticks after the bad requests")
    check(not app.snapshot()[2], f"closed: {app.snapshot()[2]}")
    ok(f"{len(errors)} errors, e.g. {errors[0][1]!r}; ticks go on")


def check_wrong_key(gw):
    step("a wrong key is refused with 403, as Kite refuses a bad token")
    wrong = App("wrong", gw.ws, "app", "not-the-secret-0123456789", {"quote": [INFY]})
    from twisted.internet import reactor
    reactor.callFromThread(wrong.kt.connect)
    wait_until(lambda: wrong.snapshot()[3], 10, "the refusal")
    reactor.callFromThread(wrong.kt.stop_retry)
    _, connects, _, errors = wrong.snapshot()
    check(connects == 0 and any("403" in r for _, r in errors), f"refusal: {errors}")
    ok(f"refused: {errors[0][1]!r}")


def check_drop_healed(sim, apps):
    step("an upstream drop is healed behind the apps")
    time.sleep(1)
    fault_at = time.monotonic()
    counts = [len(a.snapshot()[0]) for a in apps]
    sim.fault({"kind": "drop"})
    time.sleep(6)
    gaps = []
    for a, n in zip(apps, counts):
        ticks, connects, closes, _ = a.snapshot()
        check(connects == 1 and not closes, f"{a.name} saw a close: {closes}")
        check(len(ticks) > n, f"{a.name}: no tick after the drop")
        # The longest silence the app saw from a second before the drop to the end.
        times = [fault_at - 1] + [at for at, _ in ticks if at >= fault_at - 1]
        gaps.append(max(b - a for a, b in zip(times, times[1:])))
    worst = max(gaps)
    check(worst <= MAX_HEAL_GAP_S, f"longest silence across the drop {worst:.2f} s")
    ok("no app saw a close; longest silence across the drop "
       f"{worst:.2f} s (median {sorted(gaps)[len(gaps) // 2]:.2f} s)")


def slow_app(root, key, secret):
    """A separate process whose callback blocks: its socket backs up, feedgate conflates."""
    kt = KiteTicker(key, secret, root=root)
    kt.on_connect = lambda ws, r: (ws.subscribe([INFY, SBIN, RELIANCE, NIFTY]),
                                   ws.set_mode("full", [INFY, SBIN, RELIANCE, NIFTY]))
    kt.on_ticks = lambda ws, ticks: time.sleep(2)
    kt.connect()


def main():
    import faulthandler
    # A hung client library must fail the run, not stall CI.
    faulthandler.dump_traceback_later(240, exit=True)
    if len(sys.argv) == 5 and sys.argv[1] == "--slow-app":
        slow_app(*sys.argv[2:])
        return 0
    binary = os.environ.get("FEEDGATE_BIN")
    if not binary:
        print("FAIL: set FEEDGATE_BIN to the feedgate binary", file=sys.stderr)
        return 1
    sim = Simulator(binary)
    started = time.monotonic()
    try:
        sim.start()
        run(sim, binary)
    except Failure as e:
        print(f"\nFAIL: {e}", file=sys.stderr)
        print(f"--- simulator log ---\n{sim.log_tail()}", file=sys.stderr)
        return 1
    except Exception:  # noqa: BLE001
        traceback.print_exc()
        print(f"\nFAIL: unexpected error\n{sim.log_tail()}", file=sys.stderr)
        return 1
    finally:
        sim.stop()
    print(f"\nPASS: KiteTicker apps on feedgate's /kite ({time.monotonic() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
