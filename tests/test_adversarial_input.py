"""Adversarial input suite (issue 12, item 8): bad input on every command is refused with one `error:` line on stderr and
exit 2 (no traceback, nothing done first), and input that used to be accepted but wrong (non-finite or absurd prices,
infinite config values, an output folder that does not exist) is refused or dropped by a documented rule. Most cases run
in-process (`cryptotrader.cli._run`) to stay fast; two run the console script to show what a user sees. Every test here
failed on the code before the fix, except the `*_still_*` controls."""
import gzip
import json
import socket
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import run_cli

from cryptotrader.cli import _run
from cryptotrader.config import BUNDLED_DATA, PAPER_CONFIG
from cryptotrader.data import validate_ohlcv

SRC = BUNDLED_DATA / "ohlcv" / "kraken_XBTUSD_1h.csv.gz"
WEEK = ["--pairs", "BTC/USD", "--start", "2019-03-03", "--end", "2019-03-06", "--no-report", "--no-progress"]
BAD_ROW = 1500      # 2019-03-04T12:00Z in the bundled BTC/USD 1h file: inside the replayed range (WEEK)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    "Folders of one BTC/USD 1h file each: all rows invalid, a close of 1e300, a high of inf, and the row removed."
    base = tmp_path_factory.mktemp("data")
    lines = gzip.open(SRC, "rt").read().splitlines()
    hdr, rows = lines[0], lines[1:3000]
    def write(name, rs):
        d = base / name; d.mkdir()
        with gzip.open(d / SRC.name, "wt") as f: f.write("\n".join([hdr, *rs]) + "\n")
        return d
    def patch(col, value):
        rs = list(rows); p = rs[BAD_ROW].split(","); p[col] = value; rs[BAD_ROW] = ",".join(p); return rs
    (base / "empty_dir").mkdir()
    return {"allbad": write("allbad", ["x,y,z,w,v,u", "1546300800000,-1,-1,-1,-1,-1"]),
            "huge": write("huge", patch(4, "1e300")), "inf": write("inf", patch(2, "inf")),
            "clean": write("clean", rows[:BAD_ROW] + rows[BAD_ROW + 1:]), "empty_dir": base / "empty_dir",
            "row_ts": pd.Timestamp(int(rows[BAD_ROW].split(",")[0]), unit="ms", tz="UTC")}


def _config(tmp_path: Path, **sections) -> str:
    raw = yaml.safe_load(PAPER_CONFIG.read_text())
    for sec, kv in sections.items(): raw[sec] = {**raw[sec], **kv}
    p = tmp_path / f"cfg{len(list(tmp_path.glob('cfg*.yaml')))}.yaml"; p.write_text(yaml.safe_dump(raw)); return str(p)


@pytest.fixture
def busy_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen()
    yield s.getsockname()[1]
    s.close()


