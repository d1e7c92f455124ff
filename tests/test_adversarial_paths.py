"""Adversarial path suite (issue 12, item 7): every way out of this system's namespace is refused. Each attack plants a
symlink, a hard link or a config value under a private data root, then asks the system to write (or to set up for a
write); the attack must be refused with `IsolationError` (or `ConfigError` for the config) and nothing outside may
change. Every test here failed on the code before the fix (the write went through, or nothing was checked)."""
import os
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import run_cli

from cryptotrader.artifacts import ArtifactStore, IsolationError
from cryptotrader.config import PAPER_CONFIG, ConfigError, DataPaths, data_paths, load_config, parse_config
from cryptotrader.data import dataset_dir, dataset_file, store_ohlcv
from cryptotrader.ledger import Ledger
from cryptotrader.risk import KillSwitch
from cryptotrader.artifacts import ledger_path

NS = "crypto/kraken_global"


@pytest.fixture
def world(tmp_path, monkeypatch):
    "A data root (CRYPTOTRADER_HOME), another system's namespace beside ours, and a folder elsewhere on the machine."
    root = tmp_path / "home"
    monkeypatch.setenv("CRYPTOTRADER_HOME", str(root))
    (root / "artifacts/swing/models").mkdir(parents=True)
    (root / "artifacts/swing/models/approved_model.json").write_text('{"model": "swing"}')
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere/victim.txt").write_text("victim\n")
    return root, tmp_path / "elsewhere"


def _snapshot(*dirs: Path) -> dict:
    "Every file (with its bytes) under `dirs`: what must not change."
    return {str(p): p.read_bytes() for d in dirs for p in sorted(d.rglob("*")) if p.is_file()}


@pytest.fixture
def cfg():
    return load_config(PAPER_CONFIG)


# --- the ledger path -------------------------------------------------------------------------------------------------

def test_a_symlinked_ledger_folder_is_refused(world, cfg):
    root, out = world
    (root / "artifacts" / NS).mkdir(parents=True)
    (root / "artifacts" / NS / "ledger").symlink_to(out)
    before = _snapshot(out)
    with pytest.raises(IsolationError, match="refused"):
        ledger_path(cfg)
    with pytest.raises(IsolationError, match="refused"):
        Ledger.from_config(cfg)
    assert _snapshot(out) == before and not list(out.glob("*.sqlite*"))


@pytest.mark.parametrize("suffix", ["", "-wal", ".lock"])
def test_a_ledger_file_symlinked_or_hard_linked_out_is_refused(world, cfg, suffix):
    root, out = world
    d = root / "artifacts" / NS / "ledger"; d.mkdir(parents=True)
    (d / f"paper.sqlite{suffix}").symlink_to(out / "victim.txt")
    with pytest.raises(IsolationError, match="refused"):
        ledger_path(cfg)
    (d / f"paper.sqlite{suffix}").unlink()
    os.link(out / "victim.txt", d / f"paper.sqlite{suffix}")
    with pytest.raises(IsolationError, match="hard link"):
        ledger_path(cfg)
    assert (out / "victim.txt").read_text() == "victim\n"


def test_the_paper_service_refuses_a_symlinked_ledger_folder(world):
    root, out = world
    (root / "artifacts" / NS).mkdir(parents=True)
    (root / "artifacts" / NS / "ledger").symlink_to(out)
    r = run_cli("paper", "--pairs", "BTC/USD", "--start", "2023-01-01", "--end", "2023-01-02", "--no-report", "--no-progress")
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    assert r.stderr.strip().splitlines()[-1].startswith("error: refused path"), r.stderr
    assert sorted(p.name for p in out.iterdir()) == ["victim.txt"]


# --- the dataset path ------------------------------------------------------------------------------------------------

def _bars():
    idx = pd.date_range("2023-01-01", periods=3, freq="1h", tz="UTC", name="timestamp")
    return pd.DataFrame({"open": [1.0, 1.1, 1.2], "high": [1.2, 1.3, 1.4], "low": [0.9, 1.0, 1.1], "close": [1.1, 1.2, 1.3],
                         "volume": [5.0, 6.0, 7.0]}, index=idx)


def test_a_symlinked_dataset_area_is_refused(world, cfg):
    root, out = world
    (root / "datasets" / NS).mkdir(parents=True)
    (root / "datasets" / NS / "live").symlink_to(out)
    before = _snapshot(out)
    for call in (lambda: dataset_dir(cfg, "live"), lambda: dataset_file("BTC/USD", "1h", cfg),
                 lambda: store_ohlcv(_bars(), "BTC/USD", "1h", cfg)):
        with pytest.raises(IsolationError, match="refused"):
            call()
    assert _snapshot(out) == before


def test_a_dataset_file_symlinked_out_is_refused(world, cfg):
    root, out = world
    d = root / "datasets" / NS / "live"; d.mkdir(parents=True)
    (d / "kraken_XBTUSD_1h.parquet").symlink_to(out / "victim.txt")
    with pytest.raises(IsolationError, match="refused"):
        store_ohlcv(_bars(), "BTC/USD", "1h", cfg)
    assert (out / "victim.txt").read_text() == "victim\n"


# --- the kill switch file --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["../KILL", "../../elsewhere/victim.txt", "/tmp/KILL", "artifacts/swing/KILL", "", "~/KILL", "a/../KILL"])
def test_kill_switch_file_must_be_a_plain_name_in_the_data_root(value):
    raw = yaml.safe_load(PAPER_CONFIG.read_text())
    with pytest.raises(ConfigError, match="risk.kill_switch_file"):
        parse_config({**raw, "risk": {**raw["risk"], "kill_switch_file": value}}, "paper.yaml")


