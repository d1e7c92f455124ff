"""`cryptotrader regime` as a user runs it: every timeframe on the bundled data, CSV output, shares, one-line errors."""
import csv
import io
import re
import shutil

import pytest
from conftest import ROOT, run_cli

OHLCV = ROOT / "data" / "ohlcv"
REGIMES = {"RISK_ON", "RISK_OFF", "PANIC"}


def _shares(text):
    "regime -> share (%) from the printed summary."
    return {m[1]: float(m[2]) for m in re.finditer(r"^\s+(RISK_ON|RISK_OFF|PANIC)\s+([\d.]+)%", text, re.M)}


def _rows(path_or_text):
    text = path_or_text.read_text() if hasattr(path_or_text, "read_text") else path_or_text
    return list(csv.DictReader(io.StringIO(text)))


def test_regime_is_listed_in_help():
    r = run_cli("--help")
    assert r.returncode == 0 and "regime" in r.stdout
    r = run_cli("regime", "--help")
    assert r.returncode == 0 and all(f in r.stdout for f in ["--replay", "--pairs", "--timeframe", "--start", "--end", "--csv", "--config"])


@pytest.mark.parametrize("tf,start,end,n_bars,step", [
    ("1h", "2022-01-01", "2022-12-31T23:00:00Z", 8760, "2022-01-01T01:00:00Z"),
    ("4h", "2022-01-01", "2022-12-31T20:00:00Z", 2190, "2022-01-01T04:00:00Z"),   # no 4h file: resampled from 1h
    ("1d", "2019-01-01", "2023-12-31", 1826, "2019-01-02T00:00:00Z"),
])
def test_every_timeframe_writes_one_label_per_bar_and_prints_the_shares(home, tmp_path, tf, start, end, n_bars, step):
    out = tmp_path / f"regime_{tf}.csv"
    r = run_cli("regime", "--timeframe", tf, "--start", start, "--end", end, "--csv", str(out))
    assert r.returncode == 0, r.stderr
    rows = _rows(out)
    assert list(rows[0]) == ["timestamp", "regime"]
    assert len(rows) == n_bars and rows[1]["timestamp"] == step
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", x["timestamp"]) for x in rows)
    assert {x["regime"] for x in rows} <= REGIMES and "PANIC" in {x["regime"] for x in rows}
    shares = _shares(r.stdout)
    assert set(shares) == REGIMES and abs(sum(shares.values()) - 100) < 0.3
    n_panic = sum(x["regime"] == "PANIC" for x in rows)
    assert abs(shares["PANIC"] - 100 * n_panic / n_bars) < 0.06
    assert f"[{tf}]" in r.stdout and f"wrote {out}" in r.stdout


def test_whole_history_1h_panic_is_rare_and_the_crashes_are_panic(home, tmp_path):
    out = tmp_path / "all.csv"
    r = run_cli("regime", "--csv", str(out))
    assert r.returncode == 0, r.stderr
    assert "ADA/USD" in r.stderr and "left out" in r.stderr   # no Kraken 1h file: named, not fatal
    lab = {x["timestamp"]: x["regime"] for x in _rows(out)}
    assert next(iter(lab)) == "2019-01-01T00:00:00Z" and list(lab)[-1] == "2023-09-30T23:00:00Z"
    assert _shares(r.stdout)["PANIC"] < 10
    for day in ["2020-03-12T18:00:00Z", "2021-05-19T14:00:00Z", "2022-06-14T00:00:00Z", "2022-11-09T12:00:00Z"]:
        assert lab[day] == "PANIC", day


def test_csv_to_stdout_puts_the_summary_on_stderr():
    r = run_cli("regime", "--timeframe", "1d", "--start", "2022-11-01", "--end", "2022-11-30", "--csv", "-")
    assert r.returncode == 0, r.stderr
    rows = _rows(r.stdout)
    assert len(rows) == 30 and rows[0] == {"timestamp": "2022-11-01T00:00:00Z", "regime": rows[0]["regime"]}
    assert set(_shares(r.stderr)) == REGIMES


