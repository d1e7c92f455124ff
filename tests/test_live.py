"""Live mode against the Kraken test exchange: real ccxt, real HTTP on 127.0.0.1, real signing, replayed real bars, faults."""
import base64
import os
import random
import re
import stat
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, run_cli

from cryptotrader.config import LIVE_CONFIG, PAPER_CONFIG, Credentials, load_config
from cryptotrader.domain import Balance, OrderStatus
from cryptotrader.kraken_broker import KrakenBroker, NonceSource, RateBudget, ReconcileError, RetryPolicy, reconcile
from cryptotrader.ledger import Ledger
from cryptotrader.feeds import MarketData
from cryptotrader.realtime import run_live, run_paper_realtime
from cryptotrader.testing import KrakenTestServer, new_test_credentials
from cryptotrader.universe import kraken_client, load_universe

START = "2023-03-13T12:00:00Z"      # the strategies re-weight BTC/ETH several times in the next hours
PAIRS = ["BTC/USD", "ETH/USD"]




class FakeTime:
    "Injected monotonic clock + sleep: backoff and rate-budget waits cost no wall time."
    def __init__(self): self.t, self.slept = 0.0, []
    def monotonic(self): return self.t
    def sleep(self, s): self.t += s; self.slept.append(s)


class ServerClock:
    "The exchange's replay clock."
    def __init__(self, srv): self.srv = srv
    def now(self): return self.srv.now


def _server(seed=21, **kw):
    key, secret = new_test_credentials(seed)
    kw = {"pairs": PAIRS, "api_keys": {key: secret}, "balances": {"USD": 10_000}, "start": START, "seed": 3, **kw}
    return KrakenTestServer(**kw)


@pytest.fixture
def srv():
    s = _server()
    s.start()
    yield s
    s.stop()
    assert s.errors == [], s.errors


def creds(srv):
    key, secret = srv.credentials
    return Credentials(api_key=key, api_secret=secret, source="test")


def advance_fn(srv):
    def advance(t):
        if t > srv.now: srv.advance_to(t)
    return advance


def live_kw(srv, ft, **kw):
    "In-process `run_live` options: the server's clock, no real sleeping, a fast client timeout; rules only (no model is approved here)."
    uni = load_universe(load_config(LIVE_CONFIG), symbols=PAIRS)
    return dict(environ=kw.pop("environ"), credentials=creds(srv), clock=ServerClock(srv), wait_until=advance_fn(srv), rules_only=True,
                market=MarketData(uni, "1h", srv.base_url, retry=RetryPolicy(sleep=ft.sleep)),
                retry=RetryPolicy(rng=random.Random(0), sleep=ft.sleep), timeout_ms=1000,
                budget=RateBudget.for_tier("starter", monotonic=ft.monotonic, sleep=ft.sleep), **kw)


def check_no_duplicates_no_lost_fills(srv, ledger_path):
    with Ledger(ledger_path, readonly=True) as led:
        orders, fills = led.orders(), led.fills()
        assert led.check_consistency() == []
    ex = srv.exchange
    cl = [o.cl_ord_id for o in ex.orders.values()]
    assert len(cl) == len(set(cl)), "a client id was placed twice"
    placed = {o.client_id for o in orders if o.exchange_id}
    assert set(cl) == placed                                            # every exchange order is in the ledger, once
    assert {f.trade_id for f in fills} == set(ex.trades)                # no lost (or invented) fill
    for o in orders:
        if o.exchange_id:
            assert o.filled == ex.orders[o.exchange_id].vol_exec, o
    return orders, fills


