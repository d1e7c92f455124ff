"""Do the gates reject noise and pass a real edge? The real model and shuffled-label controls over 11 quarter ends (run by hand).

    .venv/bin/python benchmarks/gate_honesty.py                      # bundled Kraken data: real model + 2 controls per date
    .venv/bin/python benchmarks/gate_honesty.py --planted            # the same on a market with a planted, learnable edge
    .venv/bin/python benchmarks/gate_honesty.py --planted --planted-dir DIR   # keep the planted market in DIR (reusable with
                                                                     # `cryptotrader nightly --data-dir DIR`)
    .venv/bin/python benchmarks/gate_honesty.py --dates 2023-03-31 2022-06-30 --controls 3 --json out.json

For every as-of date (default: the 11 quarter ends 2021-03-31 … 2023-09-30, at 03:00 UTC) it trains the real candidate
and `--controls` shuffled-label controls (seeds 0…N-1) with `cryptotrader.ml.train_candidate` and validates each with
`cryptotrader.gates.run_gates` — the functions the nightly notebooks call, with the config's thresholds (20 twins per
validation) — in a fresh temporary data root. It prints one line per candidate (verdict, the gate-3 sub-checks that
failed) and the pass rates. The goal: **0 controls passing**; the real model's rate is what it is. With --planted the
real model should pass on most dates while its controls still fail (power as well as specificity).
Exit code: 1 if any control passed (or, with --planted, if the real model passed on fewer than half the dates).
"""
import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

from cryptotrader.artifacts import ArtifactStore
from cryptotrader.clock import TestClock
from cryptotrader.config import DataPaths, load_config
from cryptotrader.gates import load_validation_panel, run_gates
from cryptotrader.ml import control_model_id, model_id_for, train_candidate

QUARTER_ENDS = ["2021-03-31", "2021-06-30", "2021-09-30", "2021-12-31", "2022-03-31", "2022-06-30", "2022-09-30", "2022-12-31",
                "2023-03-31", "2023-06-30", "2023-09-30"]


def one(cfg, store, paths, as_of, data_dir, control_seed=None):
    "Train and validate one candidate (a control when `control_seed` is given); its row."
    t = time.perf_counter()
    mid = control_model_id(as_of, control_seed) if control_seed is not None else model_id_for(as_of)
    r = train_candidate(cfg, as_of, store, paths=paths, data_dir=data_dir, shuffle_labels=control_seed is not None,
                        seed=control_seed, model_id=mid)
    v = run_gates(store, r.model_id, cfg, load_validation_panel(r.manifest, data_dir), TestClock(as_of), write=False)
    g3 = v.gates["oos_metrics"]
    failed = [f"{n}:{c['check']}" for n, g in v.gates.items() for c in (g.extra.get("checks") or []) if not c["passed"]]
    return {"as_of": as_of[:10], "kind": "control" if control_seed is not None else "real", "seed": control_seed, "model_id": r.model_id,
            "passed": v.passed, "failed": failed, "sharpe": g3.value["sharpe"] if isinstance(g3.value, dict) else None,
            "exposure": g3.value.get("exposure") if isinstance(g3.value, dict) else None,
            "permutation_p": g3.value.get("permutation_p") if isinstance(g3.value, dict) else None,
            "baseline_sharpe": g3.value.get("baseline_sharpe") if isinstance(g3.value, dict) else None,
            "walk_forward_auc": r.manifest["metrics"]["walk_forward"]["auc"], "seconds": round(time.perf_counter() - t, 1)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dates", nargs="+", default=QUARTER_ENDS, help="as-of dates (YYYY-MM-DD, trained at 03:00 UTC)")
    ap.add_argument("--controls", type=int, default=2, help="shuffled-label controls per date (seeds 0…N-1)")
    ap.add_argument("--data-dir", default=None, help="OHLCV folder (default: the bundled data)")
    ap.add_argument("--planted", action="store_true", help="run on a market with a planted edge (cryptotrader.planted)")
    ap.add_argument("--planted-dir", default=None, help="where to write the planted market (default: a temporary folder)")
    ap.add_argument("--json", default=None, help="write every row and the rates to this file")
    a = ap.parse_args()
    cfg = load_config()
    root = Path(tempfile.mkdtemp(prefix="gate-honesty-"))
    data_dir = a.data_dir
    if a.planted:
        from cryptotrader.planted import write_planted_market
        data_dir = Path(a.planted_dir) if a.planted_dir else root / "planted"
        if not (data_dir / "PLANTED.json").exists(): write_planted_market(data_dir, cfg.universe.pairs)
    paths = DataPaths(root / "home")
    store = ArtifactStore.for_area(paths)
    rows = []
    try:
        for d in a.dates:
            as_of = f"{d}T03:00:00Z"
            for seed in [None, *range(a.controls)]:
                r = one(cfg, store, paths, as_of, data_dir, seed)
                rows.append(r)
                print(f"{r['as_of']} {r['kind']:<7}{'' if seed is None else ' ' + str(seed)} {'PASS' if r['passed'] else 'FAIL'}  Sharpe {r['sharpe'] or 0:+.2f} "
                      f"(baseline {r['baseline_sharpe'] or 0:+.2f})  exposure {r['exposure'] or 0:.1%}  p {r['permutation_p'] or float('nan'):.3f}  "
                      f"AUC {r['walk_forward_auc'] or float('nan'):.3f}  {r['seconds']:.0f} s  " + (", ".join(r["failed"]) if not r["passed"] else ""), flush=True)
    finally:
        shutil.rmtree(root / "home", ignore_errors=True)
        if not (a.planted and a.planted_dir): shutil.rmtree(root, ignore_errors=True)
    real = [r for r in rows if r["kind"] == "real"]; ctl = [r for r in rows if r["kind"] == "control"]
    rp, cp = sum(r["passed"] for r in real), sum(r["passed"] for r in ctl)
    market = "planted-edge market" if a.planted else (f"data in {a.data_dir}" if a.data_dir else "bundled Kraken data")
    print(f"\n{market}, {len(a.dates)} dates: real model passed {rp}/{len(real)}; shuffled-label controls passed {cp}/{len(ctl)} (goal: 0)")
    if a.json: Path(a.json).write_text(json.dumps({"market": market, "rows": rows, "real_passed": rp, "real": len(real), "controls_passed": cp, "controls": len(ctl)}, indent=1) + "\n")
    bad = cp > 0 or (a.planted and rp * 2 < len(real))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
