#!/usr/bin/env python3
"""Conformance: Zerodha's official Python client (kiteconnect 5.2.2) reading quotes and the
instrument dump from `feedgate serve` (DESIGN.md §11, issue 15 item 4).

Launches `$FEEDGATE_BIN sim` and `$FEEDGATE_BIN serve` against it with access control on and
one feedgate key, logs the broker session in through the simulator's login form, then checks
with `KiteConnect(key_id, root="http://127.0.0.1:PORT")` + `set_access_token(secret)` that:

* `quote`, `ltp`, `ohlc` and `instruments` parse, with the same fields as a direct
  `KiteConnect` on the simulator and the same prices (read at the same tick);
* more than one request per second is served without a 429 (the broker allows 1/s);
* a wrong key raises TokenException with code 403 and fires the session-expiry hook;
* more than 500 instruments in one `quote` raises InputException (code 400).

Run with the project venv: `.venv/bin/python conformance/kite/test_kite_compat_rest.py`.
Exits 0 when every check passes, 1 with a clear message otherwise. Both processes are always
stopped, also on failure.
"""

import os
import socket
import subprocess
import sys
import tempfile
import time
import traceback

import requests
from kiteconnect import KiteConnect
from kiteconnect import exceptions as kite_errors

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_official_client import (  # noqa: E402 - the shared simulator harness
    API_KEY,
    API_SECRET,
    Failure,
    Simulator,
    check,
    login,
    ok,
    step,
    wait_until,
)

