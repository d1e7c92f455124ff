"""Paper broker + ledger across processes: determinism, crash-mid-bar atomicity (SIGKILL), resume after a kill, append-only fills."""
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap

import pytest
from conftest import ROOT

# A child process: replays real Kraken 1h bars (BTC/USD, ETH/USD) through PaperBroker into a Ledger, one
# transaction per bar. With --hang-at K it stops inside bar K's transaction (after that bar's fills are
# written) and waits to be killed. Run again on the same ledger it resumes after the last committed bar
# (warm + restore from the ledger). Prints the digest at the end.
CHILD = textwrap.dedent(r'''
    import sys, time, argparse
    from pathlib import Path
    from datetime import timedelta
    from decimal import Decimal
    import pandas as pd
    from cryptotrader.clock import TestClock
    from cryptotrader.config import load_config, BUNDLED_DATA, DataPaths
    from cryptotrader.domain import Order, bars_from_ohlcv
    from cryptotrader.broker import PaperBroker, SIGMA_WINDOW
    from cryptotrader.ledger import Ledger, ledger_digest
    from cryptotrader.universe import load_universe

    ap = argparse.ArgumentParser()
    ap.add_argument("path"); ap.add_argument("--home"); ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--bars", type=int, default=72); ap.add_argument("--hang-at", type=int, default=-1)
    a = ap.parse_args()
    cfg = load_config(); uni = load_universe(cfg)
    def real(alt, sym):
        df = pd.read_csv(BUNDLED_DATA / "ohlcv" / f"kraken_{alt}_1h.csv.gz")
        return bars_from_ohlcv(df[df.timestamp >= pd.Timestamp("2023-01-09", tz="UTC").value // 10**6].head(72), sym)
    BARS = {"BTC/USD": real("XBTUSD", "BTC/USD"), "ETH/USD": real("ETHUSD", "ETH/USD")}
    T = [b.ts for b in BARS["BTC/USD"]]
    btc, eth = uni["BTC/USD"], uni["ETH/USD"]
    mk = lambda ins, side, amt, k, seq=0, **kw: Order.create(ins, side, amt, strategy="t", bar_ts=T[k], seq=seq, **kw)
    plan = {T[2]: [mk(btc, "buy", "0.1", 2), mk(eth, "buy", "1.5", 2)],
            T[4]: [mk(eth, "buy", "600", 4, seq=1)],                                   # partial fills over several bars
            T[16]: [mk(eth, "buy", "1", 16, order_type="limit", price=1318)],
            T[30]: [mk(btc, "sell", "0.05", 30), mk(btc, "buy", "50", 30, seq=1)],      # the 50 BTC buy: insufficient funds
            T[40]: [mk(eth, "sell", "2", 40, order_type="limit", price=1341, post_only=True)]}
    clock = TestClock(T[0])
    broker = PaperBroker(uni, cfg.execution, seed=a.seed, clock=clock, cash={"USD": Decimal(1_000_000)})
    led = Ledger(a.path, DataPaths(Path(a.home)) if a.home else None)
    start = 0
    if led.last_bar() is not None:                      # a restart: resume from the ledger
        start = T.index(led.last_bar()) + 1
        clock.set(T[start - 1] + timedelta(hours=1))
        for i in range(max(0, start - SIGMA_WINDOW - 1), start):
            for s in BARS: broker.warm(BARS[s][i])
        broker.restore(led.balances(), led.open_orders(), led.positions())
    for i in range(start, a.bars):
        t = T[i]; clock.set(t + timedelta(hours=1))
        with led.bar_transaction(t):
            broker.on_bars([BARS[s][i] for s in BARS])
            for ev in broker.drain_events(): led.apply_event(ev)
            for o in plan.get(t, []):
                if led.add_order(o): broker.submit(o)
            for ev in broker.drain_events(): led.apply_event(ev)
            led.record_equity(t, broker.balances(), {s: BARS[s][i].close for s in BARS})
            led.observe(open_orders=len(broker.open_orders()))
            if i == a.hang_at:
                print("INSIDE", len(led.fills()), flush=True)
                time.sleep(120)
    print(ledger_digest(led), len(led.fills()), flush=True)
''')


def _env(hashseed):
    return {**os.environ, "PYTHONHASHSEED": str(hashseed), "MPLBACKEND": "Agg"}


def run_child(tmp_path, name, *args, hashseed=0, timeout=120):
    path = tmp_path / f"{name}.sqlite"
    r = subprocess.run([sys.executable, "-c", CHILD, str(path), *args], capture_output=True, text=True,
                       cwd=ROOT, env=_env(hashseed), timeout=timeout)
    assert r.returncode == 0, r.stderr
    digest, n = r.stdout.split()
    return path, digest, int(n)


def test_two_processes_same_digest(tmp_path):
    p1, d1, n1 = run_child(tmp_path, "a", "--home", str(tmp_path / "h1"), hashseed=1)
    p2, d2, n2 = run_child(tmp_path, "b", "--home", str(tmp_path / "h2"), hashseed=2)
    assert d1 == d2 and n1 == n2 and n1 > 8          # several partial fills of the 600 ETH order
    trades = lambda h: sorted((h / "logs/crypto/kraken_global/trades").glob("*.jsonl"))
    assert [f.read_bytes() for f in trades(tmp_path / "h1")] == [f.read_bytes() for f in trades(tmp_path / "h2")]
    _, d3, _ = run_child(tmp_path, "c", "--seed", "8")
    assert d3 != d1                                   # the seed reaches the exchange ids
    from cryptotrader.ledger import Ledger, ledger_digest
    with Ledger(p1, readonly=True) as led:
        assert ledger_digest(led) == d1 and led.check_consistency() == []
        rej = [o for o in led.orders() if o.status.value == "rejected"]
        assert [o.kraken_error for o in rej] == ["EOrder:Insufficient funds"]