def _cases(files, tmp, busy):
    "(argv, a fragment the error line must contain): each must exit 2 with one error line and no traceback."
    missing = tmp / "no_such_folder"
    return [
        (["paper", "--replay", str(files["allbad"]), *WEEK, "--fresh"], "no valid rows"),
        (["backtest", "--replay", str(files["allbad"]), "--pairs", "BTC/USD", "--no-progress"], "no valid rows"),
        (["regime", "--replay", str(files["allbad"]), "--pairs", "BTC/USD"], "no valid rows"),
        (["paper", *WEEK, "--fresh", "--summary-json", str(missing / "s.json")], "--summary-json"),
        (["paper", *WEEK, "--fresh", "--summary-json", str(tmp)], "--summary-json"),
        (["regime", "--pairs", "BTC/USD", "--start", "2023-01-01", "--end", "2023-01-02", "--csv", str(missing / "r.csv")], "--csv"),
        (["regime", "--pairs", "BTC/USD", "--start", "2023-01-01", "--end", "2023-01-02", "--csv", str(tmp)], "--csv"),
        (["testing", "kraken-server", "--port", "99999", "--duration", "1"], "--port"),
        (["testing", "kraken-server", "--port", "-5", "--duration", "1"], "--port"),
        (["testing", "kraken-server", "--port", str(busy), "--duration", "1"], "in use"),
        (["testing", "kraken-server", "--duration", "-1"], "--duration"),
        (["--log-level", "BOGUS", "config"], "--log-level"),
        (["config", "--config", _config(tmp, execution={"starting_cash": float("inf")})], "execution.starting_cash"),
        (["paper", "--config", _config(tmp, execution={"starting_cash": float("inf")}), *WEEK, "--fresh"], "execution.starting_cash"),
        (["config", "--config", _config(tmp, execution={"starting_cash": 1e300})], "execution.starting_cash"),
        (["config", "--config", _config(tmp, execution={"fee_volume_30d": float("inf")})], "execution.fee_volume_30d"),
        (["config", "--config", _config(tmp, gates={"min_sharpe": float("nan")})], "gates.min_sharpe"),
        (["config", "--config", _config(tmp, risk={"kill_switch_file": "../../KILL"})], "risk.kill_switch_file"),
        (["nightly", "--force", "--as-of", "2023-03-31", "--data-dir", "/nonexistent"], "--data-dir"),
        (["nightly", "--force", "--as-of", "2023-03-31", "--data-dir", str(files["empty_dir"])], "--data-dir"),
        (["nightly", "--force", "--as-of", "2030-01-01"], "--as-of"),            # no data in the training window: papermill ran, then failed
        (["nightly", "--force", "--as-of", "2010-01-01"], "--as-of"),
        (["paper", "--pairs", "BTC/USD", "--timeframe", "7h", "--no-report", "--no-progress", "--fresh"], "timeframe"),
        (["backtest", "--pairs", "BTC/USD", "--timeframe", "7h", "--no-progress"], "timeframe"),
        (["regime", "--pairs", "BTC/USD", "--timeframe", "7h"], "timeframe"),
    ]


N_CASES = 25


def test_every_bad_input_is_one_error_line_and_exit_2(files, tmp_path, home, busy_port):
    cases = _cases(files, tmp_path, busy_port)
    assert len(cases) == N_CASES
    failures = []
    for argv, fragment in cases:
        t0 = time.monotonic()
        try: code, out, err = _run(argv)
        except BaseException as e: failures.append((argv, f"raised {type(e).__name__}: {e}")); continue
        last = err.strip().splitlines()[-1] if err.strip() else ""
        if code != 2 or not last.startswith("error:") or fragment not in last or "Traceback" in err:
            failures.append((argv, code, last[:200]))
        if time.monotonic() - t0 > 20: failures.append((argv, f"took {time.monotonic() - t0:.0f} s: checked too late"))
    assert not failures, "\n".join(map(str, failures))
    assert not (tmp_path / "no_such_folder").exists()                  # no output folder was created


def test_the_console_script_prints_one_line_not_a_traceback(files, home):
    for args in (["--log-level", "BOGUS", "config"], ["data", "validate", "--replay", str(files["allbad"])]):
        r = run_cli(*args)
        assert "Traceback" not in r.stderr, r.stderr
    r = run_cli("--log-level", "BOGUS", "config")
    assert r.returncode == 2 and r.stderr.strip().startswith("error: --log-level") and len(r.stderr.strip().splitlines()) == 1


def test_summary_json_is_checked_before_the_replay(tmp_path, home):
    t0 = time.monotonic()
    code, out, err = _run(["paper", *WEEK, "--summary-json", str(tmp_path / "missing/s.json")])
    assert code == 2 and "--summary-json" in err
    assert not (home / "artifacts/crypto/kraken_global/ledger/paper.sqlite").exists(), "the replay ran before the check"


