#!/usr/bin/env python3
"""Conformance: Fyers' official Python client (fyers-apiv3 3.2.0) against `feedgate sim`.

Launches `$FEEDGATE_BIN sim --listen 127.0.0.1:0 --seed 7`, learns the port from its first stdout
line, points the official client at it with the monkeypatches of protocols/fyers.md §1.2, and
checks that:

* REST: `SessionModel.generate_authcode` gives the simulator's login page; submitting it
  redirects with `auth_code` and `state`; `generate_token` (appIdHash) returns an access token;
  auth codes are single-use and a wrong secret is refused (-371); `FyersModel.get_profile` and
  `quotes` parse with sane values that agree with the Kite side of the same simulator; a bad
  token gets -16 and a burst of quotes calls gets 429;
* data socket, full mode: login, subscribe scrips, indices and depth; a snapshot then updates for
  each; the values the client reports equal what the simulator says it sent (compared during a
  `stall`, via `GET /_sim/state`); acks and pings reach the simulator; unsubscribe; close;
* lite mode: `{ltp, symbol, type}` messages whose prices match the simulator's;
* `drop`: the official client reconnects and re-authenticates on its own, but does NOT
  resubscribe: the new connection carries no subscriptions and no data until the application
  subscribes again (the SDK calls `on_connect` after every reconnect, which is where its sample
  code subscribes);
* auth refused (unknown hsm_key) reaches `on_error` as code 11001; an expired token is refused by
  the client itself (-99) without opening a socket.

The official data socket is a process-wide singleton, so every socket scenario runs in its own
process (this script re-invoked with `--scenario NAME BASE_URL`).

Run with the project venv: `.venv/bin/python conformance/fyers/test_official_client.py`.
Exits 0 when every check passes, 1 with a clear message otherwise. Waits are bounded; the
simulator process and the scenario processes are always killed, also on failure.
"""

import datetime
import base64
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlsplit

import requests
from fyers_apiv3 import fyersModel
from fyers_apiv3.FyersWebsocket import data_ws

APP_ID = "FEEDGATESIM-100"
SECRET = "feedgate-sim-fyers-secret"
REDIRECT = "http://127.0.0.1:8080/api/auth/callback"
USER_ID = "FG0001"
STARTUP_TIMEOUT = 60.0
DATA_TIMEOUT = 30.0
SCENARIO_TIMEOUT = 120.0
SCENARIOS = ["full", "lite", "drop", "refused", "expired"]

# Field order of the simulator's raw values (map.json's data_val / index_val / depthvalue) and
# which fields the official client scales by 10^precision × multiplier (data_ws.py).
SCRIP_FIELDS = ["ltp", "vol_traded_today", "last_traded_time", "exch_feed_time", "bid_size",
                "ask_size", "bid_price", "ask_price", "last_traded_qty", "tot_buy_qty",
                "tot_sell_qty", "avg_trade_price", "OI", "low_price", "high_price", "Yhigh", "Ylow",
                "lower_ckt", "upper_ckt", "open_price", "prev_close_price"]
SCRIP_SCALED = {"ltp", "bid_price", "ask_price", "avg_trade_price", "low_price", "high_price",
                "open_price", "prev_close_price"}
SCRIP_DROPPED = {"OI", "Yhigh", "Ylow", "lower_ckt", "upper_ckt"}
INDEX_FIELDS = ["ltp", "prev_close_price", "exch_feed_time", "high_price", "low_price",
                "open_price"]
DEPTH_FIELDS = ([f"bid_price{i}" for i in range(1, 6)] + [f"ask_price{i}" for i in range(1, 6)]
                + [f"bid_size{i}" for i in range(1, 6)] + [f"ask_size{i}" for i in range(1, 6)]
                + [f"bid_order{i}" for i in range(1, 6)] + [f"ask_order{i}" for i in range(1, 6)])


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


def on_grid(price, tick):
    units = round(price / tick)
    return abs(units * tick - price) < 1e-6


# ---------------------------------------------------------------------------------------------
# The simulator process and its control API


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


