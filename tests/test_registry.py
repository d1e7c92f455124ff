"""The model registry under stress: random promote/rollback sequences with crashes at every step (simulated and a real
SIGKILL), concurrent processes, and tampering with any file. What a notebook cannot test."""
import io
import json
import multiprocessing as mp
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from conftest import ROOT, run_cli

import cryptotrader.registry as reg
from cryptotrader.artifacts import ArtifactStore, IntegrityError, sha256_bytes
from cryptotrader.clock import TestClock
from cryptotrader.config import DataPaths
from cryptotrader.registry import (AUDIT_LOG, GENESIS, REQUIRED_GATES, RegistryRefused, candidate_dir, load_approved, promote,
                                   read_pointer, recover, registry_lock, rollback, validation_status, verify_audit,
                                   verify_registry, write_manifest, write_validation)

PAPER, LIVE = reg.configured_envs()
ENVS = (PAPER, LIVE)
GOOD = [f"crypto_kraken_model_2026010{i}_040000" for i in range(1, 5)]
FAILED, NO_REPORTS = "crypto_kraken_model_20260105_040000", "crypto_kraken_model_20260106_040000"
MODELS = GOOD + [FAILED, NO_REPORTS]
STEPS = ("locked", "recovered", "checked", "audit_appended", "mirrored", "prev_written", "committed")
# crashes inside a write: a torn audit line, an atomic_write that left its temp file but never renamed it
IN_WRITE = ("torn_audit_line", "prev_tmp_not_renamed", "pointer_tmp_not_renamed")


def cli(*args):
    "Run `cryptotrader ARGS` in this process (the subprocess runs are in test_cli_end_to_end): (exit code, stdout, stderr)."
    from cryptotrader.cli import main
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try: code = main(list(args))
        except SystemExit as e: code = e.code
    return code, out.getvalue(), err.getvalue()


class Crash(BaseException):
    "A simulated crash (BaseException: no `except Exception` can swallow it)."


def _candidate(store, mid, passed=True, reports=True):
    "A fake candidate built with the registry's own pipeline helpers."
    d = candidate_dir(store, mid)
    d.mkdir(parents=True)
    (d / "model.skops").write_bytes(os.urandom(64) + mid.encode())
    (d / "sub").mkdir()
    (d / "sub" / "calibration.json").write_text(json.dumps({"bins": [0.1, 0.5, 0.9]}))
    write_manifest(store, mid, feature_schema={"names": ["ret_1h"], "dtypes": ["float64"]})
    gates = {g: {"passed": passed or g != "risk", "value": 1.0} for g in REQUIRED_GATES}
    write_validation(store, mid, gates, passed)
    if reports:
        store.write_text(f"reports/{mid}/validate.html", f"<html>{mid}</html>")


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    "A data root with four promotable candidates, one that failed a gate and one without evidence reports."
    root = tmp_path_factory.mktemp("template") / "data"
    store = ArtifactStore.for_area(DataPaths(root).create())
    for m in GOOD: _candidate(store, m)
    _candidate(store, FAILED, passed=False)
    _candidate(store, NO_REPORTS, reports=False)
    return root


def _fresh(template, dest) -> ArtifactStore:
    if dest.exists(): shutil.rmtree(dest)
    shutil.copytree(template, dest, symlinks=True)
    return ArtifactStore.for_area(DataPaths(dest))


def _records(store):
    p = store.resolve(AUDIT_LOG)
    raws = p.read_bytes().splitlines() if p.exists() else []
    return [(sha256_bytes(r), json.loads(r)) for r in raws]


def replay(store) -> tuple[dict, list]:
    "The (approved, previous) of each env implied by the audit log's effective lines, and those lines."
    recs = _records(store)
    aborted = {r["aborted_line_sha256"] for _, r in recs if r["action"] == "abort"}
    state, effective = {e: (None, None) for e in ENVS}, []
    for sha, r in recs:
        if r["action"] == "abort" or sha in aborted: continue
        cur, prev = state[r["env"]]
        if r["action"] == "promote":
            assert r["previous_model_id"] == cur
            state[r["env"]] = (r["model_id"], cur)
        else:
            assert (r["model_id"], r["previous_model_id"]) == (prev, cur)
            state[r["env"]] = (prev, cur)
        effective.append((r["action"], r["env"], r["model_id"]))
    return state, effective


