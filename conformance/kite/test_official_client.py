#!/usr/bin/env python3
"""Conformance: Zerodha's official Python client (kiteconnect 5.2.2) against `feedgate sim`.

Launches `$FEEDGATE_BIN sim --listen 127.0.0.1:0 --seed 7`, learns the port from its first
stdout line, and checks with the official client that:

* the login page + redirect + `KiteConnect.generate_session` work (checksum checked, request
  tokens single-use), and `profile`, `quote`, `ltp`, `ohlc`, `instruments` parse with sane data;
* the quote endpoints answer 429 (NetworkException) above 1 request/s;
* `historical_data(token, from, to, "minute")` parses today's minute candles (IST times, prices
  on the grid, from inclusive) and the endpoint answers 429 above 3 requests/s;
* `KiteTicker` receives ticks in ltp, quote and full modes with sane values (prices on the tick
  grid, low <= last <= high, 5+5 depth in full, index ticks not tradable, CDS/BCD divisors);
* after a `drop` fault the client reconnects, resubscribes (same modes) and ticks resume;
* after `POST /_sim/order` the client's `on_order_update` fires once with the order the call
  answered with (every field of Kite's mock postback, Kite's checksum);
* after `expire_token` the open socket keeps streaming, a new connection is refused with 403 and
  REST raises TokenException (and the session expiry hook fires).

Run with the project venv: `.venv/bin/python conformance/kite/test_official_client.py`.
Exits 0 when every check passes, 1 with a clear message otherwise. The simulator process is
always killed, also on failure.
"""

import datetime
import hashlib
import os
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from decimal import Decimal
from html.parser import HTMLParser
from urllib.parse import parse_qs, quote, urljoin, urlsplit

import requests
from kiteconnect import KiteConnect, KiteTicker
from kiteconnect import exceptions as kite_errors
from twisted.internet import reactor

API_KEY = "feedgate-sim"
API_SECRET = "feedgate-sim-secret"
USER_ID = "FG0001"
STARTUP_TIMEOUT = 60.0
TICK_TIMEOUT = 15.0

INFY, RELIANCE, SBIN = 408065, 738561, 779521
IST = datetime.timezone(datetime.timedelta(hours=5, minutes=30))
NIFTY, SENSEX = 256265, 265


class Failure(Exception):
    """A conformance check failed."""


def check(condition, message):
    if not condition:
        raise Failure(message)