def test_a_kill_switch_symlinked_out_is_refused(world, cfg):
    root, out = world
    (root / "KILL").symlink_to(out / "victim.txt")
    with pytest.raises(IsolationError, match="refused"):
        KillSwitch.from_config(cfg)
    r = run_cli("kill", "--release")
    assert r.returncode == 1 and "Traceback" not in r.stderr and r.stderr.startswith("error: refused path"), r.stderr
    assert (out / "victim.txt").read_text() == "victim\n" and (root / "KILL").is_symlink()


def test_kill_with_a_traversing_kill_switch_file_writes_nothing(world, tmp_path):
    root, out = world
    raw = yaml.safe_load(PAPER_CONFIG.read_text())
    raw["risk"]["kill_switch_file"] = "../elsewhere/KILL"
    (tmp_path / "evil.yaml").write_text(yaml.safe_dump(raw))
    r = run_cli("kill", "--reason", "x", "--config", str(tmp_path / "evil.yaml"))
    assert r.returncode == 2 and "risk.kill_switch_file" in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert sorted(p.name for p in out.iterdir()) == ["victim.txt"]


# --- hard links ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("op", ["append_line", "append_lines", "read_bytes", "write_bytes"])
def test_a_hard_linked_file_is_refused(world, op):
    root, out = world
    store = ArtifactStore.for_area(data_paths(), "logs")
    (store.root / "trades").mkdir(parents=True, exist_ok=True)
    os.link(out / "victim.txt", store.root / "trades/2023-01-01.jsonl")
    calls = {"append_line": lambda: store.append_line("trades/2023-01-01.jsonl", '{"x": 1}'),
             "append_lines": lambda: store.append_lines("trades/2023-01-01.jsonl", ['{"x": 1}']),
             "read_bytes": lambda: store.read_bytes("trades/2023-01-01.jsonl"),
             "write_bytes": lambda: store.write_bytes("trades/2023-01-01.jsonl", b"x")}
    with pytest.raises(IsolationError, match="hard link"):
        calls[op]()
    assert (out / "victim.txt").read_text() == "victim\n"


def test_the_ledger_logs_refuse_a_hard_linked_day_file(world, cfg, tmp_path):
    root, out = world
    paths = data_paths(cfg).create()
    day = paths.logs / "trades" / "2023-01-01.jsonl"
    os.link(out / "victim.txt", day)
    led = Ledger(tmp_path / "l.sqlite", paths)
    try:
        with pytest.raises(IsolationError, match="hard link"):
            led._append_lines("trades/2023-01-01.jsonl", ['{"x": 1}'])
    finally: led.close()
    assert (out / "victim.txt").read_text() == "victim\n"


# --- a namespace root (or a folder above it) that is a symlink -------------------------------------------------------

@pytest.mark.parametrize("link,area", [(f"artifacts/{NS}", "artifacts"), ("artifacts/crypto", "artifacts"),
                                       (f"logs/{NS}", "logs"), (f"datasets/{NS}", "datasets")])
def test_a_symlinked_namespace_root_is_refused(world, link, area):
    root, out = world
    target = root / "artifacts/swing/models"          # another system's tree
    (root / link).parent.mkdir(parents=True, exist_ok=True)
    (root / link).symlink_to(target)
    before = _snapshot(root / "artifacts/swing")
    with pytest.raises(IsolationError, match="symlink"):
        ArtifactStore.for_area(data_paths(), area)
    with pytest.raises(IsolationError, match="symlink"):
        data_paths().create()
    assert _snapshot(root / "artifacts/swing") == before
    assert sorted(p.name for p in target.iterdir()) == ["approved_model.json"]


def test_the_cli_refuses_a_symlinked_namespace_root(world):
    root, out = world
    (root / "artifacts/crypto").mkdir(parents=True)
    (root / f"artifacts/{NS}").symlink_to(root / "artifacts/swing/models")
    before = _snapshot(root / "artifacts/swing")
    r = run_cli("paper", "--pairs", "BTC/USD", "--start", "2023-01-01", "--end", "2023-01-02", "--no-report", "--no-progress")
    assert r.returncode == 1 and "Traceback" not in r.stderr and "symlink" in r.stderr.splitlines()[-1], r.stderr
    r = run_cli("kill", "--reason", "x")
    assert r.returncode != 0 or not (root / "artifacts/swing/models/KILL").exists()
    assert _snapshot(root / "artifacts/swing") == before and sorted(p.name for p in (root / "artifacts/swing/models").iterdir()) == ["approved_model.json"]


def test_inside_the_namespace_everything_still_works(world, cfg):
    root, out = world
    paths = data_paths(cfg).create()
    lp = ledger_path(cfg)
    assert lp == paths.artifacts / "ledger" / "paper.sqlite"
    with Ledger.from_config(cfg) as led: assert led.path == lp
    p = store_ohlcv(_bars(), "BTC/USD", "1h", cfg)
    assert p == paths.datasets / "live" / "kraken_XBTUSD_1h.parquet" and p.exists()
    store = ArtifactStore.for_area(paths, "logs")
    store.append_line("trades/x.jsonl", "{}"); store.append_lines("trades/x.jsonl", ["{}"])
    assert store.read_bytes("trades/x.jsonl") == b"{}\n{}\n"
    ks = KillSwitch.from_config(cfg); ks.engage("test"); assert (root / "KILL").exists() and ks.release()