class Control:
    """The simulator's `/_sim` API (usable from the scenario processes too)."""

    def __init__(self, base):
        self.base = base

    def fault(self, body):
        r = requests.post(f"{self.base}/_sim/fault", json=body, timeout=5)
        check(r.status_code == 200, f"fault {body} answered {r.status_code}: {r.text}")

    def state(self):
        r = requests.get(f"{self.base}/_sim/state", timeout=5)
        check(r.status_code == 200, f"/_sim/state answered {r.status_code}")
        return r.json()

    def fyers_token(self, expires_in=None):
        url = f"{self.base}/_sim/token?broker=fyers"
        if expires_in is not None:
            url += f"&expires_in={expires_in}"
        r = requests.post(url, timeout=5)
        check(r.status_code == 200, f"/_sim/token?broker=fyers answered {r.status_code}")
        return r.json()["access_token"]

    def kite_token(self):
        r = requests.post(f"{self.base}/_sim/token", timeout=5)
        check(r.status_code == 200, f"/_sim/token answered {r.status_code}")
        return r.json()["access_token"]


def patch_official_client(base):
    """protocols/fyers.md §1.2: point REST, symbol-token and the index mapping at the simulator
    (the socket URL is set per instance, see `open_socket`)."""
    fyersModel.Config.API = f"{base}/api/v3"
    fyersModel.Config.DATA_API = f"{base}/data"
    data_ws.defines.INDEX_HSM_MAPPING_API = f"{base}/sym_details/index_hsm_mapping.json"
    data_ws.SymbolConversion._index_hsm_mapping_cache = None
    original_init = data_ws.SymbolConversion.__init__

    def init(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        self.symbols_token_api = f"{base}/data/symbol-token"

    data_ws.SymbolConversion.__init__ = init


# ---------------------------------------------------------------------------------------------
# REST with the official client (parent process)


class FormParser(HTMLParser):
    """Collects the first form's action, method and input values."""

    def __init__(self):
        super().__init__()
        self.action = None
        self.method = None
        self.fields = {}
        self.in_form = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form" and self.action is None:
            self.action, self.method, self.in_form = attrs.get("action"), attrs.get("method"), True
        elif tag == "input" and self.in_form and "name" in attrs:
            self.fields[attrs["name"]] = attrs.get("value", "")

    def handle_endtag(self, tag):
        if tag == "form":
            self.in_form = False


def log_in(sim, state):
    """SessionModel's login URL → the simulator's page → submit → the redirect's query."""
    session = fyersModel.SessionModel(
        client_id=APP_ID, redirect_uri=REDIRECT, response_type="code", state=state,
        secret_key=SECRET, grant_type="authorization_code",
    )
    url = session.generate_authcode()
    check(url.startswith(f"{sim.base}/api/v3/generate-authcode?"), f"login url {url}")
    page = requests.get(url, timeout=5)
    check(page.status_code == 200, f"login page answered {page.status_code}: {page.text[:200]}")
    form = FormParser()
    form.feed(page.text)
    check(form.action and (form.method or "").lower() == "post", f"no login form in {page.text[:300]}")
    check(form.fields.get("fy_id") == USER_ID, f"user id not pre-filled: {form.fields}")
    response = requests.post(sim.base + form.action, data=form.fields, allow_redirects=False, timeout=5)
    check(response.status_code == 302, f"login submit answered {response.status_code}")
    location = response.headers["Location"]
    check(location.startswith(REDIRECT), f"redirected to {location}, want {REDIRECT}")
    query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    return session, query


def test_rest(sim, control, logs):
    step("REST: login page -> auth_code -> generate_token (appIdHash)")
    session, query = log_in(sim, "conformance-state")
    check(query.get("state") == "conformance-state", f"state not echoed: {query}")
    check(query.get("s") == "ok" and query.get("auth_code"), f"redirect query {query}")
    session.set_token(query["auth_code"])
    tokens = session.generate_token()
    check(tokens.get("s") == "ok" and tokens.get("access_token"), f"generate_token: {tokens}")
    check(tokens.get("refresh_token"), f"no refresh token: {tokens}")
    access_token = tokens["access_token"]
    again = session.generate_token()
    check(again.get("s") == "error", f"an auth code worked twice: {again}")
    wrong, query = log_in(sim, "second")
    wrong.secret_key = "not-the-secret"
    wrong.set_token(query["auth_code"])
    refused = wrong.generate_token()
    check(refused.get("s") == "error" and refused.get("code") == -371, f"wrong secret: {refused}")
    ok(f"token issued; reused code -> {again.get('code')}, wrong secret -> {refused.get('code')}")

    step("REST: FyersModel profile and quotes")
    fyers = fyersModel.FyersModel(client_id=APP_ID, token=access_token, log_path=logs)
    profile = fyers.get_profile()
    check(profile.get("s") == "ok" and profile["data"]["fy_id"] == USER_ID, f"profile: {profile}")
    quotes = fyers.quotes({"symbols": "NSE:SBIN-EQ,NSE:NIFTY50-INDEX,BSE:SENSEX-INDEX"})
    check(quotes.get("s") == "ok" and len(quotes.get("d", [])) == 3, f"quotes: {quotes}")
    for entry in quotes["d"]:
        v = entry["v"]
        check(entry["s"] == "ok" and v["symbol"] == entry["n"], f"entry {entry}")
        check(v["low_price"] <= v["lp"] <= v["high_price"], f"{entry['n']}: lp outside the day range {v}")
        check(isinstance(v["tt"], str) and int(v["tt"]) > 1_600_000_000, f"tt {v['tt']!r}")
        check(on_grid(v["lp"], 0.05), f"{entry['n']}: lp {v['lp']} off the tick grid")
    sbin = quotes["d"][0]["v"]
    check(sbin["bid"] < sbin["ask"] and sbin["volume"] > 0, f"SBIN quote {sbin}")
    ok(f"profile {profile['data']['fy_id']}; SBIN lp {sbin['lp']} vol {sbin['volume']}")

    step("REST: Fyers quotes agree with Kite quotes of the same simulator")
    kite_token = control.kite_token()
    matched = 0
    for _ in range(6):
        kite = requests.get(
            f"{sim.base}/quote", params={"i": "NSE:SBIN"}, timeout=5,
            headers={"Authorization": f"token feedgate-sim:{kite_token}", "X-Kite-Version": "3"},
        ).json()["data"]["NSE:SBIN"]
        fy = fyers.quotes({"symbols": "NSE:SBIN-EQ"})["d"][0]["v"]
        if kite["volume"] == fy["volume"]:
            matched += 1
            for k_key, f_key in [("last_price", "lp"), ("average_price", "atp")]:
                check(kite[k_key] == fy[f_key], f"{k_key} {kite[k_key]} vs {f_key} {fy[f_key]}")
            for k_key, f_key in [("open", "open_price"), ("high", "high_price"),
                                 ("low", "low_price"), ("close", "prev_close_price")]:
                check(kite["ohlc"][k_key] == fy[f_key], f"ohlc.{k_key} {kite['ohlc'][k_key]} vs {fy[f_key]}")
        time.sleep(1.05)  # Kite's quote limit is 1/s
    check(matched >= 2, f"only {matched} of 6 samples caught the same update")
    ok(f"{matched} of 6 samples at the same update, identical prices")

    step("REST: FyersModel.history (resolution 1) equals Kite's historical minutes")
    now = int(time.time())
    day_start = now - (now + 19_800) % 86_400
    hist = fyers.history({"symbol": "NSE:SBIN-EQ", "resolution": "1", "date_format": "0",
                          "range_from": str(day_start), "range_to": str(now), "cont_flag": "1"})
    check(hist.get("s") == "ok" and hist.get("candles"), f"history: {hist}")
    times = [c[0] for c in hist["candles"]]
    check(times == sorted(set(times)) and all(t % 60 == 0 for t in times), f"candle times {times}")
    for t, o, h, l, c, v in hist["candles"]:
        check(l <= min(o, c) <= max(o, c) <= h and v >= 0, f"candle {[t, o, h, l, c, v]}")
        check(all(on_grid(p, 0.05) for p in (o, h, l, c)), f"off the grid: {[o, h, l, c]}")
    kite = requests.get(
        f"{sim.base}/instruments/historical/779521/minute", timeout=5,
        params={"from": time.strftime("%Y-%m-%d 00:00:00", time.gmtime(day_start + 19_800)),
                "to": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(now + 19_800))},
        headers={"Authorization": f"token feedgate-sim:{kite_token}", "X-Kite-Version": "3"},
    ).json()["data"]["candles"]
    closed = [c for c in hist["candles"] if c[0] + 60 <= now]
    kite_closed = [[int(datetime.datetime.fromisoformat(k[0]).timestamp())] + k[1:]
                   for k in kite if int(datetime.datetime.fromisoformat(k[0]).timestamp()) + 60 <= now]
    check(closed == kite_closed, f"fyers {closed} vs kite {kite_closed}")
    bad_res = fyers.history({"symbol": "NSE:SBIN-EQ", "resolution": "D", "date_format": "0",
                             "range_from": str(day_start), "range_to": str(now), "cont_flag": "1"})
    check(bad_res.get("s") == "error", f"an unserved resolution was accepted: {bad_res}")
    ok(f"{len(hist['candles'])} SBIN minute(s), last {hist['candles'][-1]}")
    time.sleep(1.1)

    step("REST: errors (bad token -16, rate limit 429)")
    bad = fyersModel.FyersModel(client_id=APP_ID, token="not-a-token", log_path=logs).get_profile()
    check(bad.get("s") == "error" and bad.get("code") == -16, f"bad token: {bad}")
    codes = [fyers.quotes({"symbols": "NSE:SBIN-EQ"}).get("code") for _ in range(12)]
    check(429 in codes, f"12 quotes calls in a burst were never limited: {codes}")
    ok(f"bad token -> {bad['message']!r}; burst -> {codes.count(429)} x 429")
    return APP_ID + ":" + access_token