def wait_until(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise Failure(f"timed out after {timeout:.0f} s waiting for {what}")


def step(title):
    print(f"--> {title}", flush=True)


def ok(message):
    print(f"    ok: {message}", flush=True)


# ---------------------------------------------------------------------------------------------
# The simulator process


class Simulator:
    def __init__(self, binary):
        self.binary = binary
        self.log = tempfile.NamedTemporaryFile(prefix="feedgate-sim-", suffix=".log", delete=False)
        self.proc = None
        self.base = None

    def start(self):
        cmd = [self.binary, "sim", "--listen", "127.0.0.1:0", "--seed", "7"]
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=self.log, text=True, bufsize=1
        )
        first = {}

        def read_first_line():
            first["line"] = self.proc.stdout.readline()
            # Keep draining so the simulator can never block on a full stdout pipe.
            for _ in self.proc.stdout:
                pass

        threading.Thread(target=read_first_line, daemon=True).start()
        # readline() also returns (with "") when the process exits, so this never hangs.
        wait_until(lambda: "line" in first, STARTUP_TIMEOUT, "the simulator's first stdout line")
        line = first.get("line", "").strip()
        prefix = "feedgate sim listening on "
        check(
            line.startswith(prefix),
            f"unexpected first line from {' '.join(cmd)!r}: {line!r} (exit code {self.proc.poll()})",
        )
        self.base = line[len(prefix):].rstrip("/")
        check(self.base.startswith("http://127.0.0.1:"), f"unexpected base url {self.base!r}")
        return self

    @property
    def ws_url(self):
        return "ws://" + self.base[len("http://"):]

    def fault(self, body):
        r = requests.post(f"{self.base}/_sim/fault", json=body, timeout=5)
        check(r.status_code == 200, f"fault {body} answered {r.status_code}: {r.text}")

    def order(self, body):
        r = requests.post(f"{self.base}/_sim/order", json=body, timeout=5)
        check(r.status_code == 200, f"order {body} answered {r.status_code}: {r.text}")
        return r.json()

    def state(self):
        r = requests.get(f"{self.base}/_sim/state", timeout=5)
        check(r.status_code == 200, f"/_sim/state answered {r.status_code}")
        return r.json()

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)

    def log_tail(self, lines=40):
        try:
            with open(self.log.name, encoding="utf-8", errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return ""


# ---------------------------------------------------------------------------------------------
# Login and REST


class FormParser(HTMLParser):
    """Collects the first form's action, method and input values."""

    def __init__(self):
        super().__init__()
        self.action = None
        self.method = None
        self.fields = {}
        self.has_label = False
        self.has_button = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form" and self.action is None:
            self.action = a.get("action", "")
            self.method = (a.get("method") or "get").lower()
        elif tag == "input" and a.get("name"):
            self.fields[a["name"]] = a.get("value") or ""
        elif tag == "label" and a.get("for") == "user_id":
            self.has_label = True
        elif tag == "button":
            self.has_button = True


def login(sim):
    """Follows the login page like a browser; returns the redirect's query parameters."""
    session = requests.Session()
    url = f"{sim.base}/connect/login?api_key={API_KEY}&v=3&redirect_params=" + quote(
        "state=xyz&n=1", safe=""
    )
    page = session.get(url, timeout=5)
    check(page.status_code == 200, f"login page answered {page.status_code}")
    form = FormParser()
    form.feed(page.text)
    check(form.method == "post", f"login form method is {form.method!r}")
    check(form.fields.get("user_id") == USER_ID, f"user id not pre-filled: {form.fields}")
    check(form.has_label and form.has_button, "login form lacks a labelled input or a button")
    answer = session.post(urljoin(url, form.action), data=form.fields, allow_redirects=False, timeout=5)
    check(answer.status_code == 302, f"login submission answered {answer.status_code}")
    location = answer.headers.get("Location", "")
    check(
        location.startswith("http://127.0.0.1:8080/api/auth/callback?"),
        f"redirected to {location!r}",
    )
    params = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    for key, want in [("action", "login"), ("type", "login"), ("status", "success"),
                      ("state", "xyz"), ("n", "1")]:
        check(params.get(key) == want, f"redirect parameter {key}={params.get(key)!r}, want {want!r}")
    check(params.get("request_token"), "redirect has no request_token")
    bad = session.get(f"{sim.base}/connect/login?api_key=nope&v=3", timeout=5)
    check(bad.status_code == 400 and "<html" in bad.text, "unknown api_key must give an HTML 400")
    return params


def on_grid(price, tick):
    return Decimal(str(price)) % Decimal(str(tick)) == 0


def test_session_and_rest(sim):
    step("login page, generate_session, profile")
    kite = KiteConnect(api_key=API_KEY, root=sim.base)
    request_token = login(sim)["request_token"]
    try:
        kite.generate_session(request_token, api_secret="wrong-secret")
        raise Failure("a wrong checksum was accepted")
    except kite_errors.TokenException as e:
        check(e.code == 403, f"bad checksum gave code {e.code}")
    session = kite.generate_session(request_token, api_secret=API_SECRET)
    for key in ["user_type", "email", "user_name", "user_shortname", "broker", "exchanges",
                "products", "order_types", "avatar_url", "user_id", "api_key", "access_token",
                "public_token", "enctoken", "refresh_token", "silo", "login_time", "meta"]:
        check(key in session, f"session response lacks {key}")
    check(session["user_id"] == USER_ID, f"session user_id {session['user_id']!r}")
    check(hasattr(session["login_time"], "year"), "login_time was not parsed as a datetime")
    try:
        kite.generate_session(request_token, api_secret=API_SECRET)
        raise Failure("a request token was accepted twice")
    except kite_errors.TokenException:
        pass
    ok("login redirect, checksum, single-use request token")
    profile = kite.profile()
    check(profile["user_id"] == USER_ID, f"profile user_id {profile['user_id']!r}")
    ok(f"profile of {profile['user_name']}")

    step("instruments")
    instruments = kite.instruments()
    by_token = {i["instrument_token"]: i for i in instruments}
    for token in [NIFTY, 260105, SENSEX, INFY, RELIANCE, SBIN]:
        check(token in by_token, f"instrument {token} missing from the dump")
    check(by_token[NIFTY]["segment"] == "INDICES", "NIFTY 50 is not in segment INDICES")
    segments = {i["segment"] for i in instruments}
    for seg in ["NSE", "INDICES", "NFO-FUT", "NFO-OPT", "CDS-FUT", "BCD-FUT"]:
        check(seg in segments, f"no instrument in segment {seg}")
    for i in instruments:
        check(i["tick_size"] > 0, f"{i['tradingsymbol']} has tick_size {i['tick_size']}")
        check(i["instrument_token"] >> 8 == int(i["exchange_token"]), f"token scheme of {i}")
    nse = kite.instruments("NSE")
    check(nse and all(i["exchange"] == "NSE" for i in nse), "instruments('NSE') not filtered")
    ok(f"{len(instruments)} instruments, {len(nse)} on NSE, segments {sorted(segments)}")

    step("quote, ltp, ohlc (one call per second) and the 429 rate limit")
    cds = next(i for i in instruments if i["segment"] == "CDS-FUT")
    bcd = next(i for i in instruments if i["segment"] == "BCD-FUT")
    keys = ["NSE:INFY", "NSE:NIFTY 50", "BSE:SENSEX", f"CDS:{cds['tradingsymbol']}",
            f"BCD:{bcd['tradingsymbol']}", "NSE:NOPE"]
    quotes = kite.quote(keys)
    check(set(quotes) == set(keys) - {"NSE:NOPE"}, f"quote keys {sorted(quotes)}")
    infy = quotes["NSE:INFY"]
    check(infy["instrument_token"] == INFY, "quote keyed by the wrong instrument")
    check(len(infy["depth"]["buy"]) == 5 and len(infy["depth"]["sell"]) == 5, "quote depth is not 5+5")
    check(infy["depth"]["buy"][0]["price"] < infy["depth"]["sell"][0]["price"], "quote book is crossed")
    for key, q in quotes.items():
        tick = by_token[q["instrument_token"]]["tick_size"]
        o = q["ohlc"]
        check(o["low"] <= q["last_price"] <= o["high"], f"{key}: {o} vs last {q['last_price']}")
        check(on_grid(q["last_price"], tick), f"{key}: last {q['last_price']} off the {tick} grid")
        check(hasattr(q["timestamp"], "year"), f"{key}: timestamp not parsed")
    for key in keys[3:5]:
        check(50 < quotes[key]["last_price"] < 150, f"{key} price {quotes[key]['last_price']}: divisor wrong?")
    try:
        kite.ltp(["NSE:INFY"])
        raise Failure("a second quote call within a second was not rate limited")
    except kite_errors.NetworkException as e:
        check(e.code == 429, f"rate limit answered code {e.code}")
    time.sleep(1.1)
    ltp = kite.ltp(["NSE:INFY", "NSE:NIFTY 50"])
    check(set(ltp["NSE:INFY"]) == {"instrument_token", "last_price"}, f"ltp shape {ltp['NSE:INFY']}")
    time.sleep(1.1)
    ohlc = kite.ohlc(["NSE:SBIN"])
    check(set(ohlc["NSE:SBIN"]["ohlc"]) == {"open", "high", "low", "close"}, "ohlc shape")
    state = sim.state()
    check(state["quote_rate_limited"] == 1, f"state counts {state['quote_rate_limited']} rate-limited calls")
    ok(f"INFY {infy['last_price']}, NIFTY {ltp['NSE:NIFTY 50']['last_price']}, one 429 counted")
    time.sleep(1.1)
    return kite, by_token


def test_historical(sim, kite, by_token):
    step("historical_data(token, from, to, 'minute') and its 3 requests/s limit")
    time.sleep(2.5)  # let INFY trade in the simulator for a couple of seconds
    now = datetime.datetime.now(IST)
    start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    fmt = "%Y-%m-%d %H:%M:%S"
    candles = kite.historical_data(INFY, start.strftime(fmt), now.strftime(fmt), "minute")
    check(candles, "no minute candles for INFY since the simulator started")
    tick = by_token[INFY]["tick_size"]
    dates = [c["date"] for c in candles]
    check(dates == sorted(set(dates)), f"candle times not strictly increasing: {dates}")
    for c in candles:
        check(c["date"].utcoffset() == datetime.timedelta(hours=5, minutes=30), f"not IST: {c}")
        check(c["date"].second == 0, f"not a minute start: {c['date']}")
        check(c["low"] <= min(c["open"], c["close"]) <= max(c["open"], c["close"]) <= c["high"], f"{c}")
        check(all(on_grid(c[k], tick) for k in ["open", "high", "low", "close"]), f"off the grid: {c}")
        check(isinstance(c["volume"], int) and c["volume"] >= 0, f"volume {c['volume']!r}")
    check(start <= dates[0] and dates[-1] <= now, f"candles outside the range: {dates[0]}..{dates[-1]}")
    later = kite.historical_data(INFY, dates[-1].strftime(fmt), now.strftime(fmt), "minute")
    check(len(later) == 1 and later[0]["date"] == dates[-1], f"from is not inclusive: {later}")
    refused = 0
    for _ in range(3):
        try:
            kite.historical_data(INFY, start.strftime(fmt), now.strftime(fmt), "minute")
        except kite_errors.NetworkException as e:
            check(e.code == 429, f"rate limit answered code {e.code}")
            refused += 1
    check(refused >= 1, "five historical calls within a second were not rate limited")
    ok(f"{len(candles)} INFY minute candles, last {candles[-1]}, {refused} call(s) refused with 429")
    time.sleep(1.1)


# ---------------------------------------------------------------------------------------------
# Ticker


class TickerProbe:
    """Wraps a KiteTicker and records what its callbacks see (thread-safe)."""

    def __init__(self, sim, access_token, subscribe=None):
        self.lock = threading.Lock()
        self.ticks = []  # (connection number, tick)
        self.connects = 0
        self.closes = []
        self.errors = []
        self.subscribe = subscribe or {}
        self.orders = []
        self.kt = KiteTicker(API_KEY, access_token, root=sim.ws_url, reconnect_max_delay=5)
        self.kt.on_connect = self.on_connect
        self.kt.on_ticks = self.on_ticks
        self.kt.on_order_update = self.on_order_update
        self.kt.on_close = self.on_close
        self.kt.on_error = self.on_error

    def on_connect(self, ws, response):
        with self.lock:
            self.connects += 1
            first = self.connects == 1
        # Subscribe once: on reconnects the client's own resubscribe() must restore everything.
        if first and self.subscribe:
            tokens = sorted({t for group in self.subscribe.values() for t in group})
            ws.subscribe(tokens)
            for mode, group in self.subscribe.items():
                if mode != "quote":
                    ws.set_mode(mode, group)

    def on_ticks(self, ws, ticks):
        with self.lock:
            self.ticks.extend((self.connects, t) for t in ticks)

    def on_order_update(self, ws, data):
        with self.lock:
            self.orders.append(data)

    def order_updates(self):
        with self.lock:
            return list(self.orders)

    def on_close(self, ws, code, reason):
        with self.lock:
            self.closes.append((code, str(reason)))

    def on_error(self, ws, code, reason):
        with self.lock:
            self.errors.append((code, str(reason)))

    def snapshot(self):
        with self.lock:
            return list(self.ticks), self.connects, list(self.closes), list(self.errors)

    def has_tick(self, token, mode, connection=None):
        ticks, _, _, _ = self.snapshot()
        return any(t["instrument_token"] == token and t["mode"] == mode
                   and (connection is None or c == connection) for c, t in ticks)


def check_tick(t, by_token):
    token = t["instrument_token"]
    inst = by_token.get(token)
    check(inst is not None, f"tick for unknown token {token}")
    name = inst["tradingsymbol"]
    index = (token & 0xFF) == 9
    check(t["tradable"] == (not index), f"{name}: tradable={t['tradable']}")
    check(on_grid(t["last_price"], inst["tick_size"]), f"{name}: last {t['last_price']} off grid")
    if inst["segment"] in ("CDS-FUT", "BCD-FUT"):
        check(50 < t["last_price"] < 150, f"{name}: price {t['last_price']}: divisor wrong?")
    if t["mode"] == "ltp":
        return
    o = t["ohlc"]
    check(o["low"] <= t["last_price"] <= o["high"], f"{name}: ohlc {o} vs last {t['last_price']}")
    for k in ("open", "high", "low", "close"):
        check(on_grid(o[k], inst["tick_size"]), f"{name}: {k} {o[k]} off grid")
    if index:
        if t["mode"] == "full":
            check("exchange_timestamp" in t, f"{name}: index full tick lacks exchange_timestamp")
        return
    check(t["volume_traded"] > 0 and t["last_traded_quantity"] > 0, f"{name}: no volume")
    if t["mode"] == "full":
        buy, sell = t["depth"]["buy"], t["depth"]["sell"]
        check(len(buy) == 5 and len(sell) == 5, f"{name}: depth {len(buy)}+{len(sell)}")
        check(buy[0]["price"] < sell[0]["price"], f"{name}: crossed book")
        for level in buy + sell:
            check(level["quantity"] > 0 and level["orders"] > 0, f"{name}: empty level {level}")
            check(on_grid(level["price"], inst["tick_size"]), f"{name}: depth price off grid")
        check(t["exchange_timestamp"] is not None and t["last_trade_time"] is not None,
              f"{name}: missing timestamps")


def test_ticker(sim, kite, by_token):
    cds = next(t for t, i in by_token.items() if i["segment"] == "CDS-FUT")
    bcd = next(t for t, i in by_token.items() if i["segment"] == "BCD-FUT")
    plan = {"full": [INFY, NIFTY, cds], "ltp": [SBIN], "quote": [RELIANCE, SENSEX, bcd]}
    expected = [(tok, mode) for mode, group in plan.items() for tok in group]

    step("KiteTicker in ltp, quote and full modes")
    probe = TickerProbe(sim, kite.access_token, subscribe=plan)
    probe.kt.connect(threaded=True)
    for token, mode in expected:
        wait_until(lambda: probe.has_tick(token, mode), TICK_TIMEOUT,
                   f"a {mode} tick for {by_token[token]['tradingsymbol']}")
    # Let a few updates arrive after the snapshots.
    time.sleep(2.5)
    ticks, _, _, _ = probe.snapshot()
    last_volume = {}
    for _, t in ticks:
        check_tick(t, by_token)
        if t["mode"] in ("quote", "full") and t["tradable"]:
            token = t["instrument_token"]
            check(t["volume_traded"] >= last_volume.get(token, 0),
                  f"{by_token[token]['tradingsymbol']}: volume went backwards")
            last_volume[token] = t["volume_traded"]
    counts = {}
    for _, t in ticks:
        counts[t["instrument_token"]] = counts.get(t["instrument_token"], 0) + 1
    check(counts.get(INFY, 0) >= 2, f"INFY got {counts.get(INFY, 0)} ticks in ~3 s: no updates after the snapshot")
    ok(f"{len(ticks)} ticks, all sane; per token: "
       + ", ".join(f"{by_token[t]['exchange']}:{by_token[t]['tradingsymbol']}={n}"
                   for t, n in sorted(counts.items())))

    step("drop fault: the client reconnects, resubscribes and ticks resume")
    sim.fault({"kind": "drop"})
    wait_until(lambda: probe.snapshot()[1] >= 2, TICK_TIMEOUT, "the client to reconnect")
    _, _, closes, _ = probe.snapshot()
    check(closes and closes[0][0] == 1006, f"close after drop was {closes[:1]}, want 1006")
    for token, mode in expected:
        wait_until(lambda: probe.has_tick(token, mode, connection=2), TICK_TIMEOUT,
                   f"a {mode} tick for {by_token[token]['tradingsymbol']} after the reconnect")
    state = sim.state()
    check(len(state["connections"]) == 1, f"{len(state['connections'])} connections after reconnect")
    modes = {s["token"]: s["mode"] for s in state["connections"][0]["subscriptions"]}
    want = {tok: mode for tok, mode in expected}
    check(modes == want, f"resubscribed modes {modes}, want {want}")
    ok(f"closed with {closes[0][0]}, reconnected, resubscribed {len(modes)} tokens with their modes")

    test_order_update(sim, probe)

    step("expire_token: open socket keeps streaming; new connection 403; REST TokenException")
    expired_hook = threading.Event()
    kite.set_session_expiry_hook(expired_hook.set)
    sim.fault({"kind": "expire_token"})
    before = len(probe.snapshot()[0])
    wait_until(lambda: len(probe.snapshot()[0]) > before + 3, TICK_TIMEOUT,
               "ticks on the already-open connection after expire_token")
    second = TickerProbe(sim, kite.access_token)
    reactor.callFromThread(second.kt.connect)
    wait_until(lambda: second.snapshot()[3], TICK_TIMEOUT, "the refused connection's error")
    reactor.callFromThread(second.kt.stop_retry)
    _, connects, _, errors = second.snapshot()
    check(connects == 0, "a connection with an expired token was accepted")
    check(any("403" in reason for _, reason in errors), f"refusal was {errors}, want a 403")
    try:
        kite.profile()
        raise Failure("profile worked with an expired token")
    except kite_errors.TokenException as e:
        check(e.code == 403, f"TokenException with code {e.code}")
    check(expired_hook.is_set(), "the session expiry hook was not called")
    state = sim.state()
    check(state["upgrades"]["refused"]["bad_token"] >= 1, f"refusals not counted: {state['upgrades']}")
    ok(f"refused with {errors[0][1]!r}; REST TokenException; expiry hook fired")
    reactor.callFromThread(probe.kt.stop_retry)
    reactor.callFromThread(probe.kt.close)


# Every field of Zerodha's mock postback.json (kiteconnect-mocks), which an order update carries.
POSTBACK_FIELDS = {
    "user_id", "unfilled_quantity", "app_id", "checksum", "placed_by", "order_id",
    "exchange_order_id", "parent_order_id", "status", "status_message", "status_message_raw",
    "order_timestamp", "exchange_update_timestamp", "exchange_timestamp", "variety", "exchange",
    "tradingsymbol", "instrument_token", "order_type", "transaction_type", "validity", "product",
    "quantity", "disclosed_quantity", "price", "trigger_price", "average_price",
    "filled_quantity", "pending_quantity", "cancelled_quantity", "market_protection", "meta",
    "tag", "guid",
}


def test_order_update(sim, probe):
    step("POST /_sim/order: on_order_update fires with the postback")
    before = len(probe.order_updates())
    answer = sim.order({"tradingsymbol": "INFY", "status": "COMPLETE", "quantity": 5})
    check(answer["sent_to"] == 1, f"sent_to {answer['sent_to']}, want 1 (one open socket)")
    wait_until(lambda: len(probe.order_updates()) > before, TICK_TIMEOUT, "on_order_update")
    time.sleep(0.5)
    updates = probe.order_updates()[before:]
    check(len(updates) == 1, f"on_order_update fired {len(updates)} times for one postback")
    data = updates[0]
    check(data == answer["order"], f"on_order_update got {data}, the simulator sent {answer['order']}")
    check(set(data) == POSTBACK_FIELDS,
          f"fields differ from Kite's postback: extra {set(data) - POSTBACK_FIELDS}, "
          f"missing {POSTBACK_FIELDS - set(data)}")
    check((data["tradingsymbol"], data["instrument_token"], data["quantity"], data["filled_quantity"],
           data["pending_quantity"], data["user_id"]) == ("INFY", INFY, 5, 5, 0, USER_ID),
          f"order fields: {data}")
    check(data["average_price"] > 0, f"a filled order with average_price {data['average_price']}")
    want = hashlib.sha256(
        (data["order_id"] + data["order_timestamp"] + API_SECRET).encode()).hexdigest()
    check(data["checksum"] == want, f"checksum {data['checksum']}, want sha256(order_id+order_timestamp+secret)")
    ok(f"order {data['order_id']} {data['status']} {data['tradingsymbol']} x{data['quantity']} "
       f"@ {data['average_price']}, checksum verified")


def main():
    binary = os.environ.get("FEEDGATE_BIN")
    if not binary:
        print("FAIL: set FEEDGATE_BIN to the feedgate binary (e.g. target/debug/feedgate)", file=sys.stderr)
        return 1
    sim = Simulator(binary)
    started = time.monotonic()
    try:
        sim.start()
        print(f"simulator at {sim.base}", flush=True)
        kite, by_token = test_session_and_rest(sim)
        test_historical(sim, kite, by_token)
        test_ticker(sim, kite, by_token)
    except Failure as e:
        print(f"\nFAIL: {e}", file=sys.stderr)
        print(f"--- simulator log (last lines of {sim.log.name}) ---\n{sim.log_tail()}", file=sys.stderr)
        return 1
    except Exception:  # noqa: BLE001 - any crash is a failed run, reported with its traceback
        traceback.print_exc()
        print(f"\nFAIL: unexpected error (simulator log: {sim.log.name})", file=sys.stderr)
        print(sim.log_tail(), file=sys.stderr)
        return 1
    finally:
        sim.stop()
    print(f"\nPASS: official kiteconnect client conforms ({time.monotonic() - started:.1f} s)")
    os.unlink(sim.log.name)
    return 0


if __name__ == "__main__":
    # The Twisted reactor thread is a daemon; os._exit avoids waiting on it at interpreter exit.
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
