"""Adversarial live suite (issue 12, items 4, 5 and 9): a live start without a verified model, a model refused while
running, `kill -9` with an approved model and a shadow candidate, a stalled market-data feed. Every test here failed on
the code before its fix. Exchange traffic is real HTTP to the Kraken test server on 127.0.0.1."""
import io
import json
import logging
import os
import random
import shutil
import signal
import subprocess
import time
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
from conftest import BIN, ROOT, run_cli

from cryptotrader.artifacts import ArtifactStore, atomic_write
from cryptotrader.config import LIVE_CONFIG, PAPER_CONFIG, Credentials, DataPaths, load_config
from cryptotrader.kraken_broker import RateBudget, RetryPolicy
from cryptotrader.ledger import Ledger, ledger_digest
from cryptotrader.feeds import MarketData
from cryptotrader.realtime import run_live
from cryptotrader.registry import REQUIRED_GATES, candidate_dir, fake_candidate, promote, write_validation
from cryptotrader.testing import KrakenTestServer, new_test_credentials
from cryptotrader.universe import load_universe

PAIRS = ["BTC/USD", "ETH/USD"]
START = "2023-03-13T12:00:00Z"
PAPER_ENV, LIVE_ENV = load_config(PAPER_CONFIG).env, load_config(LIVE_CONFIG).env
NS = "crypto/kraken_global"


# --- fixtures ------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    "A data root with two real meta-labelling candidates (trained on the bundled data), each with a PASS record and reports."
    from cryptotrader.ml import train_candidate
    root = tmp_path_factory.mktemp("trained")
    paths = DataPaths(root).create()
    store = ArtifactStore.for_area(paths)
    ids = []
    for as_of in ("2023-01-31T04:00:00Z", "2023-02-15T04:00:00Z"):
        tr = train_candidate(load_config(), as_of, store=store, pairs=PAIRS, lookback_days=120, paths=paths)
        write_validation(store, tr.model_id, {g: {"passed": True, "note": "test record"} for g in REQUIRED_GATES}, True)
        for n in ("train", "validate"): atomic_write(store.resolve(f"reports/{tr.model_id}/{n}.html"), "<html>test</html>")
        ids.append(tr.model_id)
    return root, ids


def _home_from(trained, dest: Path, approve: dict | None = None) -> tuple[Path, ArtifactStore]:
    "A copy of the trained data root with `approve` ({env: model_id}) promoted."
    shutil.copytree(trained[0], dest)
    store = ArtifactStore.for_area(DataPaths(dest))
    for env, mid in (approve or {}).items(): promote(store, mid, env, "test: evidence read", "yes-promote", actor="test")
    return dest, store


class Records(logging.Handler):
    "Collects the `cryptotrader` log records (the CLI's `setup_logging` stops propagation to pytest's handler)."
    def __init__(self): super().__init__(logging.DEBUG); self.records = []
    def emit(self, r): self.records.append(r)
    def at(self, level, text): return [r for r in self.records if r.levelno == level and text in r.getMessage()]


@pytest.fixture
def records():
    h, lg = Records(), logging.getLogger("cryptotrader")
    old = lg.level
    lg.addHandler(h); lg.setLevel(logging.DEBUG)
    yield h
    lg.removeHandler(h); lg.setLevel(old)


def _server(**kw):
    key, secret = new_test_credentials(31)
    return KrakenTestServer(**{"pairs": PAIRS, "api_keys": {key: secret}, "balances": {"USD": 10_000}, "start": START, "seed": 3, **kw})


class FakeTime:
    def __init__(self): self.t = 0.0
    def monotonic(self): return self.t
    def sleep(self, s): self.t += s


class ServerClock:
    def __init__(self, srv): self.srv = srv
    def now(self): return self.srv.now


