"""`cryptotrader backtest` as a user runs it, the cost model's effect, and the selector invariants as property tests."""
import json

import numpy as np
import pandas as pd
import pytest
from conftest import run_cli
from hypothesis import given, settings, strategies as st

REPORTS = "artifacts/crypto/kraken_global/reports"


def test_bare_backtest_works_on_the_bundled_data(home):
    r = run_cli("backtest", timeout=300)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("backtest selector · traded book (model: rules-only) · 7 pairs (BTC/USD, ETH/USD, SOL/USD, XRP/USD, DOT/USD, LTC/USD, AVAX/USD) · 1h · 2019-01-01T00:00Z")
    assert lines[1].split() == ["total_return", "cagr", "sharpe", "sortino", "max_drawdown", "turnover", "exposure", "trades"]
    assert lines[2].startswith("selector (traded book)") and lines[3].startswith("buy_and_hold BTC/USD (signal book)")
    assert lines[4].startswith("why they differ: risk manager reduced gross exposure on") and "breaker engaged" in lines[4]
    # the three pairs without Kraken 1h data are named, not fatal
    assert all(f"note: {p} left out" in r.stderr for p in ("ADA/USD", "LINK/USD", "DOGE/USD"))
    report = home / REPORTS / "backtest_selector_1h_20190101_20231231.html"
    assert lines[-1] == f"report: {report}"
    html = report.read_text()
    assert "<table" in html and "data:image/png;base64," in html
    assert (report.parent / (report.name + ".sha256")).exists()


