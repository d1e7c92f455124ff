"""The Kraken test exchange through the real ccxt client: real HTTP on 127.0.0.1, real signing, replayed real bars, faults."""
import base64
import hashlib
import hmac
import json
import re
import shlex
import subprocess
import time
import urllib.parse
import urllib.request

import ccxt
import pytest
from conftest import BIN, ROOT

from cryptotrader.testing import KrakenTestServer, kraken_signature, new_test_credentials
from cryptotrader.universe import kraken_client

START = "2023-03-01T00:00:00Z"          # a bar boundary inside every 2023 1h file
T0 = 1677628800                         # START in epoch seconds; BTC/USD 1h bar: o 23133.2 h 23216.7 l 23044.0 c 23097.9




@pytest.fixture
def srv():
    key, secret = new_test_credentials(11)
    s = KrakenTestServer(pairs=["BTC/USD", "ETH/USD"], api_keys={key: secret}, balances={"USD": 10_000, "ETH": "1"}, start=START, seed=3)
    s.start()
    yield s
    s.stop()
    assert s.errors == [], s.errors


@pytest.fixture
def ex(srv):
    key, secret = srv.credentials
    return kraken_client(srv.base_url, apiKey=key, secret=secret, enableRateLimit=False, timeout=5000)


def test_public_market_data(srv, ex):
    markets = ex.load_markets()
    assert len(markets) == 21 and markets["BTC/USD"]["id"] == "XXBTZUSD" and markets["DOGE/USD"]["id"] == "XDGUSD"
    btc = markets["BTC/USD"]
    assert (btc["precision"]["amount"], btc["precision"]["price"], btc["limits"]["amount"]["min"], btc["limits"]["cost"]["min"]) == (1e-8, 0.1, 5e-5, 0.5)
    assert (btc["taker"], btc["maker"]) == (0.004, 0.0025)
    assert ex.fetch_time() == T0 * 1000
    bars = ex.fetch_ohlcv("BTC/USD", "1h")
    assert len(bars) == 720 and bars[-1][0] == T0 * 1000
    assert bars[-1][1:5] == [23133.2] * 4 and bars[-1][5] == 0          # forming: only the open is known
    assert bars[-2] == [(T0 - 3600) * 1000, 23165.9, 23198.1, 23110.0, 23133.2, 85.95225417]
    recent = ex.fetch_ohlcv("BTC/USD", "1h", since=(T0 - 2 * 3600) * 1000)
    assert [b[0] // 1000 for b in recent] == [T0 - 7200, T0 - 3600, T0]
    srv.step()
    after = ex.fetch_ohlcv("BTC/USD", "1h", since=T0 * 1000)
    assert after[0] == [T0 * 1000, 23133.2, 23216.7, 23044.0, 23097.9, 74.14068556] and after[1][0] == (T0 + 3600) * 1000
    t = ex.fetch_ticker("ETH/USD")
    assert t["bid"] < t["last"] < t["ask"] and t["baseVolume"] > 0 and t["high"] >= t["low"]
    with pytest.raises(ccxt.BadRequest, match="EGeneral:Invalid arguments"):
        ex.fetch_ohlcv("BTC/USD", "15m")                               # this replay serves 1h only


def test_orders_fills_balances_and_trades(srv, ex):
    bal = ex.fetch_balance()
    assert (bal["USD"]["total"], bal["ETH"]["total"], bal["USD"]["used"]) == (10_000, 1, 0)
    m = ex.create_order("BTC/USD", "market", "buy", 0.01, params={"clientOrderId": "cid-1"})
    o = ex.fetch_order(m["id"])
    assert (o["status"], o["filled"], o["average"], o["clientOrderId"]) == ("closed", 0.01, 23133.2, "cid-1")
    assert float(o["fee"]["cost"]) == pytest.approx(231.332 * 0.004, abs=1e-5) and len(o["trades"]) == 1
    lim = ex.create_order("BTC/USD", "limit", "buy", 0.01, 23090.0, params={"postOnly": True})   # below the open; low 23044 trades through
    assert [x["id"] for x in ex.fetch_open_orders()] == [lim["id"]]
    assert ex.fetch_balance()["USD"]["used"] == pytest.approx(230.9 * 1.004, abs=1e-3)
    srv.step()
    lo = ex.fetch_order(lim["id"])
    assert (lo["status"], lo["average"], lo["postOnly"]) == ("closed", 23090.0, True)
    trades = ex.fetch_my_trades()
    assert [(t["order"], t["takerOrMaker"], t["price"]) for t in sorted(trades, key=lambda t: t["timestamp"])] == [(m["id"], "taker", 23133.2), (lim["id"], "maker", 23090.0)]
    assert trades[0]["fee"]["currency"] == "USD"
    usd = 10_000 - 231.332 - round(231.332 * 0.004, 5) - 230.9 - round(230.9 * 0.0025, 5)
    bal = ex.fetch_balance()
    assert bal["USD"]["total"] == pytest.approx(usd, abs=1e-4) and bal["BTC"]["total"] == pytest.approx(0.02)
    sell = ex.create_order("ETH/USD", "limit", "sell", 0.5, 99_999.0)
    assert ex.fetch_balance()["ETH"]["used"] == 0.5
    ex.cancel_order(sell["id"])
    assert ex.fetch_order(sell["id"])["status"] == "canceled" and ex.fetch_open_orders() == []
    closed = ex.fetch_closed_orders()
    assert {c["id"] for c in closed} == {m["id"], lim["id"], sell["id"]}


def test_cancel_by_client_ids_and_cancel_all(srv, ex):
    a = ex.create_order("BTC/USD", "limit", "buy", 0.001, 15_000.0, params={"clientOrderId": "keep-me"})
    b = ex.create_order("BTC/USD", "limit", "buy", 0.001, 15_000.0, params={"clientOrderId": "drop-me"})
    ex.cancel_order(None, params={"clientOrderId": "drop-me"})
    assert [o["id"] for o in ex.fetch_open_orders()] == [a["id"]] and ex.fetch_order(b["id"])["status"] == "canceled"
    for _ in range(2):
        ex.create_order("BTC/USD", "limit", "buy", 0.001, 15_000.0, params={"userref": 77})
    assert ex.privatePostCancelOrder({"txid": 77})["result"] == {"count": 2}
    assert ex.privatePostCancelAll()["result"] == {"count": 1}
    with pytest.raises(ccxt.OrderNotFound):
        ex.cancel_order(a["id"])                                         # already cancelled: EOrder:Unknown order


@pytest.mark.parametrize("args,error,exc", [
    (("BTC/USD", "market", "buy", 0.00001), "EGeneral:Invalid arguments:volume minimum not met", ccxt.InvalidOrder),
    (("BTC/USD", "limit", "buy", 0.0001, 1000.0), "EOrder:Cost minimum not met", ccxt.ExchangeError),
    (("BTC/USD", "market", "buy", 1.0), "EOrder:Insufficient funds", ccxt.InsufficientFunds),
    (("ETH/USD", "market", "sell", 2.0), "EOrder:Insufficient funds", ccxt.InsufficientFunds),
    (("BTC/USD", "limit", "buy", 0.001, 23200.0, {"postOnly": True}), "EOrder:Post only order", ccxt.ExchangeError),  # would take
    (("BTC/USD", "limit", "buy", 0.001, 23000.05), "EOrder:Invalid price", ccxt.ExchangeError),
])
def test_kraken_order_errors(srv, ex, args, error, exc):
    ex.load_markets()
    ex.markets["BTC/USD"]["precision"]["price"] = 0.01                  # let an off-tick price through ccxt to the server
    with pytest.raises(exc, match=error):
        ex.create_order(*args)
    assert srv.exchange.orders == {}


def test_validate_creates_nothing(srv, ex):
    r = ex.privatePostAddOrder({"pair": "XXBTZUSD", "type": "buy", "ordertype": "limit", "volume": "0.01", "price": "20000", "validate": "true"})
    assert r["result"] == {"descr": {"order": "buy 0.01000000 XBTUSD @ limit 20000.0"}} and ex.fetch_open_orders() == []


def test_authentication_errors(srv, ex):
    key, secret = srv.credentials
    with pytest.raises(ccxt.AuthenticationError, match="EAPI:Invalid key"):
        kraken_client(srv.base_url, apiKey="not-a-key", secret=secret, enableRateLimit=False).fetch_balance()
    wrong = base64.b64encode(b"\x01" * 64).decode()
    with pytest.raises(ccxt.ExchangeError, match="EAPI:Invalid signature") as e:   # ccxt 4.5.90 does not map this string
        kraken_client(srv.base_url, apiKey=key, secret=wrong, enableRateLimit=False).fetch_balance()
    assert type(e.value) is ccxt.ExchangeError
    ex.fetch_balance()                                                  # a good nonce, now below a stale client's
    stale = kraken_client(srv.base_url, apiKey=key, secret=secret, enableRateLimit=False)
    stale.nonce = lambda: 1000
    with pytest.raises(ccxt.InvalidNonce, match="EAPI:Invalid nonce"):
        stale.fetch_balance()


def _raw_private(srv, method, nonce, extra="", key=None, secret=None):
    key, secret = key or srv.credentials[0], secret or srv.credentials[1]
    path = f"/0/private/{method}"
    body = f"nonce={nonce}" + (f"&{extra}" if extra else "")
    req = urllib.request.Request(srv.base_url + path, data=body.encode(), method="POST",
                                 headers={"API-Key": key, "API-Sign": kraken_signature(path, nonce, body, secret), "Content-Type": "application/x-www-form-urlencoded"})
    return json.loads(urllib.request.urlopen(req, timeout=5).read())


def test_nonce_must_strictly_increase_and_signature_covers_the_body(srv):
    assert _raw_private(srv, "Balance", 100)["result"] == {"XETH": "1.0000000000", "ZUSD": "10000.0000"}
    assert _raw_private(srv, "Balance", 100) == {"error": ["EAPI:Invalid nonce"]}
    assert _raw_private(srv, "Balance", 99) == {"error": ["EAPI:Invalid nonce"]}
    assert _raw_private(srv, "Balance", 101)["error"] == []
    # the body signed is not the body sent: a tampered volume is refused
    path, nonce = "/0/private/AddOrder", 200
    signed = f"nonce={nonce}&pair=XBTUSD&type=buy&ordertype=market&volume=0.001"
    sent = signed.replace("0.001", "0.002")
    req = urllib.request.Request(srv.base_url + path, data=sent.encode(), method="POST",
                                 headers={"API-Key": srv.credentials[0], "API-Sign": kraken_signature(path, nonce, signed, srv.credentials[1])})
    assert json.loads(urllib.request.urlopen(req, timeout=5).read()) == {"error": ["EAPI:Invalid signature"]}
    assert srv.exchange.orders == {}


def test_a_second_key_has_its_own_nonces():
    (k1, s1), (k2, s2) = new_test_credentials(1), new_test_credentials(2)
    with KrakenTestServer(pairs=["BTC/USD"], api_keys={k1: s1, k2: s2}, start=START) as s:
        assert _raw_private(s, "Balance", 5, key=k1, secret=s1)["error"] == []
        assert _raw_private(s, "Balance", 5, key=k2, secret=s2)["error"] == []


@pytest.mark.parametrize("fault,params,call,exc", [
    ("rate_limit", {}, lambda ex: ex.fetch_balance(), ccxt.DDoSProtection),          # ccxt maps Kraken's string exactly to DDoSProtection
    ("unavailable", {}, lambda ex: ex.fetch_open_orders(), ccxt.ExchangeNotAvailable),
    ("http_error", {"status": 503}, lambda ex: ex.fetch_ticker("BTC/USD"), ccxt.ExchangeNotAvailable),
    ("http_error", {"status": 504}, lambda ex: ex.fetch_balance(), ccxt.RequestTimeout),
    ("http_error", {"status": 429}, lambda ex: ex.fetch_balance(), ccxt.RateLimitExceeded),
    ("drop_connection", {}, lambda ex: ex.fetch_ohlcv("BTC/USD", "1h"), ccxt.NetworkError),
])
def test_request_faults_reach_ccxt_as_its_exceptions(srv, ex, fault, params, call, exc):
    ex.load_markets()
    srv.faults.add(fault, count=2, **params)
    for _ in range(2):
        with pytest.raises(exc):
            call(ex)
    call(ex)                                                            # the fault is spent: works again
    assert [f for f, _ in srv.faults.fired] == [fault, fault]


@pytest.mark.parametrize("fault,exc", [("timeout_after_accept", ccxt.RequestTimeout), ("close_after_accept", ccxt.NetworkError)])
def test_order_accepted_but_answer_lost(srv, ex, fault, exc):
    ex.load_markets()
    srv.faults.add(fault, delay=1.0)
    ex.timeout = 300
    t = time.monotonic()
    with pytest.raises(exc):
        ex.create_order("BTC/USD", "limit", "buy", 0.001, 15_000.0, params={"clientOrderId": "retry-me"})
    assert time.monotonic() - t < 1.0
    ex.timeout = 5000
    found = ex.fetch_open_orders(params={"clientOrderId": "retry-me"})   # the order exists: look it up, never resend
    assert [o["clientOrderId"] for o in found] == ["retry-me"] and len(srv.exchange.orders) == 1


def test_partial_fill_fault(srv, ex):
    srv.faults.add("partial_fill", fraction=0.4)
    o = ex.create_order("BTC/USD", "market", "buy", 0.01)
    got = ex.fetch_order(o["id"])
    assert (got["status"], got["filled"], got["remaining"]) == ("open", 0.004, 0.006)
    srv.step(3)
    assert ex.fetch_order(o["id"])["filled"] == 0.004                   # the rest never fills
    ex.cancel_order(o["id"])
    got = ex.fetch_order(o["id"])
    assert (got["status"], got["filled"]) == ("canceled", 0.004) and len(ex.fetch_my_trades()) == 1


def test_partial_fills_against_bar_volume():
    with KrakenTestServer(pairs=["BTC/USD"], balances={"USD": 10_000_000}, start=START) as s:
        key, secret = s.credentials
        ex = kraken_client(s.base_url, apiKey=key, secret=secret, enableRateLimit=False)
        o = ex.create_order("BTC/USD", "market", "buy", 20)                 # bar volume 74.1 BTC: 10 % fills per bar
        first = ex.fetch_order(o["id"])
        assert first["status"] == "open" and first["filled"] == pytest.approx(7.41406855)
        s.step(4)
        final = ex.fetch_order(o["id"])
        assert final["status"] == "closed" and final["filled"] == 20 and len(final["trades"]) >= 3


def test_cancelled_then_filled(srv, ex):
    o = ex.create_order("BTC/USD", "limit", "buy", 0.001, 15_000.0)
    srv.faults.add("cancel_then_fill")
    ex.cancel_order(o["id"])
    assert ex.fetch_order(o["id"])["status"] == "canceled" and ex.fetch_open_orders() == []
    srv.step()
    late = ex.fetch_order(o["id"])
    assert (late["status"], late["filled"]) == ("closed", 0.001)
    assert [t["order"] for t in ex.fetch_my_trades()] == [o["id"]]      # the fill is in the trades: reconcile from them


def test_dead_mans_switch(srv, ex):
    ex.create_order("BTC/USD", "limit", "buy", 0.001, 15_000.0)
    r = ex.cancel_all_orders_after(60_000)["result"]
    assert r == {"currentTime": "2023-03-01T00:00:00Z", "triggerTime": "2023-03-01T00:01:00Z"}
    srv.advance_to(T0 + 30)
    ex.cancel_all_orders_after(60_000)                                   # refreshed: now fires at T0 + 90
    srv.advance_to(T0 + 89)
    assert len(ex.fetch_open_orders()) == 1
    srv.advance_to(T0 + 90)
    assert ex.fetch_open_orders() == []
    ex.create_order("BTC/USD", "limit", "buy", 0.001, 15_000.0)
    ex.cancel_all_orders_after(60_000)
    assert ex.cancel_all_orders_after(0)["result"]["triggerTime"] == "0"   # disarmed
    srv.step(2)
    assert len(ex.fetch_open_orders()) == 1


def test_rate_counter_models_kraken_starter_tier():
    wall = [0.0]
    key, secret = new_test_credentials(5)
    with KrakenTestServer(pairs=["BTC/USD"], api_keys={key: secret}, start=START, rate_counter=(15, 0.33), wall_time=lambda: wall[0]) as s:
        ex = kraken_client(s.base_url, apiKey=key, secret=secret, enableRateLimit=False)
        ex.load_markets()
        for _ in range(15):
            ex.fetch_balance()
        with pytest.raises(ccxt.DDoSProtection, match="EAPI:Rate limit exceeded"):
            ex.fetch_balance()
        ex.create_order("BTC/USD", "limit", "buy", 0.001, 15_000.0)      # trading calls are not counted here
        wall[0] += 3.1                                                   # ~1 point decayed
        ex.fetch_balance()
        with pytest.raises(ccxt.DDoSProtection):
            ex.fetch_my_trades()                                         # history costs 2
        wall[0] += 10
        ex.fetch_my_trades()


def test_realtime_clock_releases_bars():
    with KrakenTestServer(pairs=["BTC/USD"], start=START) as s:
        ex = kraken_client(s.base_url, enableRateLimit=False)
        before = ex.fetch_ohlcv("BTC/USD", "1h")[-1][0]
        s.run_clock(speed=3600 * 4)                                      # four hourly bars per wall second
        time.sleep(0.8)
        after = ex.fetch_ohlcv("BTC/USD", "1h")[-1][0]
        assert after - before >= 2 * 3600_000


def test_deterministic_with_a_seed():
    def run():
        with KrakenTestServer(pairs=["BTC/USD"], start=START, seed=9, api_keys=dict([new_test_credentials(9)])) as s:
            key, secret = s.credentials
            ex = kraken_client(s.base_url, apiKey=key, secret=secret, enableRateLimit=False)
            ids = [ex.create_order("BTC/USD", "market", "buy", 0.002)["id"], ex.create_order("BTC/USD", "limit", "buy", 0.002, 23090.0)["id"]]
            s.step(2)
            return ids, [(t["id"], t["price"], t["amount"], t["fee"]["cost"]) for t in ex.fetch_my_trades()], ex.fetch_balance()["total"]
    assert run() == run()


def test_unknown_method_and_private_over_get(srv):
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(srv.base_url + "/0/public/Nope", timeout=5)
    assert e.value.code == 404 and json.loads(e.value.read()) == {"error": ["EGeneral:Unknown method"]}
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(srv.base_url + "/0/private/Balance", timeout=5)
    assert e.value.code == 405


def test_cli_serves_a_rehearsal(tmp_path):
    p = subprocess.Popen([str(BIN / "cryptotrader"), "testing", "kraken-server", "--port", "0", "--json", "--pairs", "BTC/USD", "ETH/USD",
                          "--start", START, "--speed", "1", "--balance", "USD=2500", "--duration", "60"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        info = json.loads(p.stdout.readline())
        assert info["base_url"].startswith("http://127.0.0.1:") and info["pairs"] == ["BTC/USD", "ETH/USD"]
        ex = kraken_client(info["base_url"], apiKey=info["api_key"], secret=info["api_secret"], enableRateLimit=False)
        assert ex.fetch_balance()["USD"]["total"] == 2500
        o = ex.create_order("ETH/USD", "limit", "buy", 0.1, 1000.0)
        assert [x["id"] for x in ex.fetch_open_orders()] == [o["id"]]
        ctl = urllib.request.Request(info["base_url"] + "/_test/advance?to=2023-03-02T00:00:00Z", method="POST", headers={"API-Key": info["api_key"]})
        assert json.loads(urllib.request.urlopen(ctl, timeout=5).read())["now"] == "2023-03-02T00:00:00Z"
        assert ex.fetch_time() >= 1677715200000
    finally:
        p.terminate()
        p.wait(10)


def test_cli_help():
    r = subprocess.run([str(BIN / "cryptotrader"), "testing", "kraken-server", "--help"], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0 and "--replay" in r.stdout and "--speed" in r.stdout and "--port" in r.stdout


# ---- issue 12 item 10: the test exchange rehearses what Kraken enforces (each failed before the fix)

def _wait(cond, timeout=5.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond(): return True
        time.sleep(0.02)
    return cond()


def test_dead_mans_switch_counts_wall_time_under_a_running_clock():
    "At --speed 600 a 60 s switch refreshed every 15 wall seconds kept 0 of 3 orders (it counted replay time); now it keeps them."
    wall = [0.0]
    key, secret = new_test_credentials(21)
    with KrakenTestServer(pairs=["BTC/USD"], api_keys={key: secret}, start=START, wall_time=lambda: wall[0]) as s:
        ex = kraken_client(s.base_url, apiKey=key, secret=secret, enableRateLimit=False, timeout=5000)
        s.run_clock(speed=600, tick=0.01)
        ids = [ex.create_order("BTC/USD", "limit", "buy", 0.001, 15_000.0)["id"] for _ in range(3)]
        ex.cancel_all_orders_after(60_000)
        for _ in range(4):                                            # a live client: refresh every 15 wall seconds
            wall[0] += 15
            assert _wait(lambda: s.exchange.now >= T0 + int(wall[0] * 600))
            ex.cancel_all_orders_after(60_000)
        assert s.exchange.now >= T0 + 36_000                          # ten hourly bars went by in replay time
        assert [s.exchange.orders[i].status for i in ids] == ["open"] * 3
        wall[0] += 61                                                  # the client died: 61 wall seconds without a refresh
        assert _wait(lambda: all(s.exchange.orders[i].status == "canceled" for i in ids))
        assert {s.exchange.orders[i].reason for i in ids} == {"Dead man's switch"}
        assert s.errors == []


def test_duplicate_open_cl_ord_id_is_refused(srv, ex):
    ex.create_order("BTC/USD", "limit", "buy", 0.001, 15_000.0, params={"clientOrderId": "run1-0007"})
    with pytest.raises(ccxt.ExchangeError, match="EOrder:Duplicate order"):
        ex.create_order("BTC/USD", "limit", "buy", 0.001, 15_000.0, params={"clientOrderId": "run1-0007"})
    assert len(ex.fetch_open_orders()) == 1


def test_control_endpoints_need_the_key(srv):
    for key in (None, "not-the-key"):
        req = urllib.request.Request(srv.base_url + "/_test/advance?to=2023-03-02T00:00:00Z", method="POST", headers={"API-Key": key} if key else {})
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(req, timeout=5)
        assert e.value.code == 403 and json.loads(e.value.read()) == {"error": ["EAPI:Invalid key"]}
    assert srv.exchange.now == T0                                       # the clock did not move
    ok = urllib.request.Request(srv.base_url + "/_test/clock", headers={"API-Key": srv.credentials[0]})
    assert json.loads(urllib.request.urlopen(ok, timeout=5).read())["unixtime"] == T0


def test_start_past_the_data_is_refused():
    r = subprocess.run([str(BIN / "cryptotrader"), "testing", "kraken-server", "--pairs", "BTC/USD", "--start", "2024-06-01T00:00:00Z", "--duration", "1"],
                       capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert r.returncode == 2 and "past the end of the replayed data" in r.stderr and "2023-10-01T00:00:00Z" in r.stderr


def test_every_default_pair_is_served_and_trades_rebuild_the_bars():
    "The default universe's ten pairs (three from labelled Binance fallbacks); Trades rebuild the OHLC bars exactly."
    from cryptotrader.config import load_config
    from cryptotrader.store import trades_to_ohlcv
    with KrakenTestServer(start=START) as s:
        ex = kraken_client(s.base_url, enableRateLimit=False, timeout=5000)
        for sym in load_config().universe.pairs:
            assert len(ex.fetch_ohlcv(sym, "1h")) > 1, sym
        since = (T0 - 300 * 3600) * 10**9
        rows = []
        for _ in range(2):
            r = ex.publicGetTrades({"pair": "XDGUSD", "since": str(since)})["result"]
            rows += next(v for k, v in r.items() if k != "last"); since = int(r["last"])
        import pandas as pd
        tr = pd.DataFrame([(float(x[0]), float(x[1]), float(x[2])) for x in rows], columns=["price", "volume", "time"])
        rebuilt = trades_to_ohlcv(tr, "1h").iloc[1:-1]                 # a nanosecond cursor is exclusive: the first bar lacks its open trade
        ohlc = ex.fetch_ohlcv("DOGE/USD", "1h", since=int(rebuilt.index[0].timestamp() * 1000))
        served = {b[0]: b[1:5] for b in ohlc}
        assert len(rebuilt) == 299                                      # the closed hours before the clock
        for t, row in rebuilt.iterrows():
            assert served[int(t.timestamp() * 1000)] == [row.open, row.high, row.low, row.close]
        assert s.errors == []


def readme_rehearsal() -> list[str]:
    "The README's rehearsal commands, as written (the bash block that starts the test server), comments dropped."
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)```", text, flags=re.S)
    block = next(b for b in blocks if "cryptotrader testing kraken-server" in b)
    return [ln.split("  #")[0].strip() for ln in block.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]


def _as_argv(line: str, subst: dict) -> tuple[dict, list[str]]:
    "A README line as (environment assignments, argv): placeholders replaced, `cryptotrader` the venv's."
    for k, v in subst.items(): line = line.replace(k, v)
    words = shlex.split(line)
    env = dict(w.split("=", 1) for w in words if re.match(r"^[A-Z_]+=", w) and words.index(w) < words.index("cryptotrader"))
    argv = words[words.index("cryptotrader"):]
    return env, [str(BIN / "cryptotrader"), *argv[1:]]


def test_readme_live_rehearsal_runs_as_written(tmp_path):
    "README: the test server, then `live` and `paper --realtime` exactly as written: live reconciles, places an order that fills, both stop by themselves."
    import os
    from cryptotrader.ledger import Ledger
    server, live_line, paper_line = readme_rehearsal()
    assert "--max-bars" in live_line and "--duration" in paper_line and "--history" not in live_line + paper_line
    _, argv = _as_argv(server, {})
    srv = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        head = "".join(srv.stdout.readline() for _ in range(4))
        url, key, secret = (re.search(rf"{k}:\s+(\S+)", head).group(1) for k in ("base URL", "API key", "API secret"))
        home = tmp_path / "home"
        base = {**os.environ, "CRYPTOTRADER_HOME": str(home), "KRAKEN_API_KEY": "", "KRAKEN_API_SECRET": ""}
        env, argv = _as_argv(live_line, {"<key>": key, "<secret>": secret, "<URL>": url})
        live = subprocess.run(argv, capture_output=True, text=True, env={**base, **env}, cwd=ROOT, timeout=180)
        assert live.returncode == 0, live.stderr[-3000:]
        assert "reconciliation OK" in live.stdout and "EQuery:Unknown asset pair" not in live.stderr
        s = json.loads(live.stdout.split("live run: ")[1].splitlines()[0])
        assert s["bars"] == 3 and s["orders"] >= 1 and s["fills"] >= 1, live.stdout
        assert set(s["not_traded"]) == {"ADA/USD", "LINK/USD", "DOGE/USD", "DOT/USD", "AVAX/USD", "LTC/USD", "XRP/USD"}, s["not_traded"]
        assert s["not_traded"]["DOGE/USD"] == "30 of 400 days" and s["not_traded"]["LTC/USD"] == "its bars end at 2022-07-01T00:00:00Z"
        assert sum("LINK/USD" in ln for ln in live.stderr.splitlines()) == 1                 # ...said once
        with Ledger(home / "artifacts/crypto/kraken_global/ledger/live.sqlite", readonly=True) as led:
            n_orders, n_fills = (led.con.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in ("orders", "fills"))
        assert n_orders >= 1 and n_fills >= 1
        ex = kraken_client(url, apiKey=key, secret=secret, enableRateLimit=False, timeout=5000)
        ex.incrementing_nonce = lambda: time.time_ns() // 1000                             # µs, like the live broker's (the server keeps the key's last)
        assert len(ex.privatePostTradesHistory()["result"]["trades"]) == n_fills            # the server filled what the ledger holds
        assert not (home / "datasets/crypto/kraken_global/live/kraken_ADAUSD_1h.parquet").exists()   # fallback bars never stored
        assert (home / "datasets/crypto/kraken_global/live/kraken_XBTUSD_1h.parquet").is_dir()       # Kraken's written back
        env, argv = _as_argv(paper_line, {"<URL>": url})
        paper = subprocess.run(argv, capture_output=True, text=True, env={**base, **env}, cwd=ROOT, timeout=180)
        assert paper.returncode == 0, paper.stderr[-3000:]
        assert "paper realtime run: " in paper.stdout and "paper_realtime.sqlite" in paper.stdout, paper.stdout   # stopped by itself, exit 0
    finally:
        srv.terminate(); srv.wait(10)