def test_live_run_survives_every_fault(srv, home):
    "Six bars of live trading with every fault injected: no duplicated order, no lost fill, no unhandled exception."
    ft, env = FakeTime(), {"CRYPTOTRADER_HOME": str(home)}
    script = {   # bar index -> faults armed before that bar's step
        0: [("partial_fill", {"fraction": 0.5})],
        1: [("rate_limit", {"endpoint": "BalanceEx", "count": 2}), ("http_error", {"endpoint": "QueryOrders", "status": 503}),
            ("timeout_after_accept", {"delay": 2.0})],
        2: [("drop_connection", {"endpoint": "OHLC"}), ("drop_connection", {"endpoint": "QueryTrades"}), ("close_after_accept", {}),
            ("http_error", {"endpoint": "AddOrder", "status": 502})],
    }
    state = {"k": 0}

    def arm(k):
        for name, params in script.get(k, []):
            p = dict(params); count = p.pop("count", 1); endpoint = p.pop("endpoint", None)
            srv.faults.add(name, count=count, endpoint=endpoint, **p)

    def on_step(step):
        state["k"] += 1
        arm(state["k"])
    arm(0)
    cfg = load_config(LIVE_CONFIG).model_copy(update={"live": load_config(LIVE_CONFIG).live.model_copy(update={"dead_man_switch_seconds": 0})})
    res = run_live(cfg, srv.base_url, PAIRS, max_bars=6, on_step=on_step, **live_kw(srv, ft, environ=env))
    assert res.bars == 6 and res.reconcile.ok
    fired = {f for f, _ in srv.faults.fired}
    assert {"partial_fill", "rate_limit", "http_error", "timeout_after_accept", "drop_connection", "close_after_accept"} <= fired, fired
    orders, fills = check_no_duplicates_no_lost_fills(srv, res.ledger)
    assert sum(o.exchange_id is not None for o in orders) >= 3 and fills
    partial = [o for o in orders if o.status is OrderStatus.PARTIALLY_FILLED or (o.filled and o.filled < o.amount)]
    assert partial, [(o.status, o.filled, o.amount) for o in orders]
    assert ft.slept, "backoff waits went through the injected sleep"


def test_cancelled_then_filled_reaches_the_ledger(srv, home):
    "Kraken reports the cancel, then fills the order: the fill is recorded (before the cancel, which never comes)."
    ft = FakeTime()
    uni = load_universe(load_config(LIVE_CONFIG), symbols=PAIRS)
    kb = KrakenBroker(uni, creds(srv), ServerClock(srv), srv.base_url, retry=RetryPolicy(sleep=ft.sleep),
                      budget=RateBudget.for_tier("starter", monotonic=ft.monotonic, sleep=ft.sleep), dead_man_switch_seconds=0)
    from cryptotrader.domain import Order
    with Ledger(home / "l.sqlite") as led:
        o = Order.create(uni["BTC/USD"], "buy", "0.001", order_type="limit", price=15000, strategy="t", bar_ts=srv.now)
        led.add_order(o); kb.submit(o)
        for e in kb.drain_events(): led.apply_event(e)
        srv.faults.add("cancel_then_fill")
        assert kb.cancel(o.client_id)
        for e in kb.drain_events(): led.apply_event(e)         # reported cancelled: held back
        assert led.get_order(o.client_id).status is OrderStatus.OPEN
        srv.step()                                               # the "cancelled" order fills at the next bar
        kb.poll()
        for e in kb.drain_events(): led.apply_event(e)
        got = led.get_order(o.client_id)
        assert (got.status, got.filled) == (OrderStatus.FILLED, Decimal("0.001"))
        assert [f.trade_id for f in led.fills()] == list(srv.exchange.trades)
    assert ("cancel_then_fill", "CancelOrder") in srv.faults.fired


