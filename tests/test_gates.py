"""The four validation gates, tested directly as plain functions (the notebook nbs/44_gates.ipynb shows the same on real data)."""
import json
import shutil

import numpy as np
import pandas as pd
import pytest

from cryptotrader.artifacts import ArtifactStore
from cryptotrader.clock import TestClock
from cryptotrader.config import DataPaths, load_config
from cryptotrader.gates import (REQUIRED_FIELDS, gate_integrity, gate_oos_metrics, gate_risk, gate_schema, load_validation_panel,
                                run_gates)
from cryptotrader.ml import MODEL_FILE, MLParams, train_candidate
from cryptotrader.registry import MANIFEST, validation_path
from cryptotrader.strategies import STRATEGIES, Strategy, register

AS_OF = "2023-03-31T03:05:00Z"   # a window where the model passes on the bundled data (see the report in nbs/44_gates.ipynb)


@pytest.fixture(scope="module")
def cfg():
    return load_config()


@pytest.fixture(scope="module")
def env(tmp_path_factory, cfg):
    paths = DataPaths(tmp_path_factory.mktemp("gates"))
    store = ArtifactStore.for_area(paths)
    good = train_candidate(cfg, AS_OF, store, paths=paths)
    return paths, store, good, load_validation_panel(good.manifest)


def test_good_model_can_pass(env, cfg):
    paths, store, good, panel = env
    v = run_gates(store, good.model_id, cfg, panel, TestClock(AS_OF))
    assert v.passed, v.table()
    assert validation_path(store, good.model_id, ready=True).exists()
    assert json.loads(validation_path(store, good.model_id).read_text())["status"] == "PASS"


def test_shuffled_labels_fail_gate_3(env, cfg):
    paths, store, good, panel = env
    shuf = train_candidate(cfg, "2023-03-31T03:06:00Z", store, paths=paths, shuffle_labels=True)
    v = run_gates(store, shuf.model_id, cfg, panel, TestClock(AS_OF))
    assert v.gates["integrity"].passed and v.gates["schema"].passed
    assert not v.gates["oos_metrics"].passed and not v.passed
    assert not validation_path(store, shuf.model_id, ready=True).exists()


def test_tampered_model_fails_gate_1(env, cfg, tmp_path):
    paths, store, good, panel = env
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
    paths, store, good, panel = env
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
    paths, store, good, panel = env
    man = json.loads((good.directory / MANIFEST).read_text())
    g = gate_schema({k: v for k, v in man.items() if k != field}, panel, cfg)
    assert not g.passed and f"{field}: missing" in g.detail


@pytest.mark.parametrize("field,value", [("seed", "0"), ("seed", True), ("pairs", "BTC/USD"), ("params", []), ("git_commit", None),
                                         ("metrics", 1.0), ("feature_schema", ["ret_1"])])
def test_mistyped_field_fails_gate_2(env, cfg, field, value):
    paths, store, good, panel = env
    man = json.loads((good.directory / MANIFEST).read_text())
    g = gate_schema({**man, field: value}, panel, cfg)
    assert not g.passed and f"{field}: expected" in g.detail


def test_feature_schema_must_match_the_pipeline(env, cfg):
    paths, store, good, panel = env
    man = json.loads((good.directory / MANIFEST).read_text())
    assert gate_schema(man, panel, cfg).passed
    fs = man["feature_schema"]
    for bad in ({**fs, "names": fs["names"][:-1], "dtypes": fs["dtypes"][:-1]}, {**fs, "dtypes": ["float32"] * len(fs["dtypes"])},
                {**fs, "names": [fs["names"][1], fs["names"][0], *fs["names"][2:]]}):
        assert not gate_schema({**man, "feature_schema": bad}, panel, cfg).passed


def test_model_trading_every_bar_fails_gate_4(env, cfg):
    paths, store, good, panel = env

    class Churn(Strategy):
        "Test double: in on even bars, out on odd ones."
        name = "churn_pytest"
        def signal(self, features, panel):
            on = (np.arange(len(panel.close)) % 2 == 0).astype(float)[:, None]
            return pd.DataFrame(np.repeat(on, len(panel.symbols), 1) / len(panel.symbols), index=panel.close.index, columns=panel.close.columns)

    register(Churn)
    try:
        c = train_candidate(cfg, "2023-03-31T03:07:00Z", store, paths=paths, pairs=["BTC/USD", "ETH/USD"], lookback_days=120,
                            params=MLParams(base_strategies=("churn_pytest",), threshold=0.01, oos_days=30, n_splits=2))
        v = run_gates(store, c.model_id, cfg, load_validation_panel(c.manifest), TestClock(AS_OF))
        assert not v.gates["risk"].passed and v.gates["risk"].value > cfg.gates.max_turnover and not v.passed
    finally:
        del STRATEGIES["churn_pytest"]


def test_plain_gate_functions(cfg):
    idx = pd.date_range("2024-01-01", periods=240, freq="1h", tz="UTC")
    close = pd.DataFrame({"BTC/USD": 100.0}, index=idx)
    every_bar = pd.DataFrame({"BTC/USD": np.tile([0.0, 1.0], 120)}, index=idx)
    assert not gate_risk(every_bar, close, "1h", cfg.gates).passed
    assert gate_risk(every_bar.iloc[:, :0].reindex(columns=["BTC/USD"]).fillna(0.5), close, "1h", cfg.gates).passed
    assert gate_oos_metrics({"sharpe": 0.5, "max_drawdown": 0.15}, cfg.gates).passed      # thresholds are inclusive
    assert not gate_oos_metrics({"sharpe": 0.49, "max_drawdown": 0.05}, cfg.gates).passed
    assert not gate_oos_metrics({"sharpe": 3.0, "max_drawdown": 0.151}, cfg.gates).passed