def test_replay_folder_and_pairs(tmp_path):
    d = tmp_path / "replay"
    d.mkdir()
    for f in ["kraken_XBTUSD_1h.csv.gz", "kraken_ETHUSD_1h.csv.gz"]:
        shutil.copy(OHLCV / f, d / f)
    r = run_cli("regime", "--replay", str(d), "--pairs", "BTC/USD,ETH/USD", "--timeframe", "4h", "--start", "2021-05-01", "--end", "2021-05-31", "--csv", "-")
    assert r.returncode == 0, r.stderr
    assert "breadth over 2 pairs" in r.stderr
    rows = _rows(r.stdout)
    assert rows[0]["timestamp"] == "2021-05-01T00:00:00Z" and len(rows) == 30 * 6 + 1


def test_missing_benchmark_exits_2_with_one_line(tmp_path):
    d = tmp_path / "no_btc"
    d.mkdir()
    shutil.copy(OHLCV / "kraken_ETHUSD_1h.csv.gz", d)
    r = run_cli("regime", "--replay", str(d))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert r.stderr.startswith("error: benchmark BTC/USD has no 1h data") and "kraken_XBTUSD_1h" in r.stderr
    ok = run_cli("regime", "--replay", str(d), "--benchmark", "ETH/USD", "--end", "2019-12-31")   # the documented way out
    assert ok.returncode == 0, ok.stderr


@pytest.mark.parametrize("args,msg", [
    (["--start", "2022-13-45"], "--start: cannot read '2022-13-45' as a date or time"),
    (["--end", "tomorrow"], "--end: cannot read 'tomorrow'"),
    (["--start", "2022-02-01", "--end", "2022-01-01"], "is after --end"),
    (["--start", "2030-01-01"], "no BTC/USD 1h bars between 2030-01-01T00:00:00Z"),
    (["--timeframe", "2x"], "unknown timeframe '2x'"),
    (["--benchmark", "NOPE/USD"], "NOPE/USD"),
    (["--replay", "/nonexistent/folder"], "not a folder"),
])
def test_bad_input_exits_2_with_one_line(args, msg):
    r = run_cli("regime", *args)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    assert msg in r.stderr


def _config_with(tmp_path, **regime):
    "The paper config with some `regime:` keys replaced (the rest of the file untouched)."
    text = (ROOT / "config" / "crypto" / "paper.kraken.crypto.global.yaml").read_text()
    for k, v in regime.items():
        text, n = re.subn(rf"^(  {k}:)\s*\S+", rf"\g<1> {v}", text, flags=re.M)
        assert n == 1, k
    path = tmp_path / "paper.yaml"
    path.write_text(text)
    return path


def test_the_breadth_alarm_is_configured_from_the_yaml(home, tmp_path):
    "LUNA, May 2022: the breadth alarm (on by default) labels 9 May PANIC; `panic_breadth: null` in the config switches it off."
    args = ["regime", "--start", "2022-05-01", "--end", "2022-05-31", "--csv", "-"]
    on, off = run_cli(*args), run_cli(*args, "--config", str(_config_with(tmp_path, panic_breadth="null")))
    assert on.returncode == 0 and off.returncode == 0, (on.stderr, off.stderr)
    lab_on, lab_off = ({x["timestamp"]: x["regime"] for x in _rows(r.stdout)} for r in (on, off))
    assert lab_on["2022-05-09T20:00:00Z"] == "PANIC" and lab_off["2022-05-09T20:00:00Z"] != "PANIC"
    assert _shares(on.stderr)["PANIC"] > _shares(off.stderr)["PANIC"] > 0


def test_a_bad_breadth_band_in_the_yaml_exits_2_with_one_line(tmp_path):
    r = run_cli("regime", "--config", str(_config_with(tmp_path, calm_breadth="0.7")))
    assert r.returncode == 2 and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert "calm_breadth (0.7) must be <= panic_breadth (0.6)" in r.stderr