def test_options_json_and_png_report(home, tmp_path):
    png = tmp_path / "out" / "trend.png"
    r = run_cli("backtest", "--strategy", "trend_following", "--pairs", "BTC/USD", "ETH/USD,SOL/USD", "--start", "2022-01-01",
                "--end", "2022-03-31 23:00", "--timeframe", "1h", "--report", str(png), "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert (d["strategy"], d["timeframe"], d["pairs"], d["bars"]) == ("trend_following", "1h", ["BTC/USD", "ETH/USD", "SOL/USD"], 90 * 24)
    assert d["start"] == "2022-01-01T00:00:00+00:00" and d["end"] == "2022-03-31T23:00:00+00:00"
    m = d["metrics"]
    assert d["book"] == "traded" and set(d["references"]) == {"buy_and_hold BTC/USD (signal book)"}
    assert {"total_return", "final_equity", "cagr", "sharpe", "sortino", "max_drawdown", "turnover", "exposure", "trades", "breaker_bars"} <= set(m)
    assert 0 <= m["exposure"] <= 1 and m["max_drawdown"] >= 0 and m["turnover"] >= 0
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert not (home / REPORTS).exists() or not any((home / REPORTS).iterdir())


def test_replay_folder_and_timeframe(home, tmp_path):
    src = pd.read_csv(__import__("conftest").ROOT / "data/ohlcv/kraken_XBTUSD_1d.csv.gz")
    src.to_csv(tmp_path / "kraken_XBTUSD_1d.csv.gz", index=False)
    r = run_cli("backtest", "--replay", str(tmp_path), "--timeframe", "1d", "--pairs", "BTC/USD", "--strategy", "defensive", "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["pairs"] == ["BTC/USD"] and d["bars"] == len(src) and d["report"].startswith(str(home / REPORTS))


@pytest.mark.parametrize("argv,msg", [
    (["--strategy", "moon"], "unknown strategy 'moon'"),
    (["--strategy", "breakot"], "did you mean breakout?"),
    (["--timeframe", "2x"], "unknown timeframe '2x'"),
    (["--start", "2030-01-01"], "no 1h data"),
])
def test_bad_input_exits_2_with_one_line(home, argv, msg):
    r = run_cli("backtest", *argv)
    assert r.returncode == 2, (r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and msg in lines[0], r.stderr
    assert "Traceback" not in r.stderr and r.stdout == ""
    assert not (home / REPORTS).exists() or not any((home / REPORTS).iterdir())


# --- in-process: costs and invariants ---------------------------------------------------------------

@pytest.fixture(scope="module")
def small():
    from cryptotrader.data import load_panel
    from cryptotrader.features import compute_features
    from cryptotrader.regime import label_regimes
    panel = load_panel(["BTC/USD", "ETH/USD", "LTC/USD", "XRP/USD"], "1h", start="2021-04-01", end="2021-07-31 23:00")
    feats = compute_features(panel)
    return panel, feats, label_regimes(feats)


def test_fees_and_slippage_reduce_returns(small):
    from cryptotrader.backtest import run_strategy
    from cryptotrader.config import load_config
    panel, feats, reg = small
    cfg = load_config()
    for name in ["selector", "trend_following", "breakout"]:
        real = run_strategy(name, panel, cfg, features=feats, regimes=reg)
        free = run_strategy(name, panel, cfg, features=feats, regimes=reg, fees=False, slippage=False)
        no_fee = run_strategy(name, panel, cfg, features=feats, regimes=reg, fees=False)
        assert real.metrics["trades"] > 0
        assert free.metrics["total_return"] > no_fee.metrics["total_return"] > real.metrics["total_return"], name
    # a higher fee rung (more 30-day volume) is cheaper
    rich = cfg.model_copy(update={"execution": cfg.execution.model_copy(update={"fee_volume_30d": 10_000_000.0})})
    assert run_strategy("selector", panel, rich, features=feats, regimes=reg).metrics["total_return"] > \
        run_strategy("selector", panel, cfg, features=feats, regimes=reg).metrics["total_return"]


def test_signals_execute_one_bar_later(small):
    """Weights that go long on bar t are filled at bar t+1's open, never at bar t."""
    from cryptotrader.backtest import run_backtest
    panel, _, _ = small
    w = pd.DataFrame(0.0, index=panel.close.index, columns=panel.close.columns)
    w.iloc[100:200, 0] = 1.0
    res = run_backtest(w, panel)
    o = res.portfolio.orders.records_arr
    assert list(o["idx"]) == [101, 201]          # decided at 100 and 200, filled one bar later
    assert np.isclose(o["price"][0], panel.open.iloc[101, 0], rtol=5e-3)


REG = ["RISK_ON", "RISK_OFF", "PANIC"]


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_selector_invariants(small, data):
    from cryptotrader.strategies import STRATEGIES, Selector, SelectorParams
    panel, feats, _ = small
    names = list(STRATEGIES)
    alloc = st.lists(st.tuples(st.sampled_from(names), st.floats(0.05, 0.5)), min_size=1, max_size=2, unique_by=lambda t: t[0])
    mapping = data.draw(st.fixed_dictionaries({r: alloc for r in REG}))
    n = len(panel.close)
    # regimes as runs (realistic dwell) of random lengths
    runs = data.draw(st.lists(st.tuples(st.sampled_from(REG), st.integers(1, 400)), min_size=1, max_size=30))
    labels = np.concatenate([[r] * k for r, k in runs])
    labels = np.resize(labels, n)
    reg = pd.Series(labels, index=panel.close.index)
    sel = Selector(SelectorParams(**{r: [{"strategy": s, "weight": w} for s, w in v] for r, v in mapping.items()}))
    mix, w = sel.mix(reg), sel.weights(feats, panel, reg)
    assert ((mix > 0).sum(axis=1) <= 2).all()                            # never more than two active
    a, panic = w.to_numpy(), (reg == "PANIC").to_numpy()
    assert (a >= 0).all() and (a.sum(axis=1) <= 1 + 1e-9).all()
    assert (a[1:][panic[1:]] <= a[:-1][panic[1:]] + 1e-12).all()         # PANIC never adds long exposure
    if panic[0]: assert (a[0] == 0).all()


def test_slippage_is_the_paper_brokers_model():
    """The research backtest prices fills with the same slippage formula as the paper broker (nbs/31)."""
    from cryptotrader.backtest import slippage_model
    from cryptotrader.broker import slippage_bps_series
    from cryptotrader.config import load_config
    from cryptotrader.data import load_panel
    cfg = load_config()
    panel = load_panel(["BTC/USD", "ETH/USD"], "1h", start="2023-01-01", end="2023-03-31 23:00")
    mine = slippage_model(panel, cfg, traded=1.0) * 1e4
    for sym in panel.symbols:
        theirs = slippage_bps_series(panel.pair(sym), cfg.execution.starting_cash, cfg.execution.slippage, max_share=cfg.execution.max_volume_share)
        traded = panel.volume[sym] > 0                       # (a bar without volume: the broker does not fill, the backtest caps)
        np.testing.assert_allclose(mine[sym][traded].to_numpy(), theirs[traded].to_numpy(), rtol=1e-9)