# ---------------------------------------------------------------------------------------------
# Data-socket scenarios (each in its own process)


class Recorder:
    """Everything the official client reports, thread-safe."""

    def __init__(self):
        self.lock = threading.Lock()
        self.messages = []  # (monotonic time, dict)
        self.errors = []
        self.closes = []
        self.connects = 0

    def on_message(self, message):
        with self.lock:
            self.messages.append((time.monotonic(), message))

    def on_error(self, message):
        with self.lock:
            self.errors.append(message)

    def on_close(self, message):
        with self.lock:
            self.closes.append(message)

    def on_connect(self):
        with self.lock:
            self.connects += 1

    def data(self, since=0.0):
        with self.lock:
            return [m for t, m in self.messages if t >= since and "symbol" in m]

    def control(self, kind):
        with self.lock:
            return [m for _, m in self.messages if m.get("type") == kind and "symbol" not in m]

    def latest(self):
        out = {}
        for m in self.data():
            out[(m["type"], m["symbol"])] = m
        return out

    def count(self, kind, symbol):
        return sum(1 for m in self.data() if m["type"] == kind and m["symbol"] == symbol)


def open_socket(base, token, recorder, logs, litemode=False, reconnect=False):
    sock = data_ws.FyersDataSocket(
        access_token=token, write_to_file=False, log_path=logs, litemode=litemode,
        reconnect=reconnect, reconnect_retry=5, on_message=recorder.on_message,
        on_error=recorder.on_error, on_connect=recorder.on_connect, on_close=recorder.on_close,
    )
    # §1.2 patch 1: the socket URL is a name-mangled private attribute.
    sock._FyersDataSocket__url = "ws://" + base[len("http://"):] + "/hsm/v1-5/prod"
    sock.connect()
    return sock


