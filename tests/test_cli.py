"""The console script as a user runs it: subprocesses, exit codes, one-line errors, --help everywhere."""
import json

import pytest
from conftest import ROOT, run_cli

PAPER = ROOT / "config/crypto/paper.kraken.crypto.global.yaml"
SUBCOMMANDS = ["verify", "universe", "schedule", "config"]


@pytest.mark.parametrize("sub", [None, *SUBCOMMANDS])
def test_help_everywhere(sub):
    r = run_cli(*([sub] if sub else []), "--help")
    assert r.returncode == 0, r.stderr
    assert "usage: cryptotrader" in r.stdout
    if sub is None:
        assert all(s in r.stdout for s in SUBCOMMANDS)


def test_universe_json_has_the_ten_pairs_with_real_metadata(home):
    r = run_cli("universe", "--json")
    assert r.returncode == 0, r.stderr
    rows = {x["symbol"]: x for x in json.loads(r.stdout)}
    assert list(rows) == ["BTC/USD", "ETH/USD", "SOL/USD", "XRP/USD", "ADA/USD", "DOT/USD", "LINK/USD", "LTC/USD", "AVAX/USD", "DOGE/USD"]
    assert (rows["BTC/USD"]["kraken_id"], rows["BTC/USD"]["altname"], rows["BTC/USD"]["wsname"]) == ("XXBTZUSD", "XBTUSD", "XBT/USD")
    assert (rows["DOGE/USD"]["kraken_id"], rows["DOGE/USD"]["altname"]) == ("XDGUSD", "XDGUSD")
    assert rows["BTC/USD"]["ordermin"] == 0.00005 and rows["DOGE/USD"]["ordermin"] == 13
    assert all(x["taker_fee"] == 0.004 and x["maker_fee"] == 0.0025 and x["costmin"] == 0.5 for x in rows.values())


@pytest.mark.parametrize("at,allowed,next_change", [
    ("2026-03-01T03:00:00Z", False, "2026-03-01T05:00:00Z"),
    ("2026-03-01T04:59:59.999Z", False, "2026-03-01T05:00:00Z"),
    ("2026-03-01T05:00:00Z", True, "2026-03-02T03:00:00Z"),
    ("2026-03-01T04:30:00+02:00", True, "2026-03-01T03:00:00Z"),  # 02:30 UTC
])
def test_schedule_json(at, allowed, next_change):
    r = run_cli("schedule", "--at", at, "--json")
    assert r.returncode == 0, r.stderr
    st = json.loads(r.stdout)
    assert (st["trading_allowed"], st["in_training_window"], st["next_change"]) == (allowed, not allowed, next_change)


