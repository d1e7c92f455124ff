"""Adversarial registry suite (issue 12, items 2, 3 and 6): edits a person with write access to the data root could make,
each of which must be refused or detected. Every test here failed on the code before its fix."""
import io
import json
from contextlib import redirect_stderr, redirect_stdout

import pytest

import cryptotrader.registry as reg
from cryptotrader.artifacts import ArtifactStore, IntegrityError, sha256_bytes
from cryptotrader.clock import TestClock
from cryptotrader.config import DataPaths
from cryptotrader.registry import (AUDIT_LOG, RegistryRefused, candidate_dir, fake_candidate, load_approved, pointer_path, promote,
                                   read_pointer, rollback, validation_path, verify_registry, write_validation)

PAPER, LIVE = reg.configured_envs()
A, B, C = (f"crypto_kraken_model_2026010{i}_040000" for i in (1, 2, 3))
FAILED, UNVALIDATED = "crypto_kraken_model_20260105_040000", "crypto_kraken_model_20260106_040000"
PASS_GATES = {g: {"passed": True} for g in reg.REQUIRED_GATES}


def cli(*args):
    "Run `cryptotrader ARGS` in-process: (exit code, stdout, stderr)."
    from cryptotrader.cli import main
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try: code = main(list(args))
        except SystemExit as e: code = e.code
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def store(tmp_path):
    "Three validated candidates, one that FAILED validation, one never validated; paper has A then B approved."
    s = ArtifactStore.for_area(DataPaths(tmp_path / "data").create())
    for m in (A, B, C): fake_candidate(s, m)
    fake_candidate(s, FAILED, passed=False)
    fake_candidate(s, UNVALIDATED)
    validation_path(s, UNVALIDATED).unlink(); validation_path(s, UNVALIDATED, ready=True).unlink()
    clk = TestClock("2026-02-01T06:00:00Z")
    promote(s, A, PAPER, "first", "yes-promote", actor="alice", clock=clk); clk.advance("1h")
    promote(s, B, PAPER, "second", "yes-promote", actor="alice", clock=clk)
    return s


def root(s): return ["--artifact-root", str(s.root)]


def _as_previous(s, mid):
    "A pointer `previous` record naming `mid`, every hash consistent with its files (what an editor would write)."
    man, man_sha = reg._load_manifest(s, mid)
    return {**read_pointer(s, PAPER)["previous"], "model_id": mid, "files": man["files"], "model_sha256": man["model_sha256"],
            "manifest_sha256": man_sha, "candidate_dir": f"candidates/{mid}"}


# --- item 2: rollback and the service's load need a PASS validation with intact evidence --------------------------

@pytest.mark.parametrize("target", [FAILED, UNVALIDATED])
def test_editing_the_pointers_previous_never_installs_an_unvalidated_model(store, target):
    ptr = pointer_path(store, PAPER)
    fake = _as_previous(store, target)
    ptr.write_text(reg._dump({**json.loads(ptr.read_text()), "previous": fake}))
    pointer_path(store, PAPER, prev=True).write_text(reg._dump(fake))
    code, out, err = cli("rollback-model", "--env", PAPER, "--confirm", "yes-rollback", *root(store))
    assert code in (0, 1) and len(err.strip().splitlines()) <= 1, err
    now = read_pointer(store, PAPER)["model_id"]
    assert now != target and now == (A if code == 0 else B), (code, out, err)
    am = load_approved(store, PAPER)
    assert am.model_id != target


def test_rollback_refuses_a_previous_model_whose_validation_now_fails(store):
    write_validation(store, A, {**PASS_GATES, "risk": {"passed": False}}, False)   # A re-validated after approval: FAIL
    code, out, err = cli("rollback-model", "--env", PAPER, "--confirm", "yes-rollback", *root(store))
    assert code == 1 and len(err.strip().splitlines()) == 1 and "validation status is 'FAIL'" in err, (code, err)
    assert read_pointer(store, PAPER)["model_id"] == B


def test_the_service_refuses_an_approved_model_whose_validation_now_fails(store):
    write_validation(store, B, {**PASS_GATES, "oos_metrics": {"passed": False}}, False)
    with pytest.raises(IntegrityError, match="no intact PASS validation"):
        load_approved(store, PAPER)


