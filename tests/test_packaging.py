"""The runtime image's install, without Docker: a non-editable wheel carries the configs, the bundled data and the nightly
notebooks, works from outside the checkout, and the runtime requirements leave the development tools out."""
import json
import shutil
import subprocess
import sys
import zipfile
from configparser import ConfigParser

import pytest
from conftest import ROOT

BUILD_FILES = ["setup.py", "settings.ini", "README.md", "MANIFEST.in", "pyproject.toml", "requirements.txt", "requirements-runtime.txt"]
BUILD_DIRS = ["cryptotrader", "config", "data/kraken_api", "data/ohlcv", "scheduled_runs"]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    "The wheel `pip wheel .` builds from a copy of the checkout (with a stray run-time folder that must not be packaged)."
    src = tmp_path_factory.mktemp("src")
    for f in BUILD_FILES + ["data/MANIFEST.json", "data/README.md"]:
        (src / f).parent.mkdir(parents=True, exist_ok=True); shutil.copy2(ROOT / f, src / f)
    for d in BUILD_DIRS: shutil.copytree(ROOT / d, src / d, ignore=shutil.ignore_patterns("__pycache__", "_bundle"))
    (src / "data/artifacts/crypto").mkdir(parents=True); (src / "data/artifacts/crypto/secret-ledger.sqlite").write_text("x")
    out = tmp_path_factory.mktemp("wheels")
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "--wheel-dir", str(out), "."],
                       cwd=src, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    (whl,) = out.glob("cryptotrader-*.whl")
    return whl


def test_the_wheel_carries_configs_data_and_notebooks(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    b = "cryptotrader/_bundle/"
    man = json.loads((ROOT / "data/MANIFEST.json").read_text())
    want = {b + "config/crypto/paper.kraken.crypto.global.yaml", b + "config/crypto/live.kraken.crypto.global.yaml", b + "requirements.txt",
            b + "scheduled_runs/train.ipynb", b + "scheduled_runs/validate.ipynb", b + "data/MANIFEST.json"}
    want |= {b + "data/" + e["file"] for e in man["files"] + man["kraken_api"]}
    assert want <= names, sorted(want - names)
    assert not [n for n in names if "data/artifacts" in n or n.startswith(("tests/", "nbs/")) or "/.venv/" in n], "run-time or development files packaged"


def test_an_installed_wheel_works_outside_the_checkout(wheel, tmp_path):
    "Installed (unpacked: a pure wheel) away from the repository, it finds its bundle, verifies it, and writes nothing into itself."
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    code = ("import sys, cryptotrader.config as c, cryptotrader.cli as cli; assert c.__file__.startswith(sys.argv[1]), c.__file__; "
            "assert c.PROJECT_ROOT.name == '_bundle' and c.LIVE_CONFIG.is_file(), c.PROJECT_ROOT; "
            "assert str(c.data_root(c.load_config())).startswith(sys.argv[2]), c.data_root(c.load_config()); "
            "cfg = c.load_config(); sys.exit(0 if cli.run_checks([(n, f) for n, f in cli.verify_checks(cfg) if n != 'packages']) else 1)")   # verify, minus the 10 s import of every package
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(site), "CRYPTOTRADER_HOME": str(tmp_path / "home"), "XDG_DATA_HOME": str(tmp_path / "xdg"),
           "HOME": str(tmp_path), "MPLBACKEND": "Agg"}
    r = subprocess.run([sys.executable, "-c", code, str(site), str(tmp_path / "xdg")], cwd=tmp_path, env={**env, "CRYPTOTRADER_HOME": ""},
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    assert "✓ bundled data" in r.stdout and "✓ configs" in r.stdout and "✗" not in r.stdout, r.stdout
    assert not list((site / "cryptotrader").rglob("*.sqlite")) and not (site / "cryptotrader/_bundle/data/artifacts").exists()


def test_runtime_requirements_leave_the_development_tools_out():
    r = subprocess.run([sys.executable, "scripts/runtime_requirements.py", "--check"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr                                         # generated from the lock and settings.ini, up to date
    names = {l.split("==")[0].lower().replace("_", "-") for l in (ROOT / "requirements-runtime.txt").read_text().splitlines() if "==" in l}
    assert not names & {"jupyterlab", "pytest", "nbdev", "nbval", "hypothesis", "pytest-xdist", "execnb", "jupyter-server"}, names
    cfg = ConfigParser(delimiters=["="]); cfg.read(ROOT / "settings.ini")
    assert {n.lower().replace("_", "-") for n in cfg["DEFAULT"]["requirements"].split()} | {"ipykernel"} <= names
    assert "-e ." not in (ROOT / "Dockerfile").read_text() and "requirements-runtime.txt" in (ROOT / "Dockerfile").read_text()
