"""`cryptotrader nightly` end to end, as a user runs it: papermill train + validate, HTML evidence, refusals, the lock."""
import json
import os
from pathlib import Path

import pytest

from cryptotrader.config import DataPaths
from cryptotrader.nightly import HISTORY, nightly_lock

from conftest import run_cli

MID = "crypto_kraken_model_20230331_030500"


def _ns(home: Path) -> Path:
    return home / "artifacts" / "crypto" / "kraken_global"


def _history(home: Path) -> list[dict]:
    p = home / "logs" / "crypto" / "kraken_global" / HISTORY
    return [json.loads(l) for l in p.read_text().splitlines()] if p.exists() else []


@pytest.mark.slow
def test_forced_nightly_produces_candidate_validation_and_reports(home):
    r = run_cli("nightly", "--force", "--as-of", "2023-03-31T03:05:00Z", timeout=300)
    ns = _ns(home)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"{MID}: PASS" in r.stdout
    assert (ns / "candidates" / MID / "metadata.json").is_file() and (ns / "candidates" / MID / "model.skops").is_file()
    rec = json.loads((ns / "validations" / f"{MID}.json").read_text())
    assert rec["status"] == "PASS" and set(rec["gates"]) == {"integrity", "schema", "oos_metrics", "risk"}
    assert (ns / "validations" / f"{MID}.ready").is_file()
    assert rec["gates"]["oos_metrics"]["shuffled_twins"]["n"] == 10          # the skill evidence is part of the record
    for n in ("train", "validate"):
        html = ns / "reports" / MID / f"{n}.html"
        assert html.is_file() and html.stat().st_size > 10_000 and "<html" in html.read_text()[:2000].lower()
        assert (ns / "reports" / MID / f"{n}.ipynb").is_file()
    h = _history(home)[-1]
    assert h["model_id"] == MID and h["status"] == "PASS" and h["gates"]["risk"] is True and h["timings"]["total"] > 0
    assert not (Path(__file__).resolve().parent.parent / "data" / "artifacts" / "crypto" / "kraken_global" / "candidates" / MID).exists()
    again = run_cli("nightly", "--force", "--as-of", "2023-03-31T03:05:00Z")     # the same id again: refused, evidence kept
    assert again.returncode == 1 and "already exists" in again.stderr
    assert json.loads((ns / "validations" / f"{MID}.json").read_text())["status"] == "PASS"


def test_outside_window_is_refused(home):
    r = run_cli("nightly", "--now", "2026-03-01T12:00:00Z")
    assert r.returncode == 1 and "outside the training window" in r.stderr
    assert not (_ns(home) / "candidates").exists() or not any((_ns(home) / "candidates").iterdir())
    assert _history(home)[-1]["status"] == "REFUSED"


def test_concurrent_run_is_refused(home):
    with nightly_lock(DataPaths(home)):
        r = run_cli("nightly", "--force", "--as-of", "2023-03-31T03:05:00Z")
    assert r.returncode == 1 and "another nightly run is in progress" in r.stderr
    assert not (_ns(home) / "reports" / MID).exists()


def test_bad_as_of_is_bad_input(home):
    r = run_cli("nightly", "--force", "--as-of", "2023-03-31T03:05:00")
    assert r.returncode == 2 and "naive" in r.stderr


def test_failing_run_leaves_its_evidence(home, tmp_path):
    # a training notebook that raises (a data folder without data is now refused before papermill: exit 2, no run)
    import nbformat, yaml
    from cryptotrader.config import PAPER_CONFIG
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("raise ValueError('no data for this test')")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, str(tmp_path / "failing_train.ipynb"))
    raw = yaml.safe_load(PAPER_CONFIG.read_text()); raw.setdefault("nightly", {})["train_notebook"] = str(tmp_path / "failing_train.ipynb")
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(raw))
    r = run_cli("nightly", "--force", "--as-of", "2023-03-31T03:05:00Z", "--config", str(tmp_path / "cfg.yaml"), timeout=300)
    assert r.returncode == 1 and "train.ipynb failed" in r.stderr, r.stderr[-2000:]
    rep = _ns(home) / "reports" / MID
    assert (rep / "train.ipynb").is_file() and (rep / "train.html").is_file()
    assert "no data" in (rep / "train.html").read_text()
    assert _history(home)[-1]["status"] == "ERROR"