def test_reconcile_adopts_a_missing_order_and_halts_on_a_balance_mismatch(srv, home):
    ft, env = FakeTime(), {"CRYPTOTRADER_HOME": str(home)}
    ex = kraken_client(srv.base_url, apiKey=srv.credentials[0], secret=srv.credentials[1], enableRateLimit=False)
    ex.nonce = NonceSource.for_key(srv.credentials[0])                  # one nonce source per key, shared in this process
    ex.privatePostAddOrder({"pair": "XETHZUSD", "type": "buy", "ordertype": "limit", "price": "1000", "volume": "0.1", "cl_ord_id": "lost-order"})
    uni = load_universe(load_config(LIVE_CONFIG), symbols=PAIRS)
    kb = KrakenBroker(uni, creds(srv), ServerClock(srv), srv.base_url, retry=RetryPolicy(sleep=ft.sleep), dead_man_switch_seconds=0,
                      budget=RateBudget.for_tier("starter", monotonic=ft.monotonic, sleep=ft.sleep))
    with Ledger(home / "a.sqlite") as led:
        rep = reconcile(kb, led)
        assert rep.ok and rep.adopted_orders == ["lost-order"]
        assert led.get_order("lost-order").status is OrderStatus.OPEN and [o.client_id for o in kb.open_orders()] == ["lost-order"]
        kinds = [k for (k,) in led.con.execute("SELECT kind FROM engine_events")]
        assert kinds == ["reconcile"]
    ex.create_order("BTC/USD", "market", "buy", 0.01)                    # a position the live ledger never saw
    lp = home / "artifacts" / "crypto" / "kraken_global" / "ledger" / "live.sqlite"
    with Ledger(lp) as led:
        led.record_equity(srv.now, {"USD": Balance("USD", Decimal(10_000))}, {})   # "the bot thinks it is flat"
    n = len(srv.exchange.orders)
    srv.advance_to(int(srv.now.timestamp()) + 60)                        # the BTC trade is now older than the lookback below
    with pytest.raises(ReconcileError, match="BTC: the ledger expects 0, Kraken holds 0.01"):
        run_live(load_config(LIVE_CONFIG), srv.base_url, PAIRS, max_bars=2, trades_lookback_days=0, **live_kw(srv, ft, environ=env))
    assert len(srv.exchange.orders) == n                                 # nothing was sent


def test_dead_mans_switch_armed_refreshed_and_firing(srv, home):
    ft, env = FakeTime(), {"CRYPTOTRADER_HOME": str(home)}
    triggers = []
    res = run_live(load_config(LIVE_CONFIG), srv.base_url, PAIRS, max_bars=2, on_step=lambda s: triggers.append(srv.exchange.dms_trigger),
                   **live_kw(srv, ft, environ=env))
    assert res.bars == 2 and all(t is not None for t in triggers) and triggers[0] < triggers[1]   # armed, refreshed each bar
    assert srv.exchange.dms_trigger is None                                                     # clean stop: disarmed
    uni = load_universe(load_config(LIVE_CONFIG), symbols=PAIRS)
    kb = KrakenBroker(uni, creds(srv), ServerClock(srv), srv.base_url, dead_man_switch_seconds=60, retry=RetryPolicy(sleep=ft.sleep),
                      budget=RateBudget.for_tier("starter", monotonic=ft.monotonic, sleep=ft.sleep))
    from cryptotrader.domain import Order
    o = Order.create(uni["BTC/USD"], "buy", "0.001", order_type="limit", price=15000, strategy="t", bar_ts=srv.now)
    kb.submit(o); kb.drain_events()
    t = int(srv.now.timestamp())
    assert srv.exchange.dms_trigger == t + 60
    srv.advance_to(t + 59)
    assert srv.exchange.orders[o.exchange_id].status == "open"
    srv.advance_to(t + 61)                                    # the service died: nobody refreshed the switch
    assert (srv.exchange.orders[o.exchange_id].status, srv.exchange.orders[o.exchange_id].reason) == ("canceled", "Dead man's switch")