@pytest.mark.parametrize("hang_at", [3, 6])
def test_sigkill_mid_bar_leaves_no_trace_of_that_bar(tmp_path, hang_at):
    path = tmp_path / "crash.sqlite"
    home = tmp_path / "home"
    p = subprocess.Popen([sys.executable, "-c", CHILD, str(path), "--home", str(home), "--hang-at", str(hang_at)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=_env(0))
    try:
        line = p.stdout.readline()
        assert line.startswith("INSIDE"), p.stderr.read()
        assert int(line.split()[1]) > 0                  # the bar had written fills (uncommitted) when killed
        os.kill(p.pid, signal.SIGKILL)
        assert p.wait(timeout=30) == -signal.SIGKILL
    finally:
        if p.poll() is None: p.kill()
        p.stdout.close(); p.stderr.close()
    from cryptotrader.ledger import Ledger, ledger_digest
    from cryptotrader.clock import iso_utc
    _, ref_digest, ref_fills = run_child(tmp_path, "ref", "--bars", str(hang_at))   # the same run, stopped cleanly before that bar
    with Ledger(path, readonly=True) as ro:
        assert ro.con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    led = Ledger(path)                                   # opens cleanly (WAL recovery), read-write
    try:
        last = led.last_bar()
        killed_bar = iso_utc(last + (last - led.equity_curve().index[-2]))
        for table in ("orders", "order_events", "fills", "positions", "balances", "engine_events"):
            assert led.con.execute(f"SELECT count(*) FROM {table} WHERE ledger_bar=?", (killed_bar,)).fetchone()[0] == 0, table
        assert led.con.execute("SELECT count(*) FROM equity WHERE bar_ts=?", (killed_bar,)).fetchone()[0] == 0
        assert ledger_digest(led) == ref_digest and len(led.fills()) == ref_fills
        assert led.check_consistency() == []
        obs = sorted((home / "logs/crypto/kraken_global/observations").glob("*.jsonl"))
        stamps = [json.loads(l)["bar_ts"] for f in obs for l in f.read_text().splitlines()]
        assert len(stamps) == hang_at and killed_bar not in stamps
        with led.bar_transaction(last + (last - led.equity_curve().index[-2])):   # and the next bar can be written
            led.log_event("restart", reason="test")
    finally:
        led.close()


def test_fills_append_only_in_sqlite_itself(tmp_path):
    path, digest, n = run_child(tmp_path, "a", "--bars", "8")
    con = sqlite3.connect(path)                          # a raw connection: no Ledger code involved
    try:
        with pytest.raises(sqlite3.IntegrityError, match="fills are append-only"):
            con.execute("UPDATE fills SET price = '1'")
        with pytest.raises(sqlite3.IntegrityError, match="fills are append-only"):
            con.execute("DELETE FROM fills")
        with pytest.raises(sqlite3.IntegrityError, match="UNIQUE constraint failed: fills.trade_id"):
            con.execute("INSERT INTO fills(trade_id, client_id, symbol, side, amount, price, fee, fee_currency, liquidity, ts) "
                        "SELECT trade_id, client_id, symbol, side, amount, price, fee, fee_currency, liquidity, ts FROM fills LIMIT 1")
        with pytest.raises(sqlite3.IntegrityError, match="order_events are append-only"):
            con.execute("UPDATE order_events SET kind = 'x'")
        con.rollback()
    finally:
        con.close()
    from cryptotrader.ledger import ledger_digest
    assert ledger_digest(path) == digest and n > 0


def test_kill_then_resume_equals_uninterrupted_run(tmp_path):
    _, full_digest, full_fills = run_child(tmp_path, "full", "--home", str(tmp_path / "h_full"))
    path, home = tmp_path / "k.sqlite", tmp_path / "h_k"
    for hang_at in (5, 17, 33):                       # killed three times, each time inside a bar
        p = subprocess.Popen([sys.executable, "-c", CHILD, str(path), "--home", str(home), "--hang-at", str(hang_at)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=_env(hang_at))
        try:
            line = p.stdout.readline()
            assert line.startswith("INSIDE"), p.stderr.read()
            os.kill(p.pid, signal.SIGKILL); p.wait(timeout=30)
        finally:
            if p.poll() is None: p.kill()
            p.stdout.close(); p.stderr.close()
    r = subprocess.run([sys.executable, "-c", CHILD, str(path), "--home", str(home)], capture_output=True, text=True,
                       cwd=ROOT, env=_env(99), timeout=120)
    assert r.returncode == 0, r.stderr
    digest, n = r.stdout.split()
    assert (digest, int(n)) == (full_digest, full_fills)   # no lost fill, no duplicated order, same positions
    logs = lambda h: {f.relative_to(h): f.read_bytes() for f in sorted((h / "logs").rglob("*.jsonl"))}
    assert logs(home) == logs(tmp_path / "h_full")          # JSONL lines exactly once
