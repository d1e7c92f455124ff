"""Throughput of `cryptotrader sweep`'s tasks in-process vs on a local Dask cluster of 2 worker processes, and the
scheduler's overhead per task (run by hand, not a test).

    flock -x /tmp/bench.lock .venv/bin/python benchmarks/bench_sweep.py [--repeat 5] [--workers 2] [--batch 4] [--noop 2000]

Workload: the screening tasks of a real study — trend_following over a 32-point grid (16 bands × 2 trend features)
× the 7 pairs with bundled Kraken 1h bars × 4 walk-forward folds, 2019-01-01 → 2023-12-31 (43,824 bars; the data
before 2020 is the warm-up of the pairs that start later). A task = one pair × `--batch` parameter sets × every fold
(features once, one vectorbt call for the batch); on Dask `run_tasks` sends them in chunks (`chunk_spans`: guided
self-scheduling, 8 tasks at most, single tasks at the end). Timed: `run_tasks` over every task (the cluster run includes
the scatter of the data to both workers), after one warm-up run of each that pays the imports and numba's cache load;
the median (and the best) of `--repeat` interleaved runs. Then `--noop` empty tasks on the same cluster: the scheduler's overhead
per Dask task (submit → result), to compare with a real task's duration, and the CPU seconds of each task's own thread
in both modes (equal when nothing in the workers slows the tasks down; not affected by other load). Both modes run single-threaded per process
(OMP/MKL/OpenBLAS threads 1), so the comparison is one core vs two. The machine is shared: `uptime` is printed
before and after, and the CPU seconds that other processes took during each timed run (the machine's busy time from
/proc/stat minus this process and its workers); a run is only meaningful when that is near zero.
"""
import os

for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse
import statistics
import subprocess
import time
import warnings

warnings.filterwarnings("ignore")

PAIRS = ["BTC/USD", "ETH/USD", "SOL/USD", "XRP/USD", "DOT/USD", "LTC/USD", "AVAX/USD"]
GRID = {"band": tuple(round(0.01 * i, 2) for i in range(16)), "trend_feature": ("trend_50", "trend_200")}


def _noop(data, i):
    return i


def _busy() -> float:
    "CPU seconds the whole machine has been busy (Linux /proc/stat; 0 elsewhere)."
    try:
        v = [int(x) for x in open("/proc/stat").readline().split()[1:9]]
    except OSError:
        return 0.0
    return (sum(v) - v[3] - v[4]) / os.sysconf("SC_CLK_TCK")


def _own() -> float:
    "CPU seconds of this process and its children (the workers)."
    import psutil
    me = psutil.Process()
    return sum(sum(p.cpu_times()[:2]) for p in [me, *me.children(recursive=True)] if p.is_running())


def _cpu(data, task):
    "CPU seconds of the task's own thread (independent of how busy the machine is)."
    from cryptotrader.sweep import run_task
    t = time.thread_time()
    run_task(data, task)
    return time.thread_time() - t


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--noop", type=int, default=2000)
    a = ap.parse_args()
    from cryptotrader.config import load_config
    from cryptotrader.service import replay_inputs, replay_spec
    from cryptotrader.sweep import Study, dask_client, grid_combos, make_tasks, prepare, run_task, run_tasks
    print("load:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    cfg = load_config()
    spec = replay_spec(cfg, None, PAIRS, "1h", None, None)
    uni, history, panel, _ = replay_inputs(cfg, spec)
    study = Study("trend_following", GRID, tuple(panel.symbols), folds=4, batch=a.batch)
    data = prepare(study, cfg, history, panel.index[0], uni)
    tasks = make_tasks(study, grid_combos(GRID))
    print(f"study: {len(grid_combos(GRID))} parameter sets × {len(study.units())} pairs × {study.folds} folds, {len(panel):,} bars; "
          f"{len(tasks)} tasks of {a.batch} parameter sets")
    client, cluster = dask_client(None, a.workers)
    try:
        run_tasks(run_task, data, tasks[:1], workers=0)                 # warm-up: imports, numba cache
        run_tasks(run_task, data, tasks[: 2 * a.workers], client=client)
        t_in, t_dk, same, other = [], [], True, []
        for _ in range(a.repeat):
            b, o = _busy(), _own()
            t = time.perf_counter(); r_in = run_tasks(run_task, data, tasks, workers=0); t_in.append(time.perf_counter() - t)
            t = time.perf_counter(); r_dk = run_tasks(run_task, data, tasks, client=client); t_dk.append(time.perf_counter() - t)
            other.append(max(0.0, (_busy() - b) - (_own() - o)))
            same &= all(x[0].equals(y[0]) and x[1].equals(y[1]) for x, y in zip(r_in, r_dk))
        n = len(tasks)
        for label, f in (("median", statistics.median), ("best", min)):
            ti, td = f(t_in), f(t_dk)
            print(f"{label} of {a.repeat}: in-process {n / ti:6.2f} tasks/s ({ti:.2f} s, {ti / n * 1000:.0f} ms per task) · "
                  f"Dask, {a.workers} worker processes {n / td:6.2f} tasks/s ({td:.2f} s) · speed-up {ti / td:.2f}×")
        print(f"runs (s): in-process {', '.join(f'{x:.2f}' for x in t_in)}; Dask {', '.join(f'{x:.2f}' for x in t_dk)}; identical results: {same}")
        print(f"speed-up of each pair of runs: {', '.join(f'{x / y:.2f}×' for x, y in zip(t_in, t_dk))}; "
              f"CPU seconds taken by other processes meanwhile: {', '.join(f'{x:.2f}' for x in other)}")
        ti = statistics.median(t_in)
        c_in = sum(_cpu(data, t) for t in tasks)
        dd = client.scatter(data, broadcast=True, hash=False)
        c_dk = sum(client.gather([client.submit(_cpu, dd, t, pure=False) for t in tasks]))
        print(f"CPU per task (the task's thread): in-process {c_in / n * 1000:.0f} ms · on a worker {c_dk / n * 1000:.0f} ms "
              f"({c_dk / c_in:.2f}×): what a busy machine cannot change")
        from distributed import wait
        client.run(lambda: None)
        t = time.perf_counter()
        futs = [client.submit(_noop, None, i, pure=False) for i in range(a.noop)]
        wait(futs)
        assert [f.result() for f in futs[:5]] == list(range(5))
        to = time.perf_counter() - t
        print(f"scheduler overhead: {to / a.noop * 1000:.2f} ms per Dask task ({a.noop} empty tasks in {to:.2f} s); "
              f"{to / a.noop / (ti / n):.1%} of a real task's in-process duration")
    finally:
        client.close(); cluster.close()
    print("load:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())


if __name__ == "__main__":
    main()