def test_symmetry_paper_and_live_on_the_same_replay(home):
    "The same engine on the same replayed bars: PaperBroker vs KrakenBroker against the test exchange."
    ft = FakeTime()
    runs = {}
    for mode in ("paper", "live"):
        s = _server()
        s.start()
        try:
            env = {"CRYPTOTRADER_HOME": str(home / mode)}
            if mode == "paper":
                uni = load_universe(load_config(PAPER_CONFIG), symbols=PAIRS)
                res = run_paper_realtime(load_config(PAPER_CONFIG), s.base_url, PAIRS, max_bars=7, environ=env, clock=ServerClock(s),
                                         wait_until=advance_fn(s), market=MarketData(uni, "1h", s.base_url))
            else:
                res = run_live(load_config(LIVE_CONFIG), s.base_url, PAIRS, max_bars=7, **live_kw(s, ft, environ=env))
            with Ledger(res.ledger, readonly=True) as led: runs[mode] = (led.orders(), led.fills())
        finally:
            s.stop()
        assert s.errors == []
    (po, pf), (lo, lf) = runs["paper"], runs["live"]
    assert len(po) >= 2, "the window should trade"
    assert [(o.client_id, o.symbol, o.side) for o in po] == [(o.client_id, o.symbol, o.side) for o in lo]
    for a, b in zip(po, lo):
        assert abs(a.amount - b.amount) <= Decimal("0.01") * max(a.amount, b.amount), (a, b)   # equity differs by slippage only
    live_fill = {f.client_id: f for f in lf}
    compared = 0
    for f in pf:                                  # paper fills at the next bar's open (+ slippage); Kraken at that open
        g = live_fill.get(f.client_id)
        if g is None: continue
        compared += 1
        assert g.ts == f.ts and abs(f.price / g.price - 1) < Decimal("0.003"), (f, g)
        assert abs(f.fee / f.cost - g.fee / g.cost) < Decimal("1e-5")                       # the same taker fee
    assert compared >= 1


def _live_yaml(tmp_path, **live):
    d = yaml.safe_load(LIVE_CONFIG.read_text())
    d["live"].update(live)
    p = tmp_path / "live.yaml"
    p.write_text(yaml.safe_dump(d))
    return p


def test_live_refuses_to_start(tmp_path, home):
    env = {"CRYPTOTRADER_HOME": str(home), "KRAKEN_API_KEY": "", "KRAKEN_API_SECRET": "", "KRAKEN_API_KEY_FILE": ""}
    r = run_cli("live", "--config", str(LIVE_CONFIG), "--exchange-url", "http://127.0.0.1:9", env=env)
    assert r.returncode == 2 and "credentials" in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    key, secret = new_test_credentials(3)
    kf = tmp_path / "kraken.key"
    kf.write_text(f"key: {key}\nsecret: {secret}\n")
    kf.chmod(0o644)
    r = run_cli("live", "--config", str(_live_yaml(tmp_path, api_key_file=str(kf))), "--exchange-url", "http://127.0.0.1:9", env=env)
    assert r.returncode == 2 and "0600" in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert secret not in r.stderr + r.stdout
    r = run_cli("live", "--config", str(PAPER_CONFIG), env={**env, "KRAKEN_API_KEY": key, "KRAKEN_API_SECRET": secret})
    assert r.returncode == 2 and "mode: live" in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert not (home / "artifacts").exists() or not list(home.rglob("live.sqlite"))


def _printable_pieces(secret_b64: str, n: int = 4) -> list[str]:
    raw = base64.b64decode(secret_b64)
    return [m.decode() for m in re.findall(rb"[\x21-\x7e]{%d,}" % n, raw)]


