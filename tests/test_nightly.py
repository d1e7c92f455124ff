"""`cryptotrader nightly` end to end, as a user runs it: papermill train + validate, HTML evidence, refusals, the lock."""
import json
import os
from pathlib import Path

import pytest

from cryptotrader.config import DataPaths
from cryptotrader.nightly import HISTORY, charts, evidence_problems, nightly_lock

from conftest import run_cli

MID = "crypto_kraken_model_20230331_030500"


def _ns(home: Path) -> Path:
    return home / "artifacts" / "crypto" / "kraken_global"


def _history(home: Path) -> list[dict]:
    p = home / "logs" / "crypto" / "kraken_global" / HISTORY
    return [json.loads(l) for l in p.read_text().splitlines()] if p.exists() else []


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    "A market with a planted, learnable edge (cryptotrader.planted), in the bundled data's layout."
    from cryptotrader.config import load_config
    from cryptotrader.planted import PlantedParams, write_planted_market
    d = tmp_path_factory.mktemp("planted")
    write_planted_market(d, load_config().universe.pairs, PlantedParams(start="2022-01-01", end="2023-03-31T23:00"))
    return d


@pytest.mark.slow
def test_forced_nightly_produces_candidate_validation_and_reports(home, planted):
    "As `make run` runs it (MPLBACKEND=Agg exported): a PASS on the planted market, evidence with charts, no code, no machine paths."
    r = run_cli("nightly", "--force", "--as-of", "2023-03-31T03:05:00Z", "--data-dir", str(planted), env={"MPLBACKEND": "Agg"}, timeout=600)
    ns = _ns(home)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"{MID}: PASS" in r.stdout and "✓ permutation p" in r.stdout and "✓ turnover ÷ baseline turnover" in r.stdout, r.stdout
    assert "[1/4] training" in r.stderr and "[4/4] rendering validate.html" in r.stderr
    assert "WARNING" not in r.stderr and "Debugger warning" not in r.stderr, r.stderr      # no kernel warnings
    assert (ns / "candidates" / MID / "metadata.json").is_file() and (ns / "candidates" / MID / "model.skops").is_file()
    rec = json.loads((ns / "validations" / f"{MID}.json").read_text())
    assert rec["status"] == "PASS" and set(rec["gates"]) == {"integrity", "schema", "oos_metrics", "risk"}
    assert (ns / "validations" / f"{MID}.ready").is_file()
    assert rec["gates"]["oos_metrics"]["shuffled_twins"]["n"] == 20          # the permutation test is part of the record
    for n in ("train", "validate"):
        html = ns / "reports" / MID / f"{n}.html"
        assert html.is_file() and html.stat().st_size > 10_000 and "<html" in html.read_text()[:2000].lower()
        assert evidence_problems(html.read_text(), (str(home), str(planted), str(Path(__file__).resolve().parent.parent))) == []
        assert (ns / "reports" / MID / f"{n}.ipynb").is_file()
    v = (ns / "reports" / MID / "validate.html").read_text()
    assert charts(v) >= 4 and v.index(f"{MID}: <strong>PASS</strong>") < v.index('src="data:image/png;base64,')    # the verdict comes first
    h = _history(home)[-1]
    assert h["model_id"] == MID and h["status"] == "PASS" and h["gates"]["risk"] is True and h["timings"]["total"] > 0
    assert not (Path(__file__).resolve().parent.parent / "data" / "artifacts" / "crypto" / "kraken_global" / "candidates" / MID).exists()
    again = run_cli("nightly", "--force", "--as-of", "2023-03-31T03:05:00Z", "--data-dir", str(planted))     # the same id again: refused
    assert again.returncode == 1 and "already exists" in again.stderr
    assert json.loads((ns / "validations" / f"{MID}.json").read_text())["status"] == "PASS"
    show = run_cli("models", "show", MID)
    assert show.returncode == 0 and show.stdout.startswith(f"{MID}: PASS") and "promotable: yes" in show.stdout, show.stdout


@pytest.mark.slow
def test_control_on_the_planted_market_fails_and_is_never_promotable(home, planted):
    r = run_cli("nightly", "--force", "--as-of", "2023-03-31T03:05:00Z", "--data-dir", str(planted), "--shuffle-labels", "--seed", "4",
                "--quiet", timeout=600)
    cid = "crypto_kraken_model_20230331_030005"
    assert r.returncode == 1 and f"{cid}: FAIL (CONTROL" in r.stdout and "✗ permutation p" in r.stdout, r.stdout + r.stderr
    assert "[1/4]" not in r.stderr                                                  # --quiet
    man = json.loads((_ns(home) / "candidates" / cid / "metadata.json").read_text())
    assert man["control"] is True and man["shuffle_labels"] is True and man["seed"] == 4
    assert not (_ns(home) / "validations" / f"{cid}.ready").exists()
    models = run_cli("models")
    assert f"{cid}" in models.stdout and "CONTROL (shuffled labels)" in models.stdout
    p = run_cli("promote-model", "--model-id", cid, "--env", "paper_kraken_crypto_global", "--reason", "noise", "--confirm", "yes-promote")
    assert p.returncode == 1 and "a control can never be promoted" in p.stderr


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


@pytest.mark.slow
def test_paper_replay_then_nightly_trains_on_its_trades(home):
    "The recorded-trades loop: the paper service's own ledger (trades + observations) feeds the next nightly run; nothing held out."
    p = run_cli("paper", "--start", "2022-07-01", "--end", "2023-03-30T23:00", "--no-progress", "--no-report", timeout=600)
    assert p.returncode == 0, p.stderr[-2000:]
    r = run_cli("nightly", "--force", "--as-of", "2023-03-31T03:05:00Z", "--quiet", "--json", timeout=600)
    assert r.returncode in (0, 1) and "ERROR" not in r.stdout, r.stdout[-2000:] + r.stderr[-2000:]
    man = json.loads((_ns(home) / "candidates" / MID / "metadata.json").read_text())
    rec = man["recorded"]
    assert rec["trades"] > 0 and rec["observations"] > 1000 and man["events_from_trades"] > 0, rec
    assert man["train_range"]["end"] < rec["read_before"] < man["oos_range"]["start"]    # nothing from the held-out window is read