def wait_quiet(recorder, quiet=1.0, timeout=10.0):
    """Waits until no market data arrived for `quiet` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with recorder.lock:
            last = max((t for t, m in recorder.messages if "symbol" in m), default=0.0)
        if time.monotonic() - last >= quiet:
            return
        time.sleep(0.05)
    raise Failure(f"data kept flowing for {timeout:.0f} s during a stall")


def expected_view(sub):
    """What the official client should report for a subscription of /_sim/state."""
    divisor = 10 ** sub["precision"]  # multiplier is 1
    raw = sub["values"]
    kind = sub["topic"][:2]
    fields, scaled = {
        "sf": (SCRIP_FIELDS, SCRIP_SCALED),
        "if": (INDEX_FIELDS, {"ltp", "prev_close_price", "high_price", "low_price", "open_price"}),
        "dp": (DEPTH_FIELDS, set(DEPTH_FIELDS[:10])),
    }[kind]
    view = {}
    for name, value in zip(fields, raw):
        if value is None or (kind == "sf" and name in SCRIP_DROPPED):
            continue
        view[name] = value / (divisor * 1) if name in scaled else value
    return kind, view


def our_connection(state):
    conns = [c for c in state["fyers"]["connections"] if c["authenticated"]]
    check(len(conns) == 1, f"expected one authenticated data socket, state has {state['fyers']['connections']}")
    return conns[0]


def compare_with_simulator(control, recorder, lite=False):
    """During a stall, the client's latest view of every topic equals what the simulator sent."""
    control.fault({"kind": "stall", "seconds": 60})
    try:
        wait_quiet(recorder)
        conn = our_connection(control.state())
        latest = recorder.latest()
        compared = 0
        for sub in conn["subscriptions"]:
            kind, view = expected_view(sub)
            got = latest.get((kind, sub["symbol"]))
            if lite:
                if kind == "dp":
                    continue
                check(got is not None, f"no lite message for {sub['symbol']}")
                check(got["ltp"] == view["ltp"], f"{sub['symbol']}: client ltp {got['ltp']}, simulator sent {view['ltp']}")
                compared += 1
                continue
            check(got is not None, f"no message for {kind} {sub['symbol']}")
            for name, value in view.items():
                check(got.get(name) == value,
                      f"{kind} {sub['symbol']} {name}: client reports {got.get(name)!r}, simulator sent {value!r}")
            compared += 1
        return conn, compared
    finally:
        control.fault({"kind": "clear"})


