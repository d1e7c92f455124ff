"""`cryptotrader --help` and `status` start fast: the CLI imports no heavy library until a command needs it.

Speed itself is measured, not asserted (`benchmarks/`); what a test can hold is the import list, which is what makes it slow."""
import json, subprocess, sys
import pytest

HEAVY = ("pandas", "numpy", "vectorbt", "ccxt", "sklearn", "matplotlib", "pyarrow", "scipy", "numba", "skops",
         "papermill", "apprise", "starlette", "uvicorn", "jinja2", "prometheus_client", "dask", "tqdm")

def imported_after(code: str) -> set[str]:
    "Top-level modules imported by a fresh interpreter after running `code`."
    probe = code + "\nimport json, sys\nprint(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True).stdout
    return set(json.loads(out.strip().splitlines()[-1]))

def test_help_imports_no_heavy_library():
    mods = imported_after("import cryptotrader.cli as c\ntry: c.main(['--help'])\nexcept SystemExit: pass")
    assert not mods & set(HEAVY), f"`cryptotrader --help` imports {sorted(mods & set(HEAVY))}: import them inside the commands that use them"

def test_every_subcommand_help_is_light():
    "Building the parser registers every subcommand (all cli_* modules): none of them may import a heavy library at the top."
    mods = imported_after("import cryptotrader.cli as c\nc.build_parser()")
    assert not mods & set(HEAVY), sorted(mods & set(HEAVY))

def test_the_probe_can_fail():
    "The check sees a heavy import when there is one."
    assert "pandas" in imported_after("import cryptotrader.cli\nimport pandas")


def test_status_imports_no_heavy_library(tmp_path):
    "`cryptotrader status` reads the ledger with SQL: no pandas, even when there is a ledger to read."
    from cryptotrader.artifacts import ledger_path
    from cryptotrader.config import PAPER_CONFIG, data_paths, load_config
    from cryptotrader.ledger import Ledger
    env = {"CRYPTOTRADER_HOME": str(tmp_path / "home")}
    cfg = load_config(PAPER_CONFIG)
    Ledger(ledger_path(cfg, env), data_paths(cfg, env).create()).close()          # an (empty) ledger exists
    code = (f"import os; os.environ['CRYPTOTRADER_HOME'] = {env['CRYPTOTRADER_HOME']!r}\n"
            "import cryptotrader.cli as c, contextlib, io\n"
            "with contextlib.redirect_stdout(io.StringIO()): assert c.main(['status', '--json']) == 0")
    mods = imported_after(code)
    assert not mods & set(HEAVY), f"`cryptotrader status` imports {sorted(mods & set(HEAVY))}"