def test_nightly_checks_the_data_dir_before_papermill(home):
    code, out, err = _run(["nightly", "--force", "--as-of", "2023-03-31", "--data-dir", "/nonexistent"])
    assert code == 2 and "--data-dir" in err
    assert not (home / "artifacts/crypto/kraken_global/reports").exists() or not any((home / "artifacts/crypto/kraken_global/reports").iterdir())


# --- data validation: non-finite and absurd prices -------------------------------------------------------------------

def test_data_validate_refuses_a_file_whose_rows_are_all_invalid(files):
    code, out, err = _run(["data", "validate", "--replay", str(files["allbad"])])
    assert code == 1 and "REFUSED" in out and "no valid rows" in out and "Traceback" not in err   # exit 1: a file refused (the command's contract)


@pytest.mark.parametrize("which,problem", [("huge", "spike"), ("inf", "nonfinite")])
def test_data_validate_drops_non_finite_and_absurd_prices(files, which, problem):
    code, out, err = _run(["data", "validate", "--replay", str(files[which]), "--json"])
    rep = json.loads(out)[0]
    assert code == 0 and rep["counts"].get(problem) == 1 and rep["rows_kept"] == rep["rows_read"] - 1, rep


def test_a_replay_with_a_bad_price_equals_the_replay_without_that_row(files, tmp_path, monkeypatch):
    sums = {}
    for which in ("clean", "huge", "inf"):
        monkeypatch.setenv("CRYPTOTRADER_HOME", str(tmp_path / which))
        code, out, err = _run(["paper", "--replay", str(files[which]), *WEEK, "--summary-json", str(tmp_path / f"{which}.json")])
        assert code == 0, err
        s = json.loads((tmp_path / f"{which}.json").read_text())
        sums[which] = {k: s[k] for k in ("final_equity", "trades", "orders", "fees")}
    assert sums["huge"] == sums["clean"] and sums["inf"] == sums["clean"], sums


def _frame(closes, highs=None):
    n = len(closes)
    idx = pd.date_range("2023-01-01", periods=n, freq="1h", tz="UTC", name="timestamp")
    c = np.array(closes, float)
    h = np.array(highs, float) if highs is not None else c * 1.01
    return pd.DataFrame({"open": c, "high": h, "low": np.minimum(c * 0.99, h), "close": c, "volume": 1.0}, index=idx)


@pytest.mark.parametrize("bad,problem", [
    (dict(closes=[100, 101, 1e300, 102, 103]), "spike"),            # an absurd close
    (dict(closes=[100, 101, 102, 103, 104], highs=[101, 102, np.inf, 104, 105]), "nonfinite"),
    (dict(closes=[100, 101, 102, 103, 104], highs=[101, 102, -np.inf, 104, 105]), "nonfinite"),
    (dict(closes=[100, 101, 5000, 102, 103]), "spike"),             # 50x both neighbours
    (dict(closes=[100, 101, 1, 102, 103]), "spike"),                # 1/100 of both neighbours
    (dict(closes=[5000, 100, 101, 102, 103]), "spike"),             # the first bar, against the next two
    (dict(closes=[100, 101, 102, 103, 5000]), "spike"),             # the last bar, against the previous two
])
def test_validation_drops_non_finite_and_spiking_bars(bad, problem):
    df, rep = validate_ohlcv(_frame(**bad), "1h")
    assert rep.counts[problem] == 1 and len(df) == 4 and np.isfinite(df.to_numpy()).all() and df["high"].max() < 1000


def test_real_moves_are_still_kept():
    # a crash that stays down (LUNA, May 2022) and a tenfold rally are moves, not spikes: kept
    for closes in ([100, 50, 5, 0.5, 0.4], [1, 2, 4, 8, 16], [100, 100, 10_000, 10_000, 10_000]):
        df, rep = validate_ohlcv(_frame(closes), "1h")
        assert len(df) == 5 and not rep.counts["spike"], (closes, rep.counts)
