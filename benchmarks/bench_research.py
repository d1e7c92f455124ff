"""Speed of the research pipeline against a plain vectorbt run on the same data (run by hand, not a test).

    .venv/bin/python benchmarks/bench_research.py [--repeat 5] [--chunk 25]

Data: 10 pairs × 1 year (2021-07-01 → 2022-06-30) of 1h bars = 8,760 bars × 10 pairs, from the bundled files:
- Kraken BTC/USD, ETH/USD, SOL/USD, LTC/USD, XRP/USD: real Kraken bars for that year;
- ADA/USD, LINK/USD, DOGE/USD: the bundled Binance ADAUSDT/LINKUSDT/DOGEUSDT bars (real, labelled fallback, not Kraken);
- DOT/USD, AVAX/USD: no 1h file covers that year, so REAL Kraken ETH/USD and LTC/USD bars of the year before
  (2020-07-01 → 2021-06-30) are shifted forward by 8,760 bars and used in their place.

Timed (median of --repeat interleaved runs, after one warm-up run each that pays numba's compile/cache load):
1. baseline: a plain vectorbt SMA(50/200) crossover, `vbt.MA.run` + `Portfolio.from_signals`, 10 pairs, fees 0.4 %;
2. pipeline: compute_features + label_regimes + the selector's weights (4 strategies) + run_backtest + metrics;
3. baseline sweep: the SMA crossover over 10 fast × 10 slow windows = 100 combinations, in one vectorbt call;
4. pipeline sweep: 100 combinations (10 trend windows × 10 bands of trend_following): features once, 100 weight frames,
   backtested with `cryptotrader.backtest.sweep` (chunked, one vectorbt call per chunk).
Each is printed with its ratio to the baseline measured in the same process (target: pipeline ≤ 3×).
"""
import argparse
import dataclasses
import statistics
import time
import warnings

import numpy as np
import pandas as pd

warnings.filterwarnings("ignore", category=FutureWarning)
warnings.filterwarnings("ignore", message=".*deprecated.*")

START, END = "2021-07-01", "2022-06-30 23:00"


def ten_pair_year():
    "The benchmark panel (see the module docstring for where each pair's bars come from)."
    from cryptotrader.data import load_panel
    real = load_panel(["BTC/USD", "ETH/USD", "SOL/USD", "XRP/USD", "ADA/USD", "LINK/USD", "LTC/USD", "DOGE/USD"], "1h",
                      start=START, end=END, sources=("kraken", "binance"))
    prev = load_panel(["ETH/USD", "LTC/USD"], "1h", start="2020-07-01", end="2021-06-30 23:00")
    n = len(real)
    assert len(prev) >= n, (len(prev), n)
    frames = {}
    for f in ("open", "high", "low", "close", "volume"):
        df = getattr(real, f).copy()
        shifted = getattr(prev, f).iloc[:n].set_axis(df.index, axis=0)
        df["DOT/USD"], df["AVAX/USD"] = shifted["ETH/USD"].to_numpy(), shifted["LTC/USD"].to_numpy()
        frames[f] = df[["BTC/USD", "ETH/USD", "SOL/USD", "XRP/USD", "ADA/USD", "DOT/USD", "LINK/USD", "LTC/USD", "AVAX/USD", "DOGE/USD"]]
    panel = dataclasses.replace(real, **frames)
    srcs = {**real.report.sources, "DOT/USD": "kraken ETH/USD 2020-07→2021-06, shifted +8760 bars",
            "AVAX/USD": "kraken LTC/USD 2020-07→2021-06, shifted +8760 bars"}
    return panel, srcs