def test_secret_never_written(tmp_path, home):
    "Run the live service as a subprocess with a known key: no file it wrote, and neither stdout nor stderr, holds the secret."
    s = _server(seed=77)
    s.start()
    s.run_clock(speed=1800)                                   # one hourly bar every 2 s
    try:
        key, secret = s.credentials
        cfg = _live_yaml(tmp_path, dead_man_switch_seconds=7200)
        env = {"CRYPTOTRADER_HOME": str(home), "KRAKEN_API_KEY": key, "KRAKEN_API_SECRET": secret}
        r = run_cli("--log-level", "DEBUG", "--log-format", "text", "live", "--config", str(cfg), "--exchange-url", s.base_url,
                    "--pairs", *PAIRS, "--max-bars", "2", "--rules-only", env=env, timeout=90)
    finally:
        s.stop()
    assert r.returncode == 0, r.stderr[-2000:]
    assert "live run:" in r.stdout and '"bars": 2' in r.stdout
    needles = [key, secret, secret.rstrip("="), *_printable_pieces(secret)]
    files = [p for p in home.rglob("*") if p.is_file()]
    assert any(p.name == "live.sqlite" for p in files)
    for where, text in [("stdout", r.stdout), ("stderr", r.stderr)] + [(str(p), p.read_bytes().decode("latin-1")) for p in files]:
        for n in needles:
            assert n not in text, f"{where} holds a piece of the secret"


def test_short_warm_up_is_refused_in_one_line_naming_the_fill_command(srv, home, tmp_path):
    "paper --realtime and live with a warm-up short for the benchmark: exit 1, one line naming `cryptotrader data fetch`, no ledger, no order."
    empty = tmp_path / "history"; empty.mkdir()
    key, secret = srv.credentials
    env = {"CRYPTOTRADER_HOME": str(home), "KRAKEN_API_KEY": key, "KRAKEN_API_SECRET": secret}
    for cmd in (["paper", "--realtime"], ["live", "--rules-only"]):
        r = run_cli(*cmd, "--exchange-url", srv.base_url, "--pairs", *PAIRS, "--history", str(empty), "--max-bars", "1", env=env, timeout=60)
        err = [ln for ln in r.stderr.splitlines() if not ln.startswith("{")]       # JSON log lines aside
        assert (r.returncode, len(err)) == (1, 1), r.stderr[-2000:]
        assert "warm-up short" in err[0] and "BTC/USD (the benchmark): 30 of 400 days" in err[0], err
        assert "`cryptotrader data fetch --trades --days 400 --pairs BTC/USD`" in err[0], err
    assert not list(home.rglob("*.sqlite")) and srv.exchange.orders == {}          # refused before any ledger or order


def test_rate_budget_paces_the_broker_below_krakens_counter(home):
    "With the server counting like Kraken's Starter tier on the same (fake) clock, the budget never lets a call be refused."
    ft = FakeTime()
    s = _server(seed=8, rate_counter=(15, 0.33), wall_time=ft.monotonic)
    s.start()
    try:
        uni = load_universe(load_config(LIVE_CONFIG), symbols=PAIRS)
        kb = KrakenBroker(uni, creds(s), ServerClock(s), s.base_url, dead_man_switch_seconds=0, retry=RetryPolicy(sleep=ft.sleep),
                          budget=RateBudget.for_tier("starter", monotonic=ft.monotonic, sleep=ft.sleep))
        from cryptotrader.domain import Order
        kb.submit(Order.create(uni["BTC/USD"], "buy", "0.001", order_type="limit", price=15000, strategy="t", bar_ts=s.now))
        for _ in range(30): kb.poll()                           # QueryOrders + BalanceEx each: 60 points at once, unpaced
    finally:
        s.stop()
    assert kb.retries == [] and kb.budget.waited > 30          # paced (≈ 45 points / 0.33 per s), never refused


