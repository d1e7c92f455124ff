"""One source of truth for strategy and regime names: the config's lists are the registry's and the regime engine's."""
import pytest
from cryptotrader.config import REGIME_NAMES, STRATEGY_NAMES, SelectorParams, load_config
from cryptotrader.ml import register_ml_filtered
from cryptotrader.regime import REGIMES
from cryptotrader.strategies import STRATEGIES, Strategy, register

def test_config_strategy_names_are_the_registry():
    register_ml_filtered()
    assert set(STRATEGIES) == set(STRATEGY_NAMES)

def test_regime_names_are_the_selector_sections():
    assert REGIMES == REGIME_NAMES
    assert tuple(k for k in SelectorParams.model_fields) == REGIME_NAMES
    cfg = load_config()
    assert {a.strategy for r in REGIME_NAMES for a in getattr(cfg.selector, r)} <= set(STRATEGIES)

def test_a_strategy_the_config_cannot_name_is_refused():
    class Unlisted(Strategy):
        name = "unlisted_strategy"
    with pytest.raises(ValueError, match="STRATEGY_NAMES"):
        register(Unlisted)
    assert "unlisted_strategy" not in STRATEGIES


def test_the_ml_band_does_not_import_the_engine():
    "The model and its runtime need `Signals` (23_signals), not the trading engine or a broker."
    import json, subprocess, sys
    code = "import sys, cryptotrader.ml, cryptotrader.model_runtime, json; print(json.dumps(sorted(m for m in sys.modules if m.startswith('cryptotrader.'))))"
    mods = set(json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout))
    assert "cryptotrader.signals" in mods
    assert not mods & {"cryptotrader.engine", "cryptotrader.broker", "cryptotrader.kraken_broker", "cryptotrader.node"}, sorted(mods)


def test_methods_are_defined_where_they_are_documented():
    "No method is attached by assignment (`Cls.meth = _meth`): `@patch` or the class body, so each one is in the docs index."
    import re
    from pathlib import Path
    import cryptotrader
    from cryptotrader._modidx import d
    pkg = Path(cryptotrader.__file__).parent
    assigned = [f"{p.name}:{i}: {l.strip()}" for p in sorted(pkg.glob("*.py")) if p.name != "_modidx.py"
                for i, l in enumerate(p.read_text().splitlines(), 1) if re.match(r"^[A-Z]\w*\.\w+(\s*,\s*[A-Z]\w*\.\w+)*\s*=\s*_\w+", l)]
    assert not assigned, assigned
    syms = d["syms"]
    for mod, name in [("engine", "TradingEngine.step"), ("broker", "PaperBroker.submit"), ("ledger", "Ledger.apply_event"),
                      ("model_runtime", "ModelSignals.at"), ("node", "TradingNode.run"), ("artifacts", "ArtifactStore.resolve")]:
        assert f"cryptotrader.{mod}.{name}" in syms[f"cryptotrader.{mod}"], name