def timed(fns, repeat):
    """Median wall time of each function over `repeat` interleaved rounds (after one warm-up each), and their last results.

    Interleaving makes the ratios robust to the machine's load drifting during the run."""
    outs = [fn() for fn in fns]
    ts = [[] for _ in fns]
    for _ in range(repeat):
        for i, fn in enumerate(fns):
            t0 = time.perf_counter(); outs[i] = fn(); ts[i].append(time.perf_counter() - t0)
    return [(statistics.median(t), o) for t, o in zip(ts, outs)]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--chunk", type=int, default=25, help="weight frames per vectorbt call in the sweep")
    args = ap.parse_args()

    import vectorbt as vbt
    from cryptotrader.backtest import run_backtest, sweep
    from cryptotrader.config import load_config
    from cryptotrader.features import FeatureParams, compute_features
    from cryptotrader.regime import label_regimes
    from cryptotrader.strategies import Selector, get_strategy
    from cryptotrader.universe import load_universe

    cfg = load_config()
    panel, srcs = ten_pair_year()
    uni = load_universe(cfg, symbols=list(panel.close.columns))
    print(f"data: {panel.close.shape[0]} bars × {panel.close.shape[1]} pairs, {panel.index[0]:%Y-%m-%d} → {panel.index[-1]:%Y-%m-%d} (1h)")
    for s, src in srcs.items(): print(f"  {s:<9} {src}")
    close = panel.close.ffill().bfill().set_axis(panel.close.index.tz_convert(None), axis=0)   # tz-naive for vectorbt

    def baseline():
        fast, slow = vbt.MA.run(close, 50), vbt.MA.run(close, 200)
        pf = vbt.Portfolio.from_signals(close, fast.ma_crossed_above(slow), fast.ma_crossed_below(slow), fees=0.004, freq="1h")
        return pf.total_return()

    def pipeline():
        f = compute_features(panel)
        reg = label_regimes(f)
        w = Selector().weights(f, panel, reg)
        return run_backtest(w, panel, uni, cfg).metrics

    fw, bw = list(range(10, 110, 10)), list(range(120, 420, 30))
    def baseline_sweep():
        fast, slow = vbt.MA.run(close, fw, short_name="fast"), vbt.MA.run(close, bw, short_name="slow")
        # 10 fast × 10 slow × 10 pairs = 1,000 columns, one vectorbt call
        f_ma = np.repeat(fast.ma.to_numpy().reshape(len(close), len(fw), 10), len(bw), axis=1)
        s_ma = np.tile(slow.ma.to_numpy().reshape(len(close), len(bw), 10), (1, len(fw), 1))
        f_ma, s_ma = f_ma.reshape(len(close), -1), s_ma.reshape(len(close), -1)
        above = f_ma > s_ma
        prev = np.vstack([np.zeros((1, above.shape[1]), bool), above[:-1]])
        c = np.tile(close.to_numpy(), (1, len(fw) * len(bw)))
        pf = vbt.Portfolio.from_signals(pd.DataFrame(c, index=close.index), above & ~prev, ~above & prev, fees=0.004, freq="1h")
        return pf.total_return()

    windows, bands = (50, 100, 150, 200, 300, 400, 500, 600, 720, 900), np.linspace(0.0, 0.09, 10)
    def pipeline_sweep():
        f = compute_features(panel, FeatureParams(trend_windows=windows))
        ws = {(win, round(float(b), 3)): get_strategy("trend_following", {"trend_feature": f"trend_{win}", "band": float(b)}).target_weights(f, panel)
              for win in windows for b in bands}
        return sweep(ws, panel, uni, cfg, chunk=args.chunk)

    (t_base, r_base), (t_pipe, m) = timed([baseline, pipeline], args.repeat)
    (t_bsw, r_bsw), (t_psw, tab) = timed([baseline_sweep, pipeline_sweep], max(1, args.repeat // 2))
    assert len(r_bsw) == 1000 and len(tab) == 100

    # where the pipeline's time goes
    parts = {}
    t0 = time.perf_counter(); f = compute_features(panel); parts["features (lazy: frames are built by their first user)"] = time.perf_counter() - t0
    t0 = time.perf_counter(); reg = label_regimes(f); parts["regime"] = time.perf_counter() - t0
    t0 = time.perf_counter(); w = Selector().weights(f, panel, reg); parts["selector (4 strategies)"] = time.perf_counter() - t0
    t0 = time.perf_counter(); run_backtest(w, panel, uni, cfg); parts["backtest (vectorbt + metrics)"] = time.perf_counter() - t0

    print(f"\n{'run':<58} {'seconds':>8} {'× baseline':>11}")
    print(f"{'baseline: vectorbt SMA(50/200) crossover, 10 pairs':<58} {t_base:8.3f} {1:11.2f}")
    print(f"{'pipeline: features+regime+selector+backtest+metrics':<58} {t_pipe:8.3f} {t_pipe / t_base:11.2f}")
    for k, v in parts.items(): print(f"{'  ' + k:<58} {v:8.3f} {v / t_base:11.2f}")
    print(f"{'baseline sweep: SMA crossover, 100 combos × 10 pairs':<58} {t_bsw:8.3f} {t_bsw / t_base:11.2f}")
    print(f"{f'pipeline sweep: trend_following, 100 combos (chunk {args.chunk})':<58} {t_psw:8.3f} {t_psw / t_base:11.2f}")
    print(f"{'pipeline sweep vs baseline sweep':<58} {'':8} {t_psw / t_bsw:11.2f}")
    print(f"\npipeline within 3× of the plain vectorbt run: {'YES' if t_pipe <= 3 * t_base else 'NO'} ({t_pipe / t_base:.2f}×)")
    print(f"selector on this year: total_return {m['total_return']:.1%}, sharpe {m['sharpe']:.2f}, max_drawdown {m['max_drawdown']:.1%}, "
          f"turnover {m['turnover']:.3f}/day")
    best = tab.sort_values("sharpe", ascending=False).head(3)
    print("best 3 of the sweep by Sharpe:\n" + best[["total_return", "sharpe", "max_drawdown", "turnover"]].round(3).to_string())


if __name__ == "__main__":
    main()
