"""The four validation gates: power on a planted-edge market, specificity on shuffled-label controls and the real model's
lucky window, tampering, and each sub-check failing on its own (the notebook nbs/44_gates.ipynb shows the same)."""
import json
import shutil

import numpy as np
import pandas as pd
import pytest

from cryptotrader.artifacts import ArtifactStore
from cryptotrader.book import simulate_book
from cryptotrader.clock import TestClock
from cryptotrader.config import DataPaths, load_config
from cryptotrader.data import load_panel
from cryptotrader.gates import (REQUIRED_FIELDS, _signals, gate_integrity, gate_oos_metrics, gate_risk, gate_schema,
                                load_validation_panel, run_gates)
from cryptotrader.ml import MODEL_FILE, control_model_id, train_candidate
from cryptotrader.planted import PlantedParams, write_planted_market
from cryptotrader.registry import MANIFEST, validation_path

AS_OF = "2023-03-31T03:05:00Z"
CONTROL_DATES = ["2021-06-30", "2023-03-31"]   # quarter ends of benchmarks/gate_honesty.py (all 11: run it by hand)


@pytest.fixture(scope="module")
def cfg():
    return load_config()


@pytest.fixture(scope="module")
def env(tmp_path_factory, cfg):
    paths = DataPaths(tmp_path_factory.mktemp("gates"))
    planted = paths.root / "planted"
    write_planted_market(planted, cfg.universe.pairs, PlantedParams(start="2022-01-01", end="2023-03-31T23:00"))
    store = ArtifactStore.for_area(paths)
    good = train_candidate(cfg, AS_OF, store, paths=paths, data_dir=planted)
    return paths, store, good, load_validation_panel(good.manifest, planted), planted


def test_planted_edge_passes_every_check(env, cfg):
    paths, store, good, panel, planted = env
    v = run_gates(store, good.model_id, cfg, panel, TestClock(AS_OF))
    assert v.passed, v.table()
    assert all(c["passed"] for g in ("oos_metrics", "risk") for c in v.gates[g].extra["checks"])
    rec = json.loads(validation_path(store, good.model_id).read_text())
    assert rec["status"] == "PASS" and validation_path(store, good.model_id, ready=True).exists()
    assert len(rec["gates"]["oos_metrics"]["shuffled_twins"]["sharpe"]) == cfg.gates.twins
    assert {"psr", "dsr", "trials"} <= set(rec["gates"]["oos_metrics"]["significance"])


def test_planted_control_fails(env, cfg):
    paths, store, good, panel, planted = env
    c = train_candidate(cfg, AS_OF, store, paths=paths, data_dir=planted, shuffle_labels=True, model_id=control_model_id(AS_OF, 0))
    v = run_gates(store, c.model_id, cfg, panel, TestClock(AS_OF))
    assert c.manifest["control"] is True
    assert v.gates["integrity"].passed and v.gates["schema"].passed and not v.gates["oos_metrics"].passed and not v.passed
    assert not validation_path(store, c.model_id, ready=True).exists()


@pytest.mark.parametrize("date", CONTROL_DATES)
def test_shuffled_label_controls_fail_on_real_data(tmp_path, cfg, date):
    paths = DataPaths(tmp_path)
    store = ArtifactStore.for_area(paths)
    as_of = f"{date}T03:00:00Z"
    c = train_candidate(cfg, as_of, store, paths=paths, shuffle_labels=True, model_id=control_model_id(as_of, 1))
    v = run_gates(store, c.model_id, cfg, load_validation_panel(c.manifest), TestClock(as_of), write=False)
    assert not v.passed, v.table()


def test_tampered_model_fails_gate_1(env, cfg, tmp_path):
    paths, store, good, panel, planted = env
    d = tmp_path / good.model_id
    shutil.copytree(good.directory, d)
    assert gate_integrity(d).passed
    data = bytearray((d / MODEL_FILE).read_bytes()); data[100] ^= 0xFF
    (d / MODEL_FILE).write_bytes(bytes(data))
    g = gate_integrity(d)
    assert not g.passed and "model.skops" in g.detail and "SHA-256" in g.detail
    (d / MODEL_FILE).unlink()
    assert "missing" in gate_integrity(d).detail


def test_tampered_model_through_run_gates_is_never_loaded(env, cfg):
    paths, store, good, panel, planted = env
    mf = good.directory / MODEL_FILE
    orig = mf.read_bytes()
    try:
        mf.write_bytes(orig + b"\0")
        v = run_gates(store, good.model_id, cfg, panel, TestClock(AS_OF))
        assert not v.gates["integrity"].passed and not v.passed
        assert v.gates["oos_metrics"].detail.startswith("not run") and v.evaluation is None
        assert not validation_path(store, good.model_id, ready=True).exists()
    finally:
        mf.write_bytes(orig)


@pytest.mark.parametrize("field", sorted(REQUIRED_FIELDS))
def test_missing_field_fails_gate_2(env, cfg, field):
    paths, store, good, panel, planted = env
    man = json.loads((good.directory / MANIFEST).read_text())
    g = gate_schema({k: v for k, v in man.items() if k != field}, panel, cfg)
    assert not g.passed and f"{field}: missing" in g.detail