def test_the_service_refuses_a_forged_decision_for_an_unvalidated_model(store):
    "A chain-consistent audit line, its copy and a matching pointer for a model that was never validated."
    model = {**_as_previous(store, UNVALIDATED), "validation_sha256": None, "reports": []}
    line = reg._new_line(store, "promote", PAPER, UNVALIDATED, model["model_sha256"], B, "forged", "mallory", TestClock("2026-02-02T00:00:00Z"))
    raw = reg._append_audit(store, line); reg._mirror(reg._logs_store(store), raw)
    new = {**{k: model.get(k) for k in reg._MODEL_KEYS}, "env": PAPER, "action": "promote", "approved_at": line["ts"], "approved_by": "mallory",
           "reason": "forged", "audit_seq": line["seq"], "audit_line_sha256": sha256_bytes(raw), "previous": reg._strip(read_pointer(store, PAPER))}
    pointer_path(store, PAPER).write_text(reg._dump(new))
    with pytest.raises(IntegrityError, match="no intact PASS validation"):
        load_approved(store, PAPER)


# --- item 3: a deleted pointer is noticed, and never "aborted" by recovery ------------------------------------------

@pytest.mark.parametrize("env", [PAPER, LIVE])
def test_deleting_the_pointer_is_detected_and_not_recorded_as_an_abort(store, env):
    if env == LIVE: promote(store, A, LIVE, "first live", "yes-promote", actor="alice", clock=TestClock("2026-02-03T00:00:00Z"))
    n = len(store.resolve(AUDIT_LOG).read_bytes().splitlines())
    pointer_path(store, env).unlink()
    ok, line, why = verify_registry(store)
    assert not ok and env in why and "missing" in why, why
    code, out, err = cli("audit", "verify", *root(store))
    assert code == 1 and env in err and len(err.strip().splitlines()) == 1, err
    with pytest.raises(IntegrityError, match="approved_model.json is missing"):   # the service refuses; not silently rules-only
        load_approved(store, env)
    code, out, err = cli("promote-model", "--model-id", C, "--env", env, "--reason", "x", "--confirm", "yes-promote", *root(store))
    assert code == 1 and "missing" in err and len(err.strip().splitlines()) == 1, err
    lines = [json.loads(l) for l in store.resolve(AUDIT_LOG).read_bytes().splitlines()]
    assert len(lines) == n and not any(l["action"] == "abort" for l in lines)


def test_an_older_pointer_copied_back_is_detected(store):
    old = pointer_path(store, PAPER).read_bytes()
    promote(store, C, PAPER, "third", "yes-promote", actor="alice", clock=TestClock("2026-02-03T00:00:00Z"))
    pointer_path(store, PAPER).write_bytes(old)      # B's pointer again: backed by its (older) audit line
    ok, line, why = verify_registry(store)
    assert not ok and PAPER in why and "not the decision in force" in why, why
    with pytest.raises(IntegrityError, match="not the decision in force"):
        load_approved(store, PAPER)


def test_the_service_notices_a_missing_pointer_at_start(store):
    import pandas as pd
    from types import SimpleNamespace
    from cryptotrader.config import load_config
    from cryptotrader.model_runtime import ModelSignals
    pointer_path(store, PAPER).unlink()
    idx = pd.date_range("2026-02-01", periods=2, freq="h", tz="UTC")
    events = []
    ms = ModelSignals(SimpleNamespace(weights=pd.DataFrame(index=idx), notes=None, regime=None), None, load_config(), store,
                      env=PAPER, on_event=lambda kind, **kw: events.append(kind), shadow=False)
    ms.refresh(idx[0])
    assert ms.model_id is None and ms.refused and "missing" in ms.refused and events == ["model_refused"]


def test_a_crash_before_the_commit_is_still_aborted(store):
    "The legitimate case the stricter rule must keep: the intent shows the crash; recovery aborts it."
    class Crash(BaseException): pass
    def hook(step):
        if step == "prev_written": raise Crash(step)
    with pytest.raises(Crash):
        promote(store, C, PAPER, "third", "yes-promote", actor="alice", on_step=hook)
    assert load_approved(store, PAPER).model_id == B                     # old state in force meanwhile
    ok, line, why = verify_registry(store)
    assert not ok and "interrupted" in why
    code, out, err = cli("promote-model", "--model-id", C, "--env", PAPER, "--reason", "again", "--confirm", "yes-promote", *root(store))
    assert code == 0, err
    assert [json.loads(l)["action"] for l in store.resolve(AUDIT_LOG).read_bytes().splitlines()] == ["promote", "promote", "promote", "abort", "promote"]
    assert verify_registry(store)[0]