def test_naive_time_is_refused():
    r = run_cli("schedule", "--at", "2026-03-01T03:00:00")
    assert r.returncode == 2 and "naive datetime" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("old,new,field", [
    ("max_open_orders: 20", "max_open_ordrs: 20", "risk.max_open_ordrs: unknown key (did you mean 'max_open_orders'?)"),
    ("seed: 42", "seed: forty-two", "execution.seed: Input should be a valid integer"),
    ("max_turnover: 2.0", "max_turnover: \"2.0\"", "gates.max_turnover: Input should be a valid number"),
    ("timeframe: 1h", "timeframe: 2h", "timeframe: Input should be"),
    ('training_window_start: "03:00"', 'training_window_start: "3am"', "schedule.training_window_start: expected HH:MM"),
    ("  rate_tier: starter", "  rate_tier: starter\n  api_secret: c2VjcmV0", "live.api_secret: credentials are never read from YAML"),
])
@pytest.mark.parametrize("sub", ["config", "schedule", "universe", "verify"])
def test_bad_config_exits_2_naming_the_field(tmp_path, old, new, field, sub):
    bad = tmp_path / "bad.yaml"
    text = PAPER.read_text()
    assert old in text
    bad.write_text(text.replace(old, new))
    r = run_cli(sub, "--config", str(bad))
    assert r.returncode == 2, (r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {bad}: ") and field in lines[0], r.stderr
    assert "Traceback" not in r.stderr and "c2VjcmV0" not in r.stderr


def test_missing_config_exits_2(tmp_path):
    r = run_cli("universe", "--config", str(tmp_path / "nope.yaml"))
    assert r.returncode == 2 and "config file not found" in r.stderr


def test_verify_passes_on_this_machine(home):
    r = run_cli("verify")
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.count("✓") == 7 and "ALL CHECKS PASSED" in r.stdout
    assert (home / "artifacts/crypto/kraken_global/models").is_dir()
    assert (home / "logs/crypto/kraken_global/approvals").is_dir() and (home / "datasets/crypto/kraken_global/training").is_dir()


def test_verify_fails_with_exit_1_when_the_data_root_is_unusable(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    r = run_cli("verify", env={"CRYPTOTRADER_HOME": str(blocker / "root")})
    assert r.returncode == 1
    assert "✗ data root" in r.stdout and "SOME CHECKS FAILED" in r.stdout


def test_config_prints_defaults_filled_in():
    r = run_cli("config", "--json")
    cfg = json.loads(r.stdout)
    assert r.returncode == 0 and cfg["env"] == "paper_kraken_crypto_global" and cfg["gates"]["min_sharpe"] == 0.5


# --pairs: every command reads it with cli.parse_pairs — comma- or space-separated, any Kraken or unified name
PAIR_FORMS = {"comma": ["BTC/USD,ETH/USD"], "space-kraken": ["XBTUSD", "ETHUSD"]}
SHORT = ["--start", "2023-06-01", "--end", "2023-06-10"]
NOWHERE = "http://127.0.0.1:9"   # nothing listens there: a command that got past its arguments fails to connect
NO_CREDS = {"KRAKEN_API_KEY": "", "KRAKEN_API_SECRET": "", "KRAKEN_API_KEY_FILE": ""}
PAIR_COMMANDS = {
    "regime": ["regime", *SHORT],
    "backtest": ["backtest", *SHORT, "--json"],
    "paper": ["paper", *SHORT, "--no-progress", "--no-report", "--summary-json", "-"],
    "data fetch": ["data", "fetch", "--exchange-url", NOWHERE, "--pace", "0", "--timeout", "2"],
    "live": ["live", "--exchange-url", NOWHERE],
}


def _check_pairs_accepted(cmd: str, r) -> None:
    from conftest import json_tail
    both = ["BTC/USD", "ETH/USD"]
    if cmd == "regime": assert r.returncode == 0 and "breadth over 2 pairs" in r.stdout, r.stderr
    elif cmd == "backtest": assert r.returncode == 0 and json_tail(r.stdout)["pairs"] == both, r.stderr
    elif cmd == "paper": assert r.returncode == 0 and json_tail(r.stdout)["pairs"] == both, r.stderr
    elif cmd == "data fetch":                                   # both pairs resolved, by unified name, then the fetch fails
        assert r.returncode == 1 and "BTC/USD 1h: FAILED" in r.stderr and "ETH/USD 1h: FAILED" in r.stderr, r.stderr
    elif cmd == "live":                                         # past the pairs, refused for the missing credentials
        assert r.returncode == 2 and "credentials" in r.stderr and "pair" not in r.stderr, r.stderr


@pytest.mark.parametrize("form", PAIR_FORMS)
@pytest.mark.parametrize("cmd", PAIR_COMMANDS)
def test_every_pairs_option_takes_both_spellings(cmd, form, home):
    r = run_cli(*PAIR_COMMANDS[cmd], "--pairs", *PAIR_FORMS[form], env=NO_CREDS, timeout=300)
    _check_pairs_accepted(cmd, r)


@pytest.mark.parametrize("cmd", PAIR_COMMANDS)
def test_an_unknown_pair_is_exit_2_naming_it(cmd, home):
    r = run_cli(*PAIR_COMMANDS[cmd], "--pairs", "XBTUSD", "eth/usd,PEPE/USD", env=NO_CREDS)
    assert r.returncode == 2 and "PEPE/USD" in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "Traceback" not in r.stderr


def test_paper_stores_unified_pairs_so_either_spelling_resumes_the_same_run(home):
    "The pairs are part of the replay's identity: `XBTUSD ETHUSD` resumes the run started as `BTC/USD,ETH/USD` (a different run would be refused)."
    first = run_cli(*PAIR_COMMANDS["paper"], "--pairs", "BTC/USD,ETH/USD")
    again = run_cli(*PAIR_COMMANDS["paper"], "--pairs", "XBTUSD", "eth/usd")
    assert first.returncode == 0 and again.returncode == 0, again.stderr
    other = run_cli(*PAIR_COMMANDS["paper"], "--pairs", "BTC/USD")
    assert other.returncode == 2 and "--fresh" in other.stderr