def scenario_full(base, control, logs):
    token = os.environ.get("FEEDGATE_FYERS_TOKEN") or control.fyers_token()
    rec = Recorder()
    sock = open_socket(base, token, rec, logs)
    wait_until(lambda: rec.control("cn") or rec.errors, 10, "the auth reply")
    check(rec.control("cn") and rec.control("cn")[0]["code"] == 200, f"auth: {rec.control('cn')} {rec.errors}")
    wait_until(lambda: rec.control("ful"), 10, "the full-mode reply")
    ok(f"{rec.control('cn')[0]['message']}; {rec.control('ful')[0]['message']}")

    quotes = ["NSE:SBIN-EQ", "NSE:INFY-EQ", "NSE:NIFTY50-INDEX", "BSE:SENSEX-INDEX"]
    sock.subscribe(symbols=quotes, data_type="SymbolUpdate")
    sock.subscribe(symbols=["NSE:SBIN-EQ"], data_type="DepthUpdate")
    wait_until(lambda: len(rec.control("sub")) >= 2, 10, "two subscribe replies")
    check(all(m["code"] == 200 for m in rec.control("sub")), f"subscribe replies {rec.control('sub')}")
    keys = [("sf", "NSE:SBIN-EQ"), ("sf", "NSE:INFY-EQ"), ("if", "NSE:NIFTY50-INDEX"),
            ("if", "BSE:SENSEX-INDEX"), ("dp", "NSE:SBIN-EQ")]
    wait_until(lambda: all(rec.count(k, s) >= 3 for k, s in keys), DATA_TIMEOUT,
               "a snapshot and two updates for every topic")
    data = rec.data()
    check(not rec.errors, f"errors reported: {rec.errors}")
    # Snapshots first: the first message of each topic carries the whole record.
    for kind, symbol in keys:
        first = next(m for m in data if (m["type"], m["symbol"]) == (kind, symbol))
        want = {"sf": {"ltp", "vol_traded_today", "bid_price", "ask_price", "open_price",
                       "prev_close_price", "ch", "chp"},
                "if": {"ltp", "prev_close_price", "high_price", "low_price", "open_price", "ch", "chp"},
                "dp": set(DEPTH_FIELDS)}[kind]
        check(want <= set(first), f"first {kind} message for {symbol} lacks {want - set(first)}")
    volumes = [m["vol_traded_today"] for m in data if (m["type"], m["symbol"]) == ("sf", "NSE:SBIN-EQ")]
    check(volumes == sorted(volumes) and len(set(volumes)) >= 2, f"SBIN volume not increasing: {volumes}")
    for m in data:
        if m["type"] == "sf":
            check(m["low_price"] <= m["ltp"] <= m["high_price"], f"ltp outside the day range {m}")
            check(m["bid_price"] < m["ask_price"], f"crossed quote {m}")
            check(on_grid(m["ltp"], 0.05), f"ltp off the grid {m}")
        elif m["type"] == "dp":
            check(m["bid_price1"] < m["ask_price1"], f"crossed book {m}")
    ok(f"{len(data)} market messages: snapshots then updates for sf, if and dp topics")

    conn, compared = compare_with_simulator(control, rec)
    ok(f"client values equal the simulator's for {compared} topics (compared during a stall)")
    wait_until(lambda: our_connection(control.state())["acks_received"] > 0, 20,
               "an ack from the client (ack_count 10)")
    conn = our_connection(control.state())
    check(conn["pings_received"] >= 1, f"no ping reached the simulator: {conn}")
    ok(f"acks: {conn['acks_received']} (last {conn['last_ack']}); pings: {conn['pings_received']}")

    # (The SDK only unsubscribes topics of its latest subscribe call on the channel, so the
    # depth topic is unsubscribed before anything else is subscribed.)
    sock.unsubscribe(symbols=["NSE:SBIN-EQ"], data_type="DepthUpdate")
    wait_until(lambda: rec.control("unsub") or rec.errors, 10, "the unsubscribe reply")
    check(rec.control("unsub") and not rec.errors, f"unsubscribe: {rec.control('unsub')} {rec.errors}")
    topics = [s["topic"] for s in our_connection(control.state())["subscriptions"]]
    check("dp|nse_cm|3045" not in topics and "sf|nse_cm|3045" in topics, f"after unsubscribe: {topics}")
    sock.subscribe(symbols=["NSE:NOPE-EQ"], data_type="SymbolUpdate")
    wait_until(lambda: rec.errors, 10, "the invalid-symbol error")
    check(rec.errors[-1].get("invalid_symbols") == ["NSE:NOPE-EQ"], f"invalid symbol: {rec.errors[-1]}")
    ok(f"unsubscribe -> {rec.control('unsub')[0]['message']!r}; invalid symbol reported by the client")
    sock.close_connection()
    wait_until(lambda: rec.closes, 10, "on_close")
    check(rec.closes[0].get("message") == "Connection Closed", f"on_close {rec.closes}")
    ok("close_connection -> on_close 'Connection Closed'")


