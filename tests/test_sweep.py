"""`cryptotrader sweep` on a real Dask cluster: a `dask scheduler` and two `dask worker` processes on 127.0.0.1,
one worker killed mid-study, and the same Parquet files as the in-process run."""
import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pandas as pd

from conftest import BIN, ROOT, run_cli

STUDY = ["sweep", "--strategy", "trend_following", "--pairs", "BTC/USD,ETH/USD", "--start", "2023-01-01", "--end", "2023-03-31",
         "--grid", "band=0,0.01,0.02,0.03,0.05,0.075,0.1,0.15", "trend_feature=trend_50,trend_200", "--folds", "3", "--batch", "1", "--top", "1",
         "--json", "--no-progress"]
TRIALS = 16
TASKS = TRIALS * 2       # 16 parameter sets × 2 pairs, one per task
FILES = ("results.parquet", "summary.parquet", "final.parquet", "final_equity.parquet", "study.json")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(args, log: Path, out: Path | None = None) -> subprocess.Popen:
    return subprocess.Popen([str(BIN / args[0]), *args[1:]], stdout=(out or log).open("wb"), stderr=log.open("wb") if out else subprocess.STDOUT, cwd=ROOT,
                            env={**os.environ, "PYTHONWARNINGS": "ignore"}, start_new_session=True)


def _stop(p: subprocess.Popen) -> None:
    if p.poll() is None:
        os.killpg(p.pid, signal.SIGKILL)
    p.wait(timeout=10)


def test_scheduler_with_a_worker_killed_mid_study_gives_the_in_process_files(home, tmp_path):
    port = _free_port()
    addr = f"tcp://127.0.0.1:{port}"
    procs = [_start(["dask", "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"], tmp_path / "scheduler.log")]
    try:
        time.sleep(0.5)
        workers = [_start(["dask", "worker", addr, "--nthreads", "1", "--no-nanny", "--host", "127.0.0.1", "--no-dashboard",
                           "--name", f"w{i}", "--preload", "vectorbt"], tmp_path / f"worker{i}.log") for i in range(2)]
        procs += workers
        # the reference, in this machine's one process, while the workers start and import vectorbt
        ref = run_cli(*STUDY, "--workers", "0", "--out", str(tmp_path / "inproc"))
        assert ref.returncode == 0, ref.stderr
        a = json.loads(ref.stdout)
        assert a["tasks_run"] == TASKS and a["trials"] == TRIALS

        run = _start(["cryptotrader", *STUDY, "--scheduler", addr, "--out", str(tmp_path / "dask")], tmp_path / "sweep.log", tmp_path / "sweep.json")
        procs.append(run)
        parts, done_at_kill = None, None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and run.poll() is None:
            found = list((tmp_path / "dask").glob("sweeps/*/parts/*.rows.parquet"))
            if found:                                   # the study is under way: lose a worker now
                done_at_kill = len(found)
                os.killpg(workers[0].pid, signal.SIGKILL)
                parts = found[0].parent
                break
            time.sleep(0.02)
        assert done_at_kill is not None, (tmp_path / "sweep.log").read_text()[-2000:]
        assert done_at_kill < TASKS and not (parts.parent / "results.parquet").exists()   # killed mid-run
        assert run.wait(timeout=90) == 0, (tmp_path / "sweep.log").read_text()[-2000:]
        assert workers[0].poll() is not None and workers[1].poll() is None
        b = json.loads((tmp_path / "sweep.json").read_text())
        assert b["study_id"] == a["study_id"] and b["tasks_run"] == TASKS
        fa, fb = Path(a["folder"]), Path(b["folder"])
        for f in FILES:
            assert (fa / f).read_bytes() == (fb / f).read_bytes(), f
        rows = pd.read_parquet(fb / "results.parquet")
        assert len(rows) == TASKS * 3 and (rows.trials == TRIALS).all() and rows.dsr.between(0, 1).all()
        assert len(list(parts.glob("*.rows.parquet"))) == TASKS
        html = (fb / "report.html").read_text()
        assert "probability of backtest overfitting" in html and "deflated Sharpe" in html and html.count("data:image/png;base64,") == 2
    finally:
        for p in reversed(procs):
            _stop(p)


def test_unreachable_scheduler_is_exit_1(home):
    r = run_cli("sweep", "--strategy", "breakout", "--pairs", "ETH/USD", "--start", "2023-03-01", "--grid", "entry_window=72",
                "--folds", "1", "--scheduler", f"tcp://127.0.0.1:{_free_port()}", "--no-progress")
    assert r.returncode == 1 and r.stderr.strip().splitlines()[-1].startswith("error: --scheduler"), r.stderr
    assert "cannot connect" in r.stderr and "Traceback" not in r.stderr