@pytest.mark.parametrize("field,value", [("seed", "0"), ("seed", True), ("pairs", "BTC/USD"), ("params", []), ("git_commit", None),
                                         ("metrics", 1.0), ("feature_schema", ["ret_1"])])
def test_mistyped_field_fails_gate_2(env, cfg, field, value):
    paths, store, good, panel, planted = env
    man = json.loads((good.directory / MANIFEST).read_text())
    g = gate_schema({**man, field: value}, panel, cfg)
    assert not g.passed and f"{field}: expected" in g.detail


def test_feature_schema_must_match_the_pipeline(env, cfg):
    paths, store, good, panel, planted = env
    man = json.loads((good.directory / MANIFEST).read_text())
    assert gate_schema(man, panel, cfg).passed
    fs = man["feature_schema"]
    for bad in ({**fs, "names": fs["names"][:-1], "dtypes": fs["dtypes"][:-1]}, {**fs, "dtypes": ["float32"] * len(fs["dtypes"])},
                {**fs, "names": [fs["names"][1], fs["names"][0], *fs["names"][2:]]}):
        assert not gate_schema({**man, "feature_schema": bad}, panel, cfg).passed


def test_churning_book_fails_gate_4(cfg):
    p = load_panel(["BTC/USD", "ETH/USD"], "1h", start="2022-12-01", end="2023-01-21T23:00")
    reg = pd.Series("RISK_ON", index=p.index)
    k = np.arange(len(p.index)) % 48 < 24
    churn = pd.DataFrame({"BTC/USD": np.where(k, 0.5, 0.0), "ETH/USD": np.where(k, 0.0, 0.5)}, index=p.index)
    hold = pd.DataFrame({"BTC/USD": 0.25, "ETH/USD": 0.25}, index=p.index)
    win = p.slice("2023-01-01", None)
    bc, bh = (simulate_book(cfg, win, _signals(w, p, reg, n)) for w, n in ((churn, "churn"), (hold, "hold")))
    g = gate_risk(bc.metrics, bh.metrics, cfg.gates, 21)
    assert not g.passed and g.value["turnover_ratio"] > cfg.gates.max_turnover, g.detail
    assert gate_risk(bh.metrics, bh.metrics, cfg.gates, 21).passed


GOOD = {"sharpe": 0.5, "max_drawdown": 0.15, "exposure": 0.05, "trades": 20, "turnover": 0.02, "fees": 50.0, "starting_equity": 10_000.0}
BASE = {"sharpe": 0.5, "max_drawdown": 0.2, "exposure": 0.3, "trades": 300, "turnover": 0.01, "fees": 100.0, "starting_equity": 10_000.0}
TWINS = [0.49] * 20


def test_plain_gate_functions(cfg):
    g = cfg.gates
    assert gate_oos_metrics(GOOD, g, BASE, TWINS).passed                         # every threshold is inclusive
    for bad in ({"sharpe": 0.49}, {"max_drawdown": 0.151}, {"exposure": 0.049}, {"trades": 19}):
        assert not gate_oos_metrics({**GOOD, **bad}, g, BASE, TWINS).passed, bad
    assert not gate_oos_metrics(GOOD, g, {**BASE, "sharpe": 0.51}, TWINS).passed    # worse than the baseline
    assert not gate_oos_metrics(GOOD, g, BASE, TWINS[:-1] + [0.5]).passed           # a twin ties: p = 2/21
    assert not gate_oos_metrics(GOOD, g, BASE, TWINS[:19]).passed                   # too few twins
    assert gate_risk(GOOD, BASE, g, 90).passed                                       # exactly 2.0× the baseline
    assert not gate_risk({**GOOD, "turnover": 0.0201}, BASE, g, 90).passed


def test_files_changed_while_validating_record_a_fail(env, cfg):
    "Every gate passed, then the model file changed before the verdict was written: the registry refuses PASS, so FAIL is recorded (integrity)."
    from cryptotrader.gates import GateResult, record_verdict
    paths, store, good, panel, planted = env
    g1 = gate_integrity(good.directory)
    assert g1.passed
    gates = {"integrity": g1, **{n: GateResult(n, True, 1, 0, "passed") for n in ("schema", "oos_metrics", "risk")}}
    mf = good.directory / MODEL_FILE
    orig = mf.read_bytes()
    try:
        mf.write_bytes(orig + b"\0")                 # the race: after the gates ran, before the record is written
        rec, after = record_verdict(store, good.model_id, gates, TestClock(AS_OF))
        assert rec["status"] == "FAIL" and not rec["gates"]["integrity"]["passed"]
        assert not after["integrity"].passed and "files changed while validating" in after["integrity"].detail
        assert json.loads(validation_path(store, good.model_id).read_text())["status"] == "FAIL"
        assert not validation_path(store, good.model_id, ready=True).exists()
    finally:
        mf.write_bytes(orig)