def test_restart_reconciles_what_happened_while_stopped(srv, home):
    "Stop with orders in flight; they fill while the service is down; the restart adopts the fills and trades on."
    ft, env = FakeTime(), {"CRYPTOTRADER_HOME": str(home)}
    def late(t):                       # each bar is handled 30 s after its close: market orders fill at the next bar's open
        t = t + timedelta(seconds=30)
        if t > srv.now: srv.advance_to(t)
    first = run_live(load_config(LIVE_CONFIG), srv.base_url, PAIRS, max_bars=4, **{**live_kw(srv, ft, environ=env), "wait_until": late})
    with Ledger(first.ledger, readonly=True) as led: in_flight = [o.client_id for o in led.open_orders()]
    assert in_flight, "the last bar should leave orders in flight"
    srv.step(2)                                               # the service is down for two bars: they fill
    again = run_live(load_config(LIVE_CONFIG), srv.base_url, PAIRS, max_bars=2, **{**live_kw(srv, ft, environ=env), "wait_until": late})
    rep = again.reconcile
    assert rep.ok and rep.adopted_orders == [] and len(rep.adopted_fills) >= len(in_flight), rep.summary()
    assert again.bars == 2
    check_no_duplicates_no_lost_fills(srv, again.ledger)
    with Ledger(again.ledger, readonly=True) as led:
        assert all(led.get_order(c).status is OrderStatus.FILLED for c in in_flight)


def test_the_window_opening_triggers_the_nightly_run_once_and_trading_resumes(home):
    "The service runs the nightly pipeline when the training window opens (trading paused) and reports it on resume."
    s = _server(seed=9, start="2023-03-13T01:00:00Z")
    s.start()
    calls = []
    class Result:
        status, model_id, error = "FAIL", "crypto_kraken_model_20230313_030000", None
    def nightly():
        calls.append(s.now)
        return Result()
    try:
        ft = FakeTime()
        res = run_live(load_config(LIVE_CONFIG), s.base_url, PAIRS, max_bars=5, nightly=nightly, **live_kw(s, ft, environ={"CRYPTOTRADER_HOME": str(home)}))
    finally:
        s.stop()
    assert len(calls) == 1 and calls[0] >= datetime(2023, 3, 13, 3, tzinfo=timezone.utc) and calls[0] < datetime(2023, 3, 13, 5, tzinfo=timezone.utc)
    assert [st.paused for st in res.steps] == [False, False, True, True, False]   # bars 00:00 … 04:00, decided at their close
    with Ledger(res.ledger, readonly=True) as led:
        kinds = [k for (k,) in led.con.execute("SELECT kind FROM engine_events WHERE kind IN ('pause','nightly','resume') ORDER BY seq")]
    assert kinds == ["pause", "nightly", "resume"]


def test_sigterm_ends_a_realtime_run_after_the_bar_with_exit_0(home):
    "docker stop / systemd: SIGTERM while `paper --realtime` waits for the next close ends it at once, cleanly (exit 0), the ledger whole."
    import signal, sqlite3, subprocess, time
    from conftest import BIN
    s = _server(seed=6)
    s.start()
    s.run_clock(speed=1800)                                   # one hourly bar every 2 s
    lp = home / "artifacts" / "crypto" / "kraken_global" / "ledger" / "paper_realtime.sqlite"
    try:
        p = subprocess.Popen([str(BIN / "cryptotrader"), "paper", "--realtime", "--exchange-url", s.base_url, "--pairs", *PAIRS],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env={**os.environ, "CRYPTOTRADER_HOME": str(home), "KRAKEN_API_KEY": "", "KRAKEN_API_SECRET": ""})
        deadline, bars = time.monotonic() + 90, 0
        while time.monotonic() < deadline and bars < 2 and p.poll() is None:
            time.sleep(0.5)
            if lp.exists():
                with sqlite3.connect(f"file:{lp}?mode=ro", uri=True) as con:
                    try: bars = con.execute("SELECT count(*) FROM equity").fetchone()[0]
                    except sqlite3.OperationalError: bars = 0
        assert bars >= 2, "the service never traded two bars"
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=30)
    finally:
        s.stop()
    assert p.returncode == 0, err[-2000:]
    with Ledger(lp, readonly=True) as led:
        assert led.check_consistency() == [] and len(led.equity_curve()) >= 2