def scenario_lite(base, control, logs):
    rec = Recorder()
    sock = open_socket(base, control.fyers_token(), rec, logs, litemode=True)
    wait_until(lambda: rec.control("lit"), 10, "the lite-mode reply")
    sock.subscribe(symbols=["NSE:SBIN-EQ", "NSE:NIFTY50-INDEX"], data_type="SymbolUpdate")
    wait_until(lambda: rec.count("sf", "NSE:SBIN-EQ") >= 3 and rec.count("if", "NSE:NIFTY50-INDEX") >= 3,
               DATA_TIMEOUT, "lite updates for SBIN and NIFTY 50")
    for m in rec.data():
        check(set(m) == {"ltp", "symbol", "type"}, f"lite message with keys {sorted(m)}")
    conn, compared = compare_with_simulator(control, rec, lite=True)
    check(all(s["mode"] == "lite" for s in conn["subscriptions"]), f"modes {conn['subscriptions']}")
    ok(f"{rec.control('lit')[0]['message']}; {len(rec.data())} {{ltp, symbol, type}} messages; "
       f"ltp equals the simulator's for {compared} topics")
    sock.close_connection()


def scenario_drop(base, control, logs):
    rec = Recorder()
    sock = open_socket(base, control.fyers_token(), rec, logs, reconnect=True)
    wait_until(lambda: rec.control("cn"), 10, "the auth reply")
    sock.subscribe(symbols=["NSE:SBIN-EQ", "NSE:INFY-EQ"], data_type="SymbolUpdate")
    wait_until(lambda: len(rec.data()) >= 3, DATA_TIMEOUT, "data before the drop")
    connects_before = rec.connects
    dropped_at = time.monotonic()
    control.fault({"kind": "drop"})
    wait_until(lambda: len(rec.control("cn")) >= 2, 30, "the client to reconnect and re-authenticate")
    reconnected_after = time.monotonic() - dropped_at
    wait_until(lambda: rec.connects > connects_before, 10, "on_connect after the reconnect")
    state = control.state()
    conn = our_connection(state)
    check(state["faults"]["drops"] >= 1, "the drop was not counted")
    check(conn["subscriptions"] == [], f"the client resubscribed on its own: {conn['subscriptions']}")
    quiet_from = time.monotonic()
    time.sleep(4.0)  # observe the new connection: it stays without data
    check(not rec.data(since=quiet_from), f"data without a subscription: {rec.data(since=quiet_from)[:2]}")
    check(our_connection(control.state())["subscriptions"] == [], "subscriptions appeared")
    ok(f"reconnected and re-authenticated after {reconnected_after:.1f} s; on_connect called "
       f"{rec.connects} times; NO resubscription: 0 topics and no data for 4 s")
    sock.subscribe(symbols=["NSE:SBIN-EQ"], data_type="SymbolUpdate")
    wait_until(lambda: rec.data(since=quiet_from), DATA_TIMEOUT, "data after subscribing again")
    ok("subscribing again (what the application must do in on_connect) restores the data")
    sock.close_connection()


