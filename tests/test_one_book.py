"""One book (issue 10): `backtest` and `paper --fresh` agree on the production config; the training window holds at every
timeframe; the drawdown breaker releases; the ledger digest does not depend on where the project is cloned."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import BIN, ROOT, run_cli

LEDGER = "artifacts/crypto/kraken_global/ledger/paper.sqlite"


def _paper(home: Path, *argv, timeout=600, env=None) -> dict:
    r = run_cli("paper", "--fresh", "--no-progress", "--no-report", "--summary-json", str(home / "s.json"), *argv,
                env={"CRYPTOTRADER_HOME": str(home), **(env or {})}, timeout=timeout)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads((home / "s.json").read_text())


def _backtest(home: Path, *argv, timeout=600) -> dict:
    r = run_cli("backtest", "--json", "--no-progress", *argv, env={"CRYPTOTRADER_HOME": str(home)}, timeout=timeout)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout)


@pytest.mark.parametrize("argv", [
    ["--timeframe", "4h", "--pairs", "BTC/USD", "ETH/USD", "SOL/USD", "--start", "2021-06-01", "--end", "2021-12-31 20:00"],
])   # (38_parity holds four more cases on the production config)
def test_backtest_equals_paper_fresh_on_the_production_config(tmp_path, argv):
    bt, pp = _backtest(tmp_path / "bt", *argv), _paper(tmp_path / "pp", *argv)
    assert bt["book"] == "traded" and pp["book"] == "traded"
    assert abs(bt["metrics"]["final_equity"] / pp["final_equity"] - 1) < 0.005, (bt["metrics"], pp)
    for k in ("trades", "pauses", "breaker_bars"): assert bt["metrics"][k] == pp[k], k
    assert {"total_return", "final_equity", "sharpe", "max_drawdown", "exposure", "trades"} <= set(bt["metrics"])
    assert bt["why"].startswith("risk manager reduced gross exposure on")


def _in_window(ts: str) -> bool: return 3 <= pd.Timestamp(ts).hour < 5


@pytest.mark.parametrize("tf,argv", [
    ("4h", ["--pairs", "BTC/USD", "ETH/USD", "--start", "2022-01-01", "--end", "2022-06-30 20:00"]),
    ("15m", ["--pairs", "BTC/USD", "--start", "2023-03-01", "--end", "2023-04-30 23:45"]),
])
def test_no_order_and_no_fill_inside_the_training_window(tmp_path, tf, argv):
    from cryptotrader.ledger import Ledger
    s = _paper(tmp_path, "--timeframe", tf, *argv)
    assert s["pauses"] > 0 and s["trades"] > 0
    with Ledger(tmp_path / LEDGER, readonly=True) as led:
        stamps = [o.created_ts for o in led.orders()] + [f.ts for f in led.fills()]
    assert stamps and not [t for t in stamps if _in_window(t)]


def test_the_breaker_releases_and_the_book_trades_again(tmp_path):
    "…and a person hears of it: the replay posts 'breaker engaged' and 'released' to a real local receiver (apprise json://)."
    from cryptotrader.alerts import LocalReceiver
    from cryptotrader.ledger import Ledger
    with LocalReceiver() as rx:
        s = _paper(tmp_path, "--start", "2022-03-01", "--end", "2023-03-31 23:00", env={"CRYPTOTRADER_ALERT_URLS": rx.url})
    titles = rx.titles()
    assert any(t.endswith("breaker engaged") for t in titles) and any(t.endswith("breaker released") for t in titles), titles
    assert s["breaker_periods"] and s["breaker_bars"] > 0
    released = [b for _, b in s["breaker_periods"] if b]
    assert released, s["breaker_periods"]
    with Ledger(tmp_path / LEDGER, readonly=True) as led:
        after = [f for f in led.fills() if pd.Timestamp(f.ts) > pd.Timestamp(released[0])]
    assert after, "no fill after the breaker released"
    st = json.loads(run_cli("status", "--json", env={"CRYPTOTRADER_HOME": str(tmp_path)}).stdout)
    assert st["breaker"]["peak_equity"] is not None


def test_the_digest_does_not_depend_on_the_clone_folder(tmp_path):
    "A second clone in another folder prints the same ledger_sha256 for the same run."
    clone = tmp_path / "elsewhere" / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    shutil.copytree(ROOT / "cryptotrader", clone / "cryptotrader", dirs_exist_ok=True)   # the package as it is now (uncommitted edits too)
    argv = ["--pairs", "BTC/USD", "ETH/USD", "--start", "2023-02-01", "--end", "2023-02-28 23:00"]
    here = _paper(tmp_path / "a", *argv)
    env = {**os.environ, "CRYPTOTRADER_HOME": str(tmp_path / "b"), "PYTHONPATH": str(clone)}
    r = subprocess.run([sys.executable, "-c", "import sys, cryptotrader.cli as c; assert c.__file__.startswith(sys.argv[1]), c.__file__; "
                        "sys.exit(c.main(sys.argv[2:]))", str(clone), "paper", "--fresh", "--no-progress",
                        "--no-report", "--summary-json", str(tmp_path / "b.json"), *argv], capture_output=True, text=True, env=env, cwd=clone, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    there = json.loads((tmp_path / "b.json").read_text())
    assert there["ledger_sha256"] == here["ledger_sha256"]