def _live_kw(srv, home, **kw):
    "In-process `run_live` options: the server's replay clock, no real sleeping."
    ft = FakeTime()
    key, secret = srv.credentials
    def advance(t):
        if t > srv.now: srv.advance_to(t)
    uni = load_universe(load_config(LIVE_CONFIG), symbols=PAIRS)
    return dict(environ={"CRYPTOTRADER_HOME": str(home)}, credentials=Credentials(api_key=key, api_secret=secret, source="test"),
                clock=ServerClock(srv), wait_until=advance, market=MarketData(uni, "1h", srv.base_url, retry=RetryPolicy(sleep=ft.sleep)),
                retry=RetryPolicy(rng=random.Random(0), sleep=ft.sleep), timeout_ms=1000,
                budget=RateBudget.for_tier("starter", monotonic=ft.monotonic, sleep=ft.sleep), **kw)


def _events(lp: Path, kind: str) -> list[dict]:
    with Ledger(lp, readonly=True) as led:
        return [{"ts": ts, **json.loads(p)} for ts, p in led.con.execute("SELECT ts, payload FROM engine_events WHERE kind=? ORDER BY seq", (kind,))]


def _orders_after(lp: Path, ts: str) -> list:
    with Ledger(lp, readonly=True) as led: return [o for o in led.orders() if o.bar_ts is not None and o.bar_ts.isoformat() >= ts[:19]]