def assert_consistent(store, expect=None, recovered=True):
    "The invariants: pointers name validated, intact models; the chain verifies; pointers agree with the log."
    ok, line, why = verify_audit(store.resolve(AUDIT_LOG), ignore_torn_tail=not recovered)
    assert ok, (line, why)
    for env in ENVS:
        am = load_approved(store, env)  # the service's view: never a mix, always verified
        got = am.model_id if am else None
        if expect is not None: assert got == expect[env][0], (env, got, expect[env])
        if am:
            assert validation_status(store, am.model_id)[0], "the pointer names a model without a PASS validation"
            assert all(am.read_verified(n) for n in am.files)
    if recovered:
        ok, line, why = verify_registry(store)
        assert ok, (line, why)
        state, _ = replay(store)
        for env in ENVS:
            cur, prev = read_pointer(store, env), read_pointer(store, env, prev=True)
            assert ((cur or {}).get("model_id"), (prev or {}).get("model_id")) == state[env]
            assert prev == ((cur or {}).get("previous"))
            if expect is not None: assert state[env] == expect[env]
        assert not list(store.resolve("models").rglob("*.tmp"))


@contextmanager
def crash_inside(kind):
    "Patch the registry so that one write is interrupted half-way, the way a power cut would leave it."
    real_append, real_write = reg._append_audit, reg.atomic_write
    def torn_append(store, rec):
        raw = json.dumps(rec, separators=(",", ":")).encode()
        with open(store.resolve(AUDIT_LOG), "ab") as f: f.write(raw[: len(raw) // 2])
        raise Crash("torn audit line")
    def half_write(path, data, mode=0o644):
        target = reg.PREV_POINTER if kind == "prev_tmp_not_renamed" else reg.POINTER
        if Path(path).name == target:
            tmp = Path(path).with_name(f".{Path(path).name}.x1y2z3.tmp")
            tmp.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(data if isinstance(data, str) else data.decode())
            raise Crash(kind)
        return real_write(path, data, mode)
    try:
        if kind == "torn_audit_line": reg._append_audit = torn_append
        else: reg.atomic_write = half_write
        yield
    finally:
        reg._append_audit, reg.atomic_write = real_append, real_write


def _hook(step_to_crash):
    def hook(step):
        if step == step_to_crash: raise Crash(step)
    return hook


_op = st.one_of(
    st.tuples(st.just("promote"), st.sampled_from(GOOD * 3 + [FAILED, NO_REPORTS]), st.sampled_from(ENVS), st.none() | st.sampled_from(STEPS + IN_WRITE)),
    st.tuples(st.just("rollback"), st.none(), st.sampled_from(ENVS), st.none() | st.sampled_from(STEPS + IN_WRITE)),
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(st.tuples(_op, st.booleans()), min_size=1, max_size=12))
def test_random_sequences_with_crashes_keep_the_registry_consistent(template, tmp_path, ops):
    store = _fresh(template, tmp_path / "data")
    clock = TestClock("2026-02-01T06:00:00Z")
    expect = {e: (None, None) for e in ENVS}
    for (action, model, env, crash), recover_now in ops:
        clock.advance("1m")
        cur, prev = expect[env]
        if action == "promote":
            allowed = model in GOOD and model != cur
            new = (model, cur)
            call = lambda **kw: promote(store, model, env, "property test", "yes-promote", actor="prop", clock=clock, **kw)
        else:
            allowed, new = prev is not None, (prev, cur)
            call = lambda **kw: rollback(store, env, "yes-rollback", actor="prop", clock=clock, **kw)
        crashed = False
        with crash_inside(crash) if crash in IN_WRITE else contextmanager(lambda: (yield))():
            try: call(on_step=_hook(crash) if crash in STEPS else None)
            except Crash: crashed = True
            except RegistryRefused: pass
        if allowed and (not crashed or crash == "committed"): expect[env] = new  # a crash after the commit keeps the new state
        assert_consistent(store, expect, recovered=False)  # before any recovery: the service sees old or new, verified
        if recover_now:
            with registry_lock(store): recover(store, clock=clock, actor="prop")
            assert_consistent(store, expect)
    with registry_lock(store): recover(store, clock=clock, actor="prop")
    assert_consistent(store, expect)
    assert recover(store, clock=clock) == []  # idempotent


@pytest.mark.parametrize("then", ["recover", "next_op"])
@pytest.mark.parametrize("action", ["promote", "rollback"])
@pytest.mark.parametrize("crash", STEPS + IN_WRITE)
def test_a_crash_at_every_step_leaves_the_old_state_or_the_new(template, tmp_path, crash, action, then):
    "Systematically: env has (B, prev A); promote C or roll back to A, crash at each step; then recover, or just carry on."
    store = _fresh(template, tmp_path / "data")
    clock = TestClock("2026-02-01T06:00:00Z")
    promote(store, GOOD[0], PAPER, "a", "yes-promote", clock=clock)
    promote(store, GOOD[1], PAPER, "b", "yes-promote", clock=clock)
    old, new = (GOOD[1], GOOD[0]), ((GOOD[2], GOOD[1]) if action == "promote" else (GOOD[0], GOOD[1]))
    call = (lambda **kw: promote(store, GOOD[2], PAPER, "c", "yes-promote", clock=clock, **kw)) if action == "promote" else \
           (lambda **kw: rollback(store, PAPER, "yes-rollback", clock=clock, **kw))
    with crash_inside(crash) if crash in IN_WRITE else contextmanager(lambda: (yield))():
        with pytest.raises(Crash):
            call(on_step=_hook(crash) if crash in STEPS else None)
    state = new if crash == "committed" else old
    expect = {PAPER: state, LIVE: (None, None)}
    assert_consistent(store, expect, recovered=False)
    if then == "recover":
        with registry_lock(store): recover(store, clock=clock)
        assert_consistent(store, expect)
    else:  # the next command repairs first, then does its own work
        promote(store, GOOD[3], PAPER, "d", "yes-promote", clock=clock)
        assert_consistent(store, {PAPER: (GOOD[3], state[0]), LIVE: (None, None)})
    recs = [r for _, r in _records(store)]
    aborts = [r for r in recs if r["action"] == "abort"]
    assert len(aborts) == (1 if crash in ("audit_appended", "mirrored", "prev_written", "prev_tmp_not_renamed", "pointer_tmp_not_renamed") else 0)


# --- a real SIGKILL ---------------------------------------------------------------------------------------------

CHILD = r"""
import sys, time, random
from pathlib import Path
from cryptotrader.artifacts import ArtifactStore
from cryptotrader.config import DataPaths
from cryptotrader.registry import promote, rollback, RegistryRefused
root, stop_at, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
store = ArtifactStore.for_area(DataPaths(Path(root)))
models, envs = sys.argv[4].split(","), sys.argv[5].split(",")
rnd = random.Random(seed)
def hook(step):
    if step == stop_at:
        print("MID " + step, flush=True); time.sleep(60)
print("READY", flush=True)
while True:
    env = rnd.choice(envs)
    try:
        if rnd.random() < 0.3: rec = rollback(store, env, "yes-rollback", actor="child", on_step=hook)
        else: rec = promote(store, rnd.choice(models), env, "child", "yes-promote", actor="child", on_step=hook)
        print("OK " + rec["audit_line_sha256"], flush=True)
    except RegistryRefused: pass
"""


def _child(root, stop_at, seed):
    return subprocess.Popen([sys.executable, "-c", CHILD, str(root), stop_at, str(seed), ",".join(GOOD), ",".join(ENVS)],
                            stdout=subprocess.PIPE, text=True, cwd=ROOT)


def _kill_and_check(store, proc, reported):
    proc.send_signal(signal.SIGKILL)
    out, _ = proc.communicate(timeout=30)
    reported += [l.split()[1] for l in out.splitlines() if l.startswith("OK ")]
    assert proc.returncode == -signal.SIGKILL
    assert_consistent(store, recovered=False)  # straight after the kill, before any repair
    with registry_lock(store, timeout=10): recover(store, actor="parent")
    assert_consistent(store)
    shas = {sha for sha, _ in _records(store)}
    assert set(reported) <= shas, "a promotion reported as done is missing from the audit log"
    for env in ENVS:  # the last reported success of each env is still in force unless a later line replaced it
        cur = read_pointer(store, env)
        assert cur is None or cur["audit_line_sha256"] in shas


@pytest.mark.parametrize("stop_at", ["audit_appended", "mirrored", "prev_written"])
def test_sigkill_mid_promotion_at_a_known_step(template, tmp_path, stop_at):
    store = _fresh(template, tmp_path / "data")
    proc, reported = _child(tmp_path / "data", stop_at, seed=1), []
    for line in proc.stdout:
        if line.startswith("OK "): reported.append(line.split()[1])
        if line.startswith("MID"): break
    # the child is asleep inside a promotion (or rollback), holding the lock: a waiter gives up, nothing changes
    with pytest.raises(RegistryRefused, match="registry is busy"):
        promote(store, GOOD[0], PAPER, "x", "yes-promote", lock_timeout=0.2)
    before = {e: read_pointer(store, e) for e in ENVS}
    _kill_and_check(store, proc, reported)
    state, _ = replay(store)
    assert {e: (before[e] or {}).get("model_id") for e in ENVS} == {e: state[e][0] for e in ENVS}  # old state kept
    assert _records(store)[-1][1]["action"] == "abort"


def test_sigkill_at_random_instants(template, tmp_path):
    store = _fresh(template, tmp_path / "data")
    rnd, reported = random.Random(7), []
    for i in range(5):
        proc = _child(tmp_path / "data", "never", seed=i)
        assert proc.stdout.readline().strip() == "READY"
        time.sleep(rnd.uniform(0.02, 0.25))
        _kill_and_check(store, proc, reported)
    assert reported, "the child never completed an operation"
    assert len(_records(store)) >= len(reported)


# --- concurrent processes ----------------------------------------------------------------------------------------

def _worker(root, ops, barrier, q):
    store = ArtifactStore.for_area(DataPaths(Path(root)))
    barrier.wait()
    done = []
    for kind, model, env in ops:
        try:
            if kind == "promote": rec = promote(store, model, env, "concurrent", "yes-promote", actor=f"w{os.getpid()}")
            else: rec = rollback(store, env, "yes-rollback", actor=f"w{os.getpid()}")
            done.append(rec["audit_line_sha256"])
        except RegistryRefused: pass
    q.put(done)


_wop = st.tuples(st.sampled_from(["promote", "promote", "rollback"]), st.sampled_from(GOOD + [FAILED]), st.sampled_from(ENVS))


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plans=st.lists(st.lists(_wop, min_size=2, max_size=6), min_size=3, max_size=4))
def test_concurrent_processes_are_serialised(template, tmp_path, plans):
    store = _fresh(template, tmp_path / "data")
    ctx = mp.get_context("fork")
    barrier, q = ctx.Barrier(len(plans)), ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(str(tmp_path / "data"), ops, barrier, q)) for ops in plans]
    for p in procs: p.start()
    done = [sha for _ in procs for sha in q.get(timeout=60)]
    for p in procs: p.join(timeout=60); assert p.exitcode == 0
    assert_consistent(store)
    recs = _records(store)
    assert sorted(done) == sorted(sha for sha, r in recs if r["action"] != "abort")  # every success logged once, nothing else
    assert not any(r["action"] == "abort" for _, r in recs)
    assert [r["seq"] for _, r in recs] == list(range(1, len(recs) + 1))


