"""The paper service as an operator runs it: determinism, kill -9 at random points and restart, reports, status."""
import json
import os
import random
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
from conftest import BIN, ROOT, json_tail, run_cli

ARGS = ["paper", "--start", "2023-01-01", "--end", "2023-03-31T23:00", "--no-progress", "--no-report"]


def _digest_and_checks(home: Path) -> tuple[str, list, int, bytes]:
    from cryptotrader.ledger import Ledger, ledger_digest
    lp = home / "artifacts/crypto/kraken_global/ledger/paper.sqlite"
    with Ledger(lp, readonly=True) as led:
        trades = b"".join(p.read_bytes() for p in sorted((home / "logs/crypto/kraken_global/trades").glob("*.jsonl")))
        return ledger_digest(led), led.check_consistency(), len(led.fills()), trades


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    "An uninterrupted run."
    home = tmp_path_factory.mktemp("ref")
    r = run_cli(*ARGS, "--summary-json", str(home / "summary.json"), env={"CRYPTOTRADER_HOME": str(home)}, timeout=600)
    assert r.returncode == 0, r.stderr
    return home, json.loads((home / "summary.json").read_text())


def test_summary_has_the_promised_keys(reference):
    home, s = reference
    assert {"bars", "trades", "fees", "total_return", "sharpe", "max_drawdown", "regime_share", "ledger_sha256"} <= set(s)
    assert s["bars"] == 90 * 24 and s["trades"] > 0 and s["fees"] > 0
    assert abs(sum(s["regime_share"].values()) - 1) < 1e-6
    assert {"ADA/USD", "LINK/USD", "DOGE/USD"} <= set(s["missing_pairs"])


def test_two_runs_give_identical_ledgers(reference, tmp_path):
    home, s = reference
    r = run_cli(*ARGS, "--summary-json", str(tmp_path / "s.json"), env={"CRYPTOTRADER_HOME": str(tmp_path / "h")}, timeout=600)
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "s.json").read_text())["ledger_sha256"] == s["ledger_sha256"]
    assert _digest_and_checks(tmp_path / "h")[0] == _digest_and_checks(home)[0]


def _bars_done(lp: Path) -> int:
    "Bars committed so far (read-only; 0 while the ledger does not exist yet)."
    if not lp.exists(): return 0
    try:
        con = sqlite3.connect(f"file:{lp}?mode=ro", uri=True, timeout=5)
        try: return con.execute("SELECT count(*) FROM equity").fetchone()[0]
        finally: con.close()
    except sqlite3.OperationalError: return 0