KEY_ID = "compat-app"
KEY_SECRET = "compat-secret-0123456789abcdef"
SYMBOLS = ["NSE:INFY", "NSE:SBIN", "NSE:NIFTY 50", "BSE:SENSEX"]
STARTUP_TIMEOUT = 60.0


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Gateway:
    """`feedgate serve` against the simulator, with one read key."""

    def __init__(self, binary, sim, access_token):
        self.binary = binary
        self.sim = sim
        self.access_token = access_token
        self.log = tempfile.NamedTemporaryFile(prefix="feedgate-serve-", suffix=".log", delete=False)
        self.data = tempfile.TemporaryDirectory(prefix="feedgate-compat-")
        self.proc = None
        self.base = None

    def start(self):
        port = free_port()
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "FEEDGATE_LISTEN": f"127.0.0.1:{port}",
            "FEEDGATE_DATA_DIR": self.data.name,
            # No watchlist: the REST reads alone decide what is subscribed.
            "FEEDGATE_INSTRUMENTS": "",
            "FEEDGATE_AUTH": "keys",
            "FEEDGATE_API_KEYS": f"{KEY_ID}:{KEY_SECRET}:read",
            "FEEDGATE_LOG": "warn",
            "DEV_MODE": "true",
            "KITE_API_URL": self.sim.base,
            "KITE_WS_URL": self.sim.ws_url,
            "KITE_LOGIN_URL": f"{self.sim.base}/connect/login",
            "ZERODHA_API_KEY": API_KEY,
            "ZERODHA_API_SECRET": API_SECRET,
            "ZERODHA_ACCESS_TOKEN": self.access_token,
        }
        self.proc = subprocess.Popen(
            [self.binary, "serve"], env=env, cwd=self.data.name,
            stdout=self.log, stderr=self.log,
        )
        self.base = f"http://127.0.0.1:{port}"

        def ready():
            check(self.proc.poll() is None, f"feedgate serve exited with {self.proc.returncode}")
            try:
                r = requests.get(f"{self.base}/api/system/health", timeout=1)
            except requests.RequestException:
                return False
            return r.status_code == 200

        wait_until(ready, STARTUP_TIMEOUT, "feedgate serve to answer")
        return self

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.data.cleanup()

    def log_tail(self, lines=40):
        try:
            with open(self.log.name, encoding="utf-8", errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return ""


def direct_call(fn, *args):
    """A call on the simulator, which allows one quote call a second (feedgate uses the same
    api_key): retried after a 429."""
    for _ in range(10):
        try:
            return fn(*args)
        except kite_errors.NetworkException as e:
            if e.code != 429:
                raise
            time.sleep(1.1)
    raise Failure("the simulator kept answering 429")


def same_tick(direct, via, keys):
    """Compares a direct and a feedgate answer: same instruments and fields; True when every
    price agrees (both read at the same tick)."""
    check(set(via) == set(keys), f"feedgate answered {sorted(via)}, asked {sorted(keys)}")
    check(set(direct) == set(keys), f"the simulator answered {sorted(direct)}")
    same = True
    for k in keys:
        d, v = direct[k], via[k]
        check(set(d) == set(v), f"{k}: fields differ: {sorted(set(d) ^ set(v))}")
        check(d["instrument_token"] == v["instrument_token"], f"{k}: token {v['instrument_token']}")
        for field in ["last_price", "volume", "ohlc"]:
            if field in d and d[field] != v[field]:
                same = False
        if "depth" in d:
            check(len(v["depth"]["buy"]) == 5 and len(v["depth"]["sell"]) == 5, f"{k}: depth not 5+5")
            check(set(v["depth"]["buy"][0]) == {"price", "quantity", "orders"}, f"{k}: depth level")
    return same


def agree(direct_fn, via_fn, keys, what):
    """Reads the simulator and feedgate back to back until one pair shows the same tick."""
    for _ in range(15):
        direct = direct_call(direct_fn, keys)
        via = via_fn(keys)
        if same_tick(direct, via, keys):
            return via
        time.sleep(1.1)
    raise Failure(f"{what}: feedgate's prices never matched the simulator's (last: {via} vs {direct})")


def test_reads(sim, gw, access_token):
    direct = KiteConnect(api_key=API_KEY, root=sim.base)
    direct.set_access_token(access_token)
    kite = KiteConnect(KEY_ID, root=gw.base)
    kite.set_access_token(KEY_SECRET)
    expired = []
    kite.set_session_expiry_hook(lambda: expired.append(True))

    step("quote, ltp, ohlc through feedgate agree with the simulator")
    first = kite.quote(SYMBOLS + ["NSE:NOPE"])
    check(set(first) == set(SYMBOLS), f"unknown instruments are left out: {sorted(first)}")
    check(hasattr(first["NSE:INFY"]["timestamp"], "year"), "timestamp not parsed as a datetime")
    quote = agree(direct.quote, kite.quote, SYMBOLS, "quote")
    ltp = agree(direct.ltp, kite.ltp, SYMBOLS, "ltp")
    agree(direct.ohlc, kite.ohlc, SYMBOLS, "ohlc")
    ok(f"INFY {quote['NSE:INFY']['last_price']}, NIFTY {ltp['NSE:NIFTY 50']['last_price']}: same fields and prices")

    step("instruments through feedgate")
    via = kite.instruments()
    theirs = {i["instrument_token"]: i for i in direct.instruments()}
    check(len(via) == len(theirs), f"{len(via)} instruments via feedgate, {len(theirs)} on the simulator")
    for i in via:
        t = theirs.get(i["instrument_token"])
        check(t is not None, f"{i['tradingsymbol']} is not in the simulator's dump")
        for field in ["exchange_token", "tradingsymbol", "name", "expiry", "strike", "tick_size", "lot_size",
                      "instrument_type", "segment", "exchange"]:
            check(i[field] == t[field], f"{i['tradingsymbol']}: {field} {i[field]!r} vs {t[field]!r}")
    nse = kite.instruments("NSE")
    check(nse and all(i["exchange"] == "NSE" for i in nse), "instruments('NSE') not filtered")
    ok(f"{len(via)} instruments, {len(nse)} on NSE, the simulator's fields")

    step("more than one request per second")
    started = time.monotonic()
    calls = 0
    while calls < 30:
        kite.ltp(["NSE:INFY", "NSE:SBIN"])
        kite.quote(["NSE:NIFTY 50"])
        calls += 2
    rate = calls / (time.monotonic() - started)
    check(rate > 2, f"only {rate:.1f} requests/s")
    ok(f"{calls} calls at {rate:.0f}/s, no 429")

    step("too many instruments")
    try:
        kite.quote([f"NSE:X{n}" for n in range(501)])
        raise Failure("501 instruments were accepted")
    except kite_errors.InputException as e:
        check(e.code == 400, f"InputException with code {e.code}")
        check("500" in str(e), f"message {e}")
    ok("InputException (400) above 500 instruments")

    step("a wrong key")
    check(not expired, "the hook fired early")
    wrong = KiteConnect(KEY_ID, root=gw.base)
    wrong.set_access_token("not-the-secret")
    wrong_expired = []
    wrong.set_session_expiry_hook(lambda: wrong_expired.append(True))
    try:
        wrong.ltp(["NSE:INFY"])
        raise Failure("a wrong key was accepted")
    except kite_errors.TokenException as e:
        check(e.code == 403, f"TokenException with code {e.code}")
    check(wrong_expired == [True], "the session-expiry hook did not fire")
    ok("TokenException (403), the session-expiry hook fired")


def main():
    binary = os.environ.get("FEEDGATE_BIN")
    if not binary:
        print("FAIL: set FEEDGATE_BIN to the feedgate binary (e.g. target/debug/feedgate)", file=sys.stderr)
        return 1
    sim = Simulator(binary)
    gw = None
    started = time.monotonic()
    try:
        sim.start()
        step("broker session through the simulator's login form")
        session = KiteConnect(api_key=API_KEY, root=sim.base).generate_session(
            login(sim)["request_token"], api_secret=API_SECRET
        )
        gw = Gateway(binary, sim, session["access_token"]).start()
        ok(f"simulator at {sim.base}, feedgate at {gw.base}")
        test_reads(sim, gw, session["access_token"])
    except Failure as e:
        print(f"\nFAIL: {e}", file=sys.stderr)
        if gw is not None:
            print(f"--- feedgate log ({gw.log.name}) ---\n{gw.log_tail()}", file=sys.stderr)
        print(f"--- simulator log ({sim.log.name}) ---\n{sim.log_tail()}", file=sys.stderr)
        return 1
    except Exception:  # noqa: BLE001 - any crash is a failed run, reported with its traceback
        traceback.print_exc()
        if gw is not None:
            print(f"--- feedgate log ({gw.log.name}) ---\n{gw.log_tail()}", file=sys.stderr)
        return 1
    finally:
        if gw is not None:
            gw.stop()
        sim.stop()
    print(f"\nPASS: the official kiteconnect client reads through feedgate ({time.monotonic() - started:.1f} s)")
    os.unlink(sim.log.name)
    if gw is not None:
        os.unlink(gw.log.name)
    return 0


if __name__ == "__main__":
    sys.stdout.flush()
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
