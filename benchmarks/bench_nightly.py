"""Time a full nightly run — papermill train + validate + HTML render — on the bundled data (run by hand, not a test).

    .venv/bin/python benchmarks/bench_nightly.py [--as-of 2023-09-30T03:05:00Z] [--repeat 1]

Uses the paper config: its 10 pairs (7 have Kraken 1h data in the bundle), 1h bars, `nightly.lookback_days` (365) of
history plus 60 days of warm-up, 90 days held out for gate 3. Runs `cryptotrader.nightly.run_nightly` with a test clock
inside the training window, in a fresh temporary data root (CRYPTOTRADER_HOME is not touched). Prints the time of each
step (kernel start + imports + work per notebook, and the HTML rendering) and the total. Target: < 3 minutes on the
2-core reference machine, so the 2-hour window holds the run with a wide margin even at 10× the data.
"""
import argparse
import shutil
import tempfile
import time
from pathlib import Path

from cryptotrader.clock import TestClock
from cryptotrader.config import DataPaths, load_config
from cryptotrader.nightly import run_nightly

TARGET_S = 180


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--as-of", default="2023-09-30T03:05:00Z", help="training as-of (default: the end of the bundled data)")
    ap.add_argument("--repeat", type=int, default=1)
    a = ap.parse_args()
    cfg = load_config()
    worst = 0.0
    for k in range(a.repeat):
        root = Path(tempfile.mkdtemp(prefix="bench-nightly-"))
        try:
            t = time.perf_counter()
            r = run_nightly(cfg, TestClock("2026-01-01T03:05:00Z"), a.as_of, paths=DataPaths(root))
            wall = time.perf_counter() - t
        finally:
            shutil.rmtree(root, ignore_errors=True)
        worst = max(worst, wall)
        steps = ", ".join(f"{s} {r.timings.get(s, float('nan')):.1f} s" for s in ("train", "render_train", "validate", "render_validate"))
        print(f"run {k + 1}: {r.model_id} {r.status} — {steps}; total {wall:.1f} s" + (f" ({r.error[:120]})" if r.error and r.status != "FAIL" else ""))
    ok = worst < TARGET_S
    print(f"nightly run (train + validate + render, bundled data): {worst:.1f} s — target < {TARGET_S} s: {'MET' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