def cli(*args, env: dict):
    "`cryptotrader ARGS` in-process with `env` set: (exit code, stdout, stderr)."
    from cryptotrader.cli import main
    out, err, old = io.StringIO(), io.StringIO(), {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        with redirect_stdout(out), redirect_stderr(err):
            try: code = main(list(args))
            except SystemExit as e: code = e.code
    finally:
        for k, v in old.items():
            if v is None: os.environ.pop(k, None)
            else: os.environ[k] = v
    return code, out.getvalue(), err.getvalue()


# --- item 4: live needs a verified approved model, or an explicit --rules-only ----------------------------------------

def test_live_refuses_to_start_without_a_verified_model_unless_rules_only(tmp_path):
    home = tmp_path / "home"
    store = ArtifactStore.for_area(DataPaths(home).create())
    srv = _server(); srv.start(); srv.run_clock(speed=1800)          # one hourly bar every 2 s
    key, secret = srv.credentials
    env = {"CRYPTOTRADER_HOME": str(home), "KRAKEN_API_KEY": key, "KRAKEN_API_SECRET": secret, "KRAKEN_API_KEY_FILE": ""}
    live = ["live", "--config", str(LIVE_CONFIG), "--exchange-url", srv.base_url, "--pairs", *PAIRS, "--max-bars", "1"]
    lp = home / f"artifacts/{NS}/ledger/live.sqlite"
    try:
        code, out, err = cli(*live, env=env)                          # 1. nothing approved for the live env
        assert code == 1 and "no approved model" in err and "--rules-only" in err and len(err.strip().splitlines()) == 1, (code, out, err)
        assert not srv.exchange.orders and not lp.exists()
        mid = "crypto_kraken_model_20260101_040000"                   # 2. approved, then its file tampered with
        fake_candidate(store, mid)
        promote(store, mid, LIVE_ENV, "test", "yes-promote", actor="test")
        mf = candidate_dir(store, mid) / "model.skops"
        mf.write_bytes(mf.read_bytes() + b"!")
        code, out, err = cli(*live, env=env)
        assert code == 1 and "REFUSED" in err and "--rules-only" in err and len(err.strip().splitlines()) == 1, (code, out, err)
        assert not srv.exchange.orders and not lp.exists()
        code, out, err = cli(*live, "--rules-only", env=env)          # 3. the operator says so explicitly: it trades the rules
        assert code == 0 and '"bars": 1' in out, (code, out, err[-2000:])
        assert [e["reason"] for e in _events(lp, "rules_only")], "the explicit choice is recorded"
    finally:
        srv.stop()
    assert srv.errors == []


def test_a_model_refused_while_running_halts_new_entries_and_says_so(trained, tmp_path, records):
    "The approved model's validation turns FAIL while live runs: refused at the next bar, ERROR + `model_refused`, reduce-only, in status."
    from cryptotrader.cli_trading import service_status
    home, store = _home_from(trained, tmp_path / "home", {LIVE_ENV: trained[1][0]})
    mid = trained[1][0]
    srv = _server(); srv.start()
    steps = []
    def on_step(step):
        steps.append(step)
        if len(steps) == 2: write_validation(store, mid, {**{g: {"passed": True} for g in REQUIRED_GATES}, "risk": {"passed": False}}, False)
    try:
        cfg = load_config(LIVE_CONFIG)
        res = run_live(cfg, srv.base_url, PAIRS, max_bars=5, on_step=on_step, **_live_kw(srv, home))
    finally:
        srv.stop()
    assert srv.errors == [] and res.bars == 5
    refused = _events(res.ledger, "model_refused")
    assert len(refused) == 1 and refused[0]["ts"] == steps[2].ts.isoformat().replace("+00:00", "Z"), refused
    assert records.at(logging.ERROR, "REFUSED"), "an ERROR line an alert can hook"
    assert [s.state for s in steps[2:]] == ["reducing"] * 3, [s.state for s in steps]
    assert all(o.side.value == "sell" for o in _orders_after(res.ledger, refused[0]["ts"])), "no new entries after the refusal"
    st = service_status(cfg, environ={"CRYPTOTRADER_HOME": str(home)})
    assert "model" in st["entries_halted"] and "REFUSED" in st["entries_halted"]["model"], st["entries_halted"]


# --- item 5: kill -9 with an approved model and a shadow candidate is transparent -----------------------------------

REPLAY = ["paper", "--pairs", *PAIRS, "--start", "2023-03-01", "--end", "2023-04-10T23:00", "--no-progress", "--no-report"]


from test_paper_service import _bars_done   # bars committed so far (read-only)


def _outcome(home: Path, shadow_id: str) -> tuple[str, bytes, list]:
    lp = home / f"artifacts/{NS}/ledger/paper.sqlite"
    with Ledger(lp, readonly=True) as led:
        assert led.check_consistency() == []
        digest = ledger_digest(led)
        switches = [p for (p,) in led.con.execute("SELECT payload FROM engine_events WHERE kind='model_switch'")]
    return digest, (home / f"artifacts/{NS}/shadow/{shadow_id}.jsonl").read_bytes(), switches


def test_kill_9_with_an_approved_model_and_a_shadow_candidate_matches_an_uninterrupted_run(trained, tmp_path):
    a, b = trained[1]
    prepared, _ = _home_from(trained, tmp_path / "prepared", {PAPER_ENV: a})      # A trades, B runs in shadow
    ref, home = tmp_path / "ref", tmp_path / "killed"
    shutil.copytree(prepared, ref); shutil.copytree(prepared, home)
    from cryptotrader.service import replay_spec, run_replay                      # the uninterrupted run (in this process)
    cfg = load_config(PAPER_CONFIG)
    run_replay(cfg, replay_spec(cfg, None, PAIRS, None, "2023-03-01", "2023-04-10T23:00"), progress=False, report=False,
               environ={"CRYPTOTRADER_HOME": str(ref)})
    want = _outcome(ref, b)
    lines = [json.loads(l) for l in want[1].decode().splitlines()]
    assert len(want[2]) == 1 and len(lines) > 500 and len({l["bar_ts"] for l in lines}) == len(lines)
    lp = home / f"artifacts/{NS}/ledger/paper.sqlite"
    env = {**os.environ, "CRYPTOTRADER_HOME": str(home)}
    for target in sorted(random.Random(12).sample(range(100, 800), 2)):           # kill points, in bars committed
        p = subprocess.Popen([str(BIN / "cryptotrader"), *REPLAY], env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while p.poll() is None and _bars_done(lp) < target: time.sleep(0.005)
        assert p.poll() is None, f"the replay ended before bar {target}"
        p.send_signal(signal.SIGKILL); p.wait()
    r = run_cli(*REPLAY, env={"CRYPTOTRADER_HOME": str(home)}, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    got = _outcome(home, b)
    assert got[2] == want[2], "one model_switch, however many restarts"
    assert got[1] == want[1], "the shadow log: every bar once, the hypothetical equity carried over the restarts"
    assert got[0] == want[0], "byte-identical ledger rows"


# --- item 9: a stalled market-data feed is seen, halts entries, and is reported ------------------------------------

def test_a_stalled_feed_goes_stale_halts_entries_and_resumes(trained, tmp_path, records):
    "OHLC stops answering for 4 bars (threshold 2): WARNING + `market_data_stale`, reduce-only, in status; then it resumes."
    from cryptotrader.cli_trading import service_status
    home, store = _home_from(trained, tmp_path / "home", {LIVE_ENV: trained[1][0]})
    srv = _server(); srv.start()
    steps = []
    def on_step(step):
        steps.append(step)
        if len(steps) == 2: srv.faults.add("unavailable", count=10**6, endpoint="OHLC")   # the feed stalls after bar 2
        if len(steps) == 6:
            st = service_status(cfg, environ={"CRYPTOTRADER_HOME": str(home)})
            statuses.append(st)
            srv.faults.clear()                                                              # ... and comes back
    statuses = []
    base = load_config(LIVE_CONFIG)
    cfg = base.model_copy(update={"live": base.live.model_copy(update={"stale_after_bars": 2})})
    try:
        res = run_live(cfg, srv.base_url, PAIRS, max_bars=7, on_step=on_step, **_live_kw(srv, home))
    finally:
        srv.stop()
    assert srv.errors == [] and res.bars == 7
    stale, resumed = _events(res.ledger, "market_data_stale"), _events(res.ledger, "market_data_resumed")
    assert len(stale) == 1 and len(resumed) == 1, (stale, resumed)
    assert stale[0]["missed_bars"] == 2 and records.at(logging.WARNING, "market data STALE"), stale
    assert [s.state for s in steps[3:6]] == ["reducing"] * 3, [s.state for s in steps]
    assert all(o.side.value == "sell" for o in _orders_after(res.ledger, stale[0]["ts"]) if o.bar_ts.isoformat() < resumed[0]["ts"][:19])
    st = statuses[0]
    assert st["market_data"]["stale"] is True and st["market_data"]["missed_bars"] >= 2 and "market_data" in st["entries_halted"], st
    after = service_status(cfg, environ={"CRYPTOTRADER_HOME": str(home)})
    assert after["market_data"]["stale"] is False and "market_data" not in after["entries_halted"], after


def test_a_feed_that_answers_with_nothing_new_goes_stale(trained, tmp_path, records):
    "The issue's case: the exchange keeps answering, its data simply stops (replay files end at 13:00): stale, not INFO forever."
    import pandas as pd
    from cryptotrader.config import BUNDLED_DATA
    from cryptotrader.cli_trading import service_status
    cut = pd.Timestamp("2023-03-13T13:00:00Z").value // 10**6
    feed = tmp_path / "feed"; feed.mkdir()
    for alt in ("XBTUSD", "ETHUSD"):
        df = pd.read_csv(BUNDLED_DATA / "ohlcv" / f"kraken_{alt}_1h.csv.gz")
        df[df.timestamp <= cut].to_csv(feed / f"kraken_{alt}_1h.csv.gz", index=False)
    home, _ = _home_from(trained, tmp_path / "home", {LIVE_ENV: trained[1][0]})
    srv = _server(replay_dir=feed); srv.start()
    base = load_config(LIVE_CONFIG)
    cfg = base.model_copy(update={"live": base.live.model_copy(update={"stale_after_bars": 2})})
    try:
        res = run_live(cfg, srv.base_url, PAIRS, max_bars=6, **_live_kw(srv, home))   # bars 11:00 to 13:00, then nothing new
    finally:
        srv.stop()
    assert srv.errors == [] and res.bars == 6                                              # the last close carried (gap policy)
    stale = _events(res.ledger, "market_data_stale")
    assert [e["ts"] for e in stale] == ["2023-03-13T15:00:00Z"] and stale[0]["last_bar_received"] == "2023-03-13T13:00:00Z", stale
    assert records.at(logging.WARNING, "market data STALE")
    assert [s.state for s in res.steps[4:]] == ["reducing"] * 2, [s.state for s in res.steps]     # 15:00 (2nd missed close) on
    st = service_status(cfg, environ={"CRYPTOTRADER_HOME": str(home)})
    assert st["market_data"]["stale"] is True and st["market_data"]["missed_bars"] == 3 and "market_data" in st["entries_halted"], st