def test_kill_9_at_random_points_then_restart_matches_an_uninterrupted_run(reference, tmp_path):
    ref_home, ref = reference
    home = tmp_path / "h"
    lp = home / "artifacts/crypto/kraken_global/ledger/paper.sqlite"
    env = {**os.environ, "CRYPTOTRADER_HOME": str(home)}
    targets = sorted(random.Random(7).sample(range(50, ref["bars"] - 100), 4))   # kill points, in bars committed
    for target in targets:
        p = subprocess.Popen([str(BIN / "cryptotrader"), *ARGS], env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while p.poll() is None and _bars_done(lp) < target: time.sleep(0.01)
        assert p.poll() is None, f"the replay ended before bar {target}"
        p.send_signal(signal.SIGKILL); p.wait()
        con = sqlite3.connect(lp)                 # every crash leaves a ledger that opens, intact
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        con.close()
        assert _bars_done(lp) < ref["bars"]
    r = run_cli(*ARGS, env={"CRYPTOTRADER_HOME": str(home)}, timeout=600)
    assert r.returncode == 0, r.stderr
    got, want = _digest_and_checks(home), _digest_and_checks(ref_home)
    assert got[1] == [] and want[1] == []        # positions re-derive from fills
    assert got[2] == want[2]                     # no lost and no duplicated fill
    assert got[0] == want[0]                     # byte-identical ledger rows
    assert got[3] == want[3]                     # the JSONL trade log too: every fill exactly once


def test_sigterm_finishes_the_bar_exits_0_and_the_restart_matches(reference, tmp_path):
    "docker stop / systemd stop: SIGTERM ends the replay at a bar boundary with exit 0; the next start resumes to the same ledger."
    ref_home, ref = reference
    home = tmp_path / "h"
    lp = home / "artifacts/crypto/kraken_global/ledger/paper.sqlite"
    p = subprocess.Popen([str(BIN / "cryptotrader"), *ARGS], env={**os.environ, "CRYPTOTRADER_HOME": str(home)}, cwd=ROOT,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    while p.poll() is None and _bars_done(lp) < 300: time.sleep(0.01)
    assert p.poll() is None, "the replay ended before it could be stopped"
    p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 0, err[-2000:]
    assert "stopped by a signal" in err and out.startswith("paper replay")
    assert 300 <= _bars_done(lp) < ref["bars"]
    r = run_cli(*ARGS, env={"CRYPTOTRADER_HOME": str(home)}, timeout=600)
    assert r.returncode == 0, r.stderr
    assert _digest_and_checks(home)[0] == _digest_and_checks(ref_home)[0]


def test_status_after_a_run(reference):
    home, s = reference
    r = run_cli("status", "--json", env={"CRYPTOTRADER_HOME": str(home)})
    st = json.loads(r.stdout)
    assert r.returncode == 0 and st["last_bar"] == s["end"] and st["equity"] == s["final_equity"]
    assert st["regime"] in ("RISK_ON", "RISK_OFF", "PANIC") and "next_change" in st["schedule"]
    live = json.loads(run_cli("status", "--config", "config/crypto/live.kraken.crypto.global.yaml", "--json",
                              env={"CRYPTOTRADER_HOME": str(home)}).stdout)
    assert live["env"] == "live_kraken_crypto_global" and live["regime"] is None and live["equity"] is None   # never the paper run's state
    assert live["active_strategies"] is None and live["running_state"] == "no ledger yet"


def test_a_different_replay_on_the_same_ledger_is_refused(reference):
    home, _ = reference
    r = run_cli("paper", "--start", "2023-02-01", "--no-progress", env={"CRYPTOTRADER_HOME": str(home)})
    assert r.returncode == 2 and "--fresh" in r.stderr and "Traceback" not in r.stderr


def test_replay_other_timeframes_and_folders(tmp_path):
    for tf in ("4h", "1d"):
        r = run_cli("paper", "--timeframe", tf, "--start", "2022-01-01", "--end", "2022-12-31", "--no-progress", "--no-report",
                    "--pairs", "BTC/USD", "ETH/USD", "--summary-json", "-", env={"CRYPTOTRADER_HOME": str(tmp_path / tf)})
        assert r.returncode == 0, r.stderr
        s = json_tail(r.stdout)
        assert s["timeframe"] == tf and s["bars"] == (364 * 6 + 1 if tf == "4h" else 365)   # --end is the last bar's open time


def test_the_docker_scripts_run_a_command_that_exists():
    for script, cmd in (("run_paper_kraken_crypto.sh", "paper"), ("run_live_kraken_crypto.sh", "live")):
        text = (ROOT / script).read_text()
        assert f'"$IMAGE" {cmd} --config config/crypto/' in text
        assert subprocess.run(["bash", "-n", str(ROOT / script)]).returncode == 0
    live = (ROOT / "run_live_kraken_crypto.sh").read_text()
    assert '"$IMAGE" verify --live --config "$CONFIG"' in live and "cryptotrader health --config $CONFIG" in live
    assert 'HEALTHCHECK' in (ROOT / "Dockerfile").read_text() and run_cli("health", "--help").returncode == 0
    r = run_cli("paper", "--help")
    assert r.returncode == 0 and "--replay" in r.stdout