# --- tampering ---------------------------------------------------------------------------------------------------

@pytest.fixture
def busy(template, tmp_path):
    "A registry with history in both environments."
    store = _fresh(template, tmp_path / "data")
    clk = TestClock("2026-02-01T06:00:00Z")
    kw = dict(actor="alice", clock=clk)
    promote(store, GOOD[0], PAPER, "first", "yes-promote", **kw); clk.advance("1d")
    promote(store, GOOD[1], PAPER, "second", "yes-promote", **kw)
    promote(store, GOOD[0], LIVE, "live", "yes-promote", **kw)
    rollback(store, PAPER, "yes-rollback", reason="bad fills", **kw); clk.advance("1d")
    promote(store, GOOD[2], PAPER, "third", "yes-promote", **kw)
    assert_consistent(store)
    return store


@pytest.mark.parametrize("line_no", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("how", ["edit", "delete", "duplicate"])
def test_tampering_with_any_audit_line_is_detected(busy, line_no, how):
    p = busy.resolve(AUDIT_LOG)
    lines = p.read_bytes().splitlines(True)
    i = line_no - 1
    if how == "edit": lines[i] = lines[i].replace(b'"reason":"', b'"reason":"X')
    elif how == "delete": del lines[i]
    else: lines.insert(i, lines[i])
    p.write_bytes(b"".join(lines))
    ok, bad, why = verify_registry(busy)
    assert not ok and why
    assert bad is None or 1 <= bad <= 6
    code, out, err = cli("audit", "verify", "--artifact-root", str(busy.root))
    assert code == 1 and "audit FAILED" in err and len(err.strip().splitlines()) == 1
    with pytest.raises(RegistryRefused):  # no promotion on top of a broken log
        promote(busy, GOOD[3], LIVE, "x", "yes-promote")
    with pytest.raises(IntegrityError):   # the service refuses too
        for env in ENVS: load_approved(busy, env)


def test_tampering_with_the_mirror_or_cutting_the_tail_is_detected(busy):
    p = busy.resolve(AUDIT_LOG)
    orig = p.read_bytes()
    p.write_bytes(b"".join(orig.splitlines(True)[:-1]))  # the chain alone still verifies...
    assert verify_audit(p)[0]
    assert not verify_registry(busy)[0]                  # ...the copy and the pointer do not
    p.write_bytes(orig)
    mirror = sorted(busy.data_root.glob("logs/crypto/kraken_global/approvals/*.jsonl"))[0]
    mirror.write_bytes(mirror.read_bytes().replace(b"first", b"frist"))
    ok, bad, why = verify_registry(busy)
    assert (ok, bad) == (False, 1) and "copy" in why


@pytest.mark.parametrize("target", ["model", "sub_file", "manifest", "pointer_model_id", "pointer_files", "pointer_audit_link", "pointer_env"])
def test_tampering_with_a_model_file_or_the_pointer_is_detected(busy, target):
    ptr = reg.pointer_path(busy, PAPER)
    rec = json.loads(ptr.read_text())
    d = candidate_dir(busy, rec["model_id"])
    other = reg._load_manifest(busy, GOOD[3])
    edits = {
        "model": lambda: (d / "model.skops").write_bytes(b"x"),
        "sub_file": lambda: (d / "sub/calibration.json").write_text("{}"),
        "manifest": lambda: (d / "metadata.json").write_text((d / "metadata.json").read_text().replace("ret_1h", "ret_2h")),
        "pointer_model_id": lambda: ptr.write_text(json.dumps({**rec, "model_id": GOOD[3], "files": other[0]["files"],
                                                               "model_sha256": other[0]["model_sha256"], "manifest_sha256": other[1]})),
        "pointer_files": lambda: ptr.write_text(json.dumps({**rec, "files": {**rec["files"], "model.skops": "0" * 64}})),
        "pointer_audit_link": lambda: ptr.write_text(json.dumps({**rec, "audit_line_sha256": GENESIS})),
        "pointer_env": lambda: ptr.write_text(json.dumps({**rec, "env": LIVE})),
    }
    edits[target]()
    with pytest.raises(IntegrityError, match="approved model of paper_kraken_crypto_global refused"):
        load_approved(busy, PAPER)
    assert load_approved(busy, LIVE).model_id == GOOD[0]  # the other environment is unaffected
    assert not verify_registry(busy)[0] or target in ("model", "sub_file", "manifest")


def test_a_tampered_candidate_or_previous_model_is_refused(busy):
    (candidate_dir(busy, GOOD[3]) / "sub/calibration.json").write_text("{}")
    with pytest.raises(RegistryRefused, match="files no longer hash to what was validated: sub/calibration.json"):
        promote(busy, GOOD[3], PAPER, "x", "yes-promote")
    (candidate_dir(busy, GOOD[3]) / "sub/calibration.json").write_text(json.dumps({"bins": [0.1, 0.5, 0.9]}))
    prev = candidate_dir(busy, read_pointer(busy, PAPER, prev=True)["model_id"]) / "model.skops"
    good = prev.read_bytes()
    prev.write_bytes(b"swapped")
    with pytest.raises(RegistryRefused, match="no longer hash as approved"):
        rollback(busy, PAPER, "yes-rollback")
    prev.write_bytes(good)
    assert_consistent(busy)
    assert rollback(busy, PAPER, "yes-rollback")["model_id"] == GOOD[0]


# --- the pipeline's helpers --------------------------------------------------------------------------------------

_name = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,10}", fullmatch=True).filter(lambda n: not n.endswith((".tmp", ".sha256")) and n != "metadata.json")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(files=st.dictionaries(_name, st.binary(max_size=64), min_size=1, max_size=5), flip=st.integers(0, 10_000))
def test_manifest_round_trip_and_any_changed_byte_is_caught(tmp_path, files, flip):
    store = ArtifactStore.for_area(DataPaths(tmp_path / f"d{flip}"))
    mid = "crypto_kraken_model_20260301_040000"
    d = candidate_dir(store, mid)
    d.mkdir(parents=True)
    for n, b in files.items(): (d / n).write_bytes(b)
    man = write_manifest(store, mid)
    assert reg.read_manifest(store, mid) == man and set(man["files"]) == set(files)
    assert reg.verify_files(store, mid, man["files"]) == []
    name = sorted(files)[flip % len(files)]
    data = bytearray(files[name]) or bytearray(b"\0")
    data[flip % len(data)] ^= 0xFF if files[name] else 0
    (d / name).write_bytes(bytes(data) if files[name] else b"\0")
    assert [l.split(":")[0] for l in reg.verify_files(store, mid, man["files"])] == [name]
    shutil.rmtree(tmp_path / f"d{flip}")