# --- item 6: audit verify re-hashes the evidence, ties every pointer field to the log, and anchors the head --------

def _verify(s, *extra):
    code, out, err = cli("audit", "verify", *extra, *root(s))
    assert code in (0, 1) and len((out + err).strip().splitlines()) == 1 and "Traceback" not in err, (code, out, err)
    return code, out + err


def test_a_corrupted_model_file_of_an_approved_model_fails_verify(store):
    for mid in (B, A):   # the approved model, and the previous one (a rollback target)
        f = candidate_dir(store, mid) / "model.skops"
        good = f.read_bytes(); f.write_bytes(good[:-1] + b"X")
        code, msg = _verify(store)
        assert code == 1 and mid in msg and "model.skops" in msg, msg
        f.write_bytes(good)
    assert _verify(store)[0] == 0


def test_a_validation_turned_fail_after_promotion_fails_verify(store):
    write_validation(store, A, {**PASS_GATES, "risk": {"passed": False}}, False)
    code, msg = _verify(store)
    assert code == 1 and A in msg and "not PASS" in msg, msg


@pytest.mark.parametrize("field,value", [("reason", "tidied"), ("approved_by", "bob"), ("approved_at", "2020-01-01T00:00:00Z"),
                                         ("reports", []), ("candidate_dir", "candidates/x"), ("extra", 1), ("previous.reason", "tidied")])
def test_editing_any_pointer_field_fails_verify(store, field, value):
    ptr = pointer_path(store, PAPER)
    rec = json.loads(ptr.read_text())
    if field.startswith("previous."):
        rec["previous"] = {**rec["previous"], field.split(".")[1]: value}
        pointer_path(store, PAPER, prev=True).write_text(reg._dump(rec["previous"]))
    else: rec[field] = value
    ptr.write_text(reg._dump(rec))
    code, msg = _verify(store)
    assert code == 1 and PAPER in msg, msg


def _rechain(s, edit):
    "Rewrite the whole chain consistently (lines, copies, pointers): what a writer of the data root could do."
    p = s.resolve(AUDIT_LOG)
    old = p.read_bytes().splitlines()
    recs, prev, new = [json.loads(l) for l in old], reg.GENESIS, []
    edit(recs)
    for r in recs:
        r["prev_line_sha256"] = prev
        raw = reg._line_raw(r); new.append(raw); prev = sha256_bytes(raw)
    p.write_bytes(b"".join(l + b"\n" for l in new))
    mdir = reg._logs_store(s).resolve(reg.MIRROR_DIR)
    for f in mdir.glob("*.jsonl"): f.unlink()
    for raw in new: reg._mirror(reg._logs_store(s), raw)
    by_old = {sha256_bytes(o): sha256_bytes(n) for o, n in zip(old, new)}
    for env in (PAPER, LIVE):
        for prev_ in (False, True):
            rec = read_pointer(s, env, prev=prev_)
            if rec is None: continue
            rec["audit_line_sha256"] = by_old[rec["audit_line_sha256"]]
            if rec.get("previous"): rec["previous"]["audit_line_sha256"] = by_old[rec["previous"]["audit_line_sha256"]]
            pointer_path(s, env, prev=prev_).write_text(reg._dump(rec))


def test_a_rewritten_chain_fails_verify_against_the_recorded_head(store):
    code, head, err = cli("audit", "head", *root(store))
    head = head.strip()
    assert code == 0 and len(head) == 64 and head == sha256_bytes(store.resolve(AUDIT_LOG).read_bytes().splitlines()[-1]), (code, head, err)
    assert _verify(store, "--expect-head", head)[0] == 0
    promote(store, C, PAPER, "third", "yes-promote", actor="alice", clock=TestClock("2026-02-03T00:00:00Z"))
    code, msg = _verify(store, "--expect-head", head)                 # later decisions are fine: the recorded line is still there
    assert code == 0 and "1 line(s) since" in msg, msg
    def whitewash(recs): recs[0]["actor"] = "someone-else"
    _rechain(store, whitewash)
    assert _verify(store)[0] == 0                                      # consistent everywhere: only an outside anchor can tell
    code, msg = _verify(store, "--expect-head", head)
    assert code == 1 and "rewritten or cut" in msg, msg


def test_a_malformed_expected_head_is_bad_input(store):
    code, out, err = cli("audit", "verify", "--expect-head", "xyz", *root(store))
    assert code == 2 and "invalid head" in err and len(err.strip().splitlines()) == 1, err