def scenario_refused(base, control, logs):
    def b64(obj):
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    payload = {"exp": int(time.time()) + 3600, "hsm_key": "0" * 48}
    token = f"{APP_ID}:{b64({'alg': 'HS256', 'typ': 'JWT'})}.{b64(payload)}.sig"
    rec = Recorder()
    sock = open_socket(base, token, rec, logs)
    wait_until(lambda: rec.errors, 10, "the auth failure")
    err = rec.errors[0]
    check(isinstance(err, dict) and err.get("type") == "cn" and err.get("code") == 11001,
          f"unknown hsm_key reported as {err!r}")
    check(our_connection_count(control) == 0, "an unknown hsm_key authenticated")
    ok(f"unknown hsm_key -> on_error {err}")
    sock.close_connection()


def our_connection_count(control):
    return sum(1 for c in control.state()["fyers"]["connections"] if c["authenticated"])


def scenario_expired(base, control, logs):
    before = control.state()["fyers"]["upgrades"]["accepted"]
    rec = Recorder()
    open_socket(base, control.fyers_token(expires_in=-60), rec, logs)
    wait_until(lambda: rec.errors, 10, "the expiry error")
    err = rec.errors[0]
    check(isinstance(err, dict) and err.get("code") == -99, f"expired token reported as {err!r}")
    check(control.state()["fyers"]["upgrades"]["accepted"] == before, "a socket was opened")
    ok(f"expired token -> on_error {err}, no socket opened")


SCENARIO_FUNCTIONS = {
    "full": scenario_full,
    "lite": scenario_lite,
    "drop": scenario_drop,
    "refused": scenario_refused,
    "expired": scenario_expired,
}


def run_scenario(name, base):
    """Child process entry point: one data-socket scenario."""
    patch_official_client(base)
    logs = tempfile.mkdtemp(prefix="fyers-sdk-logs-")
    try:
        SCENARIO_FUNCTIONS[name](base, Control(base), logs)
    except Failure as e:
        print(f"\nFAIL [{name}]: {e}", file=sys.stderr)
        return 1
    except Exception:  # noqa: BLE001 - any crash is a failed scenario, reported with its traceback
        traceback.print_exc()
        print(f"\nFAIL [{name}]: unexpected error", file=sys.stderr)
        return 1
    return 0


def spawn(name, base, token):
    step(f"data socket scenario '{name}' (own process: the official socket is a singleton)")
    env = dict(os.environ)
    if name == "full":
        env["FEEDGATE_FYERS_TOKEN"] = token
    proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--scenario", name, base], env=env)
    try:
        code = proc.wait(timeout=SCENARIO_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)
        raise Failure(f"scenario '{name}' did not finish within {SCENARIO_TIMEOUT:.0f} s")
    check(code == 0, f"scenario '{name}' failed (exit code {code})")


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--scenario":
        return run_scenario(sys.argv[2], sys.argv[3])
    binary = os.environ.get("FEEDGATE_BIN")
    if not binary:
        print("FAIL: set FEEDGATE_BIN to the feedgate binary (e.g. target/debug/feedgate)", file=sys.stderr)
        return 1
    sim = Simulator(binary)
    started = time.monotonic()
    try:
        sim.start()
        print(f"simulator at {sim.base}", flush=True)
        patch_official_client(sim.base)
        logs = tempfile.mkdtemp(prefix="fyers-sdk-logs-")
        token = test_rest(sim, Control(sim.base), logs)
        for name in SCENARIOS:
            spawn(name, sim.base, token)
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
    print(f"\nPASS: official fyers-apiv3 client conforms ({time.monotonic() - started:.1f} s)")
    os.unlink(sim.log.name)
    return 0


if __name__ == "__main__":
    # The official socket's threads are not daemons; os._exit does not wait for them.
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