# --- the commands as a user runs them ----------------------------------------------------------------------------

def test_cli_end_to_end(template, tmp_path, home):
    "The commands as a user runs them (console script, CRYPTOTRADER_HOME), then every refusal in-process."
    store = _fresh(template, home)
    r = run_cli("promote-model", "--model-id", GOOD[0], "--env", PAPER, "--reason", "gates passed", "--confirm", "yes-promote")
    assert r.returncode == 0, r.stderr
    code, out, err = cli("promote-model", "--model-id", GOOD[1], "--env", PAPER, "--reason", "better", "--confirm", "yes-promote")
    assert code == 0, err
    code, out, err = cli("models", "--json")
    st_ = json.loads(out)
    assert st_["environments"][PAPER]["approved"]["model_id"] == GOOD[1] and st_["environments"][PAPER]["previous"]["model_id"] == GOOD[0]
    assert {c["model_id"]: c["status"] for c in st_["candidates"]}[FAILED] == "FAIL"
    r = run_cli("rollback-model", "--env", PAPER, "--confirm", "yes-rollback")
    assert r.returncode == 0 and load_approved(store, PAPER).model_id == GOOD[0]
    r = run_cli("audit", "verify")
    assert r.returncode == 0 and "3 lines, chain intact" in r.stdout
    lines = [json.loads(l) for l in store.resolve(AUDIT_LOG).read_text().splitlines()]
    assert [l["action"] for l in lines] == ["promote", "promote", "rollback"] and all(l["actor"] for l in lines)
    # refusals: exit 1, one line; bad input: exit 2
    for args, want, msg in [(["--model-id", FAILED, "--env", PAPER, "--reason", "x", "--confirm", "yes-promote"], 1, "not PASS"),
                            (["--model-id", NO_REPORTS, "--env", PAPER, "--reason", "x", "--confirm", "yes-promote"], 1, "no evidence reports"),
                            (["--model-id", GOOD[2], "--env", PAPER, "--reason", "x", "--confirm", "yes"], 1, "yes-promote"),
                            (["--model-id", GOOD[2], "--env", "prod", "--reason", "x", "--confirm", "yes-promote"], 1, "not configured"),
                            (["--model-id", "../x", "--env", PAPER, "--reason", "x", "--confirm", "yes-promote"], 2, "invalid model id")]:
        code, out, err = cli("promote-model", *args)
        assert code == want and msg in err and len(err.strip().splitlines()) == 1, (args, err)
    code, out, err = cli("validate-model", "--model-id", GOOD[2])
    assert code == 0 and "integrity    PASS   re-run" in out
    assert cli("validate-model", "--model-id", FAILED)[0] == 1
    assert [json.loads(l)["action"] for l in store.resolve(AUDIT_LOG).read_text().splitlines()] == ["promote", "promote", "rollback"]


def test_seed_script_entry_points_take_the_same_flags(template, tmp_path):
    from cryptotrader.cli_models import promote_model_main, rollback_model_main, validate_model_main
    store = _fresh(template, tmp_path / "data")
    root = ["--artifact-root", str(store.root)]
    code = "import sys; from cryptotrader.cli_models import promote_model_main; sys.exit(promote_model_main())"
    r = subprocess.run([sys.executable, "-c", code, "--model-id", GOOD[0], "--env", PAPER, "--reason", "seed flags", "--confirm", "yes-promote", *root],
                       capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert r.returncode == 0, r.stderr
    with redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()) as err:
        assert validate_model_main(["--model-id", GOOD[0], *root]) == 0
        assert promote_model_main(["--model-id", GOOD[1], "--env", PAPER, "--reason", "r", "--confirm", "yes-promote", *root]) == 0
        assert rollback_model_main(["--env", PAPER, "--confirm", "yes-rollback", *root]) == 0
        assert rollback_model_main(["--env", LIVE, "--confirm", "yes-rollback", *root]) == 1
    assert "live_kraken_crypto_global has no approved model" in err.getvalue()
    assert load_approved(store, PAPER).model_id == GOOD[0]
