"""Adversarial ledger suite (issue 12, item 1): two writers on one ledger. Every test here failed on the code before
the fix (the second service ran alongside the first and rewrote its bars)."""
import json
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import pytest
from conftest import BIN, ROOT, json_tail, run_cli

from cryptotrader import ledger as L
from cryptotrader.clock import iso_utc

T0 = datetime(2023, 1, 1, tzinfo=timezone.utc)
HOLD = "import sys, time; from cryptotrader.ledger import Ledger; l = Ledger(sys.argv[1]); print('READY', flush=True); time.sleep(120)"


def test_a_second_writer_is_refused_naming_the_holder_and_readers_are_not(tmp_path):
    path = tmp_path / "paper.sqlite"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(path)], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert holder.stdout.readline().strip() == "READY"
        with pytest.raises(L.LedgerError, match=f"in use by another writer \\(pid {holder.pid}\\)"):
            L.Ledger(path)
        with L.Ledger(path, readonly=True) as ro: assert ro.last_bar() is None      # status still reads it
        with pytest.raises(L.LedgerError, match=f"pid {holder.pid}"):
            L.Ledger(path, fresh=True)                                              # a fresh start cannot delete it either
        assert path.exists()
    finally:
        holder.send_signal(signal.SIGKILL); holder.wait(timeout=30)
    with L.Ledger(path) as led: assert led.last_bar() is None                      # kill -9 released the lock


def test_bar_transaction_rechecks_the_stored_last_bar(tmp_path):
    path = tmp_path / "paper.sqlite"
    with L.Ledger(path) as led:
        with led.bar_transaction(T0): pass
        other = sqlite3.connect(path, isolation_level=None)                         # a writer that got round the lock
        other.execute("INSERT OR REPLACE INTO meta VALUES ('last_bar', ?)", (iso_utc(T0 + timedelta(hours=5)),)); other.close()
        with pytest.raises(L.StaleBar, match="last bar stored in"):
            with led.bar_transaction(T0 + timedelta(hours=1)): pass
        assert not led.con.in_transaction
        with led.bar_transaction(T0 + timedelta(hours=6)): pass                    # later bars go on


ARGS = ["--start", "2022-01-01", "--end", "2022-12-31T23:00", "--no-progress", "--no-report", "--summary-json", "-"]


def test_two_paper_services_on_one_data_root(tmp_path):
    "A second `cryptotrader paper` on the root of a running one is refused (exit 1, the holder's PID); the first is unharmed."
    solo = run_cli("paper", "--fresh", *ARGS, env={"CRYPTOTRADER_HOME": str(tmp_path / "solo")}, timeout=300)
    assert solo.returncode == 0, solo.stderr
    home = tmp_path / "home"
    env = {"CRYPTOTRADER_HOME": str(home)}
    first = subprocess.Popen([str(BIN / "cryptotrader"), "paper", "--fresh", *ARGS], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, cwd=ROOT, env={**__import__("os").environ, **env})
    ledger = home / "artifacts/crypto/kraken_global/ledger/paper.sqlite"
    deadline = time.monotonic() + 120
    while not ledger.exists() and first.poll() is None and time.monotonic() < deadline: time.sleep(0.02)
    second = run_cli("paper", *ARGS, env=env, timeout=300)                           # the same root while the first runs
    out, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    assert second.returncode == 1, (second.returncode, second.stdout[-500:], second.stderr[-500:])
    assert f"pid {first.pid}" in second.stderr and len(second.stderr.strip().splitlines()) == 1, second.stderr
    assert json_tail(out)["ledger_sha256"] == json_tail(solo.stdout)["ledger_sha256"]   # exactly what a lone run writes
