"""`cryptotrader dashboard` as an operator uses it: the real server (uvicorn), a real headless browser (Debian's chromium),
the numbers of the paper and live-rehearsal ledgers, the token, Prometheus /metrics."""
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from conftest import BIN, ROOT, run_cli

from cryptotrader.config import LIVE_CONFIG, PAPER_CONFIG, load_config
from cryptotrader.ledger import Ledger

TOKEN = "test-token-123"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0)); return s.getsockname()[1]


def _get(url, headers=None):
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=30) as r: return r.status, r.read().decode()
    except urllib.error.HTTPError as e: return e.code, e.read().decode()


def _live_rehearsal(home: Path):
    "`cryptotrader live --rules-only --max-bars 2` against the Kraken-compatible test exchange (real ccxt over HTTP on 127.0.0.1)."
    from test_live import _server, PAIRS
    srv = _server(); srv.start(); srv.run_clock(speed=3600)          # an hour bar closes every second
    key, secret = srv.credentials
    try:
        r = run_cli("live", "--config", str(LIVE_CONFIG), "--exchange-url", srv.base_url, "--pairs", *PAIRS, "--rules-only", "--max-bars", "2",
                    env={"CRYPTOTRADER_HOME": str(home), "KRAKEN_API_KEY": key, "KRAKEN_API_SECRET": secret}, timeout=120)
    finally: srv.stop()
    assert r.returncode == 0, r.stderr[-2000:]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    home = tmp_path_factory.mktemp("dash")
    env = {"CRYPTOTRADER_HOME": str(home)}
    paper = subprocess.Popen([str(BIN / "cryptotrader"), "paper", "--pairs", "BTC/USD", "ETH/USD", "--start", "2022-05-01", "--end", "2022-07-31 23:00",
                              "--no-progress", "--no-report", "--summary-json", str(home / "s.json")], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, cwd=ROOT, env={**os.environ, **env})
    _live_rehearsal(home)                        # meanwhile (its own ledger, the same data root)
    _, err = paper.communicate(timeout=300)
    assert paper.returncode == 0, err[-2000:]
    port = _free_port()
    proc = subprocess.Popen([str(BIN / "cryptotrader"), "dashboard", "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=ROOT, env={**os.environ, **env, "CRYPTOTRADER_DASHBOARD_TOKEN": TOKEN})
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if _get(base + "/health")[0] == 200: break
        except OSError: time.sleep(0.2)
    else: proc.kill(); pytest.fail("the dashboard did not start: " + proc.stderr.read())
    yield base, home, json.loads((home / "s.json").read_text())
    proc.terminate()
    assert proc.wait(timeout=30) == 0            # SIGTERM: a clean exit


def test_refuses_without_its_token(served):
    base, _, _ = served
    assert _get(base + "/env/paper_kraken_crypto_global")[0] == 401
    assert _get(base + "/metrics")[0] == 401
    assert _get(base + "/env/paper_kraken_crypto_global", {"Authorization": "Bearer nope"})[0] == 401


def _dom(url: str, shot: Path | None = None) -> str:
    assert CHROMIUM, "chromium is not installed: `make install` installs it (apt-get install -y chromium)"
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", f"--user-data-dir={shot.parent / 'profile' if shot else '/tmp/ct-chromium'}"]
    dom = subprocess.run([CHROMIUM, *flags, "--dump-dom", url], capture_output=True, text=True, timeout=120)
    if shot is not None:
        subprocess.run([CHROMIUM, *flags, f"--screenshot={shot}", "--window-size=1200,1600", url], capture_output=True, timeout=120)
    return dom.stdout


def test_paper_and_live_pages_show_their_own_ledgers_in_a_browser(served, tmp_path):
    base, home, summary = served
    dom = _dom(f"{base}/env/paper_kraken_crypto_global?token={TOKEN}", tmp_path / "paper.png")
    assert f"<td id=\"equity\">{summary['final_equity']:,.2f}</td>" in dom, dom[:2000]
    assert "paper_kraken_crypto_global" in dom and "Open orders" in dom and "equity.svg" in dom
    assert (tmp_path / "paper.png").stat().st_size > 10_000            # the screenshot is kept with the test's files
    with Ledger(home / "artifacts/crypto/kraken_global/ledger/live.sqlite", readonly=True) as led:
        live_equity = float(led.equity_curve().equity.iloc[-1])
    live = _dom(f"{base}/env/live_kraken_crypto_global?token={TOKEN}", tmp_path / "live.png")
    assert f"<td id=\"equity\">{live_equity:,.2f}</td>" in live and "live_kraken_crypto_global" in live
    assert '<td id="exchange">reachable</td>' in live and '<td id="switch">armed (trigger' in live   # live's own exchange and switch
    assert '<td id="exchange">' not in dom                                                          # (a replay has neither)
    assert f"{summary['final_equity']:,.2f}" not in live                # never another environment's numbers
    assert "No ledger yet" in _get(f"{base}/env/paper_kraken_crypto_global-realtime?token={TOKEN}")[1]   # (no browser needed for that)


def test_metrics_scrape(served):
    base, _, summary = served
    code, text = _get(base + "/metrics", {"Authorization": f"Bearer {TOKEN}"})
    assert code == 200
    vals = {l.split(" ")[0]: float(l.split(" ")[1]) for l in text.splitlines() if l and not l.startswith("#")}
    assert vals['cryptotrader_equity{env="paper_kraken_crypto_global"}'] == summary["final_equity"]
    assert vals['cryptotrader_fills{env="paper_kraken_crypto_global"}'] == summary["trades"]
    assert 'cryptotrader_equity{env="live_kraken_crypto_global"}' in vals
    live_ohlc = 'cryptotrader_exchange_latency_seconds_count{endpoint="OHLC",env="live_kraken_crypto_global"}'
    assert vals[live_ohlc] >= 3 and vals['cryptotrader_exchange_latency_seconds_count{endpoint="AddOrder",env="live_kraken_crypto_global"}'] >= 1
    assert not any("exchange_latency" in k and "paper_kraken" in k for k in vals)   # the replay made no exchange call
    assert vals['cryptotrader_exchange_unreachable{env="live_kraken_crypto_global"}'] == 0
    assert vals['cryptotrader_last_bar_age_seconds{env="live_kraken_crypto_global"}'] >= 0


def test_the_chart_shades_the_regimes(served):
    "The equity chart of the paper replay: each regime the engine was in has its shade (from the ledger's regime events)."
    from cryptotrader.dashboard import regime_history
    from cryptotrader.regime import REGIME_COLORS
    base, home, _ = served
    code, svg = _get(base + "/env/paper_kraken_crypto_global/equity.svg", {"Authorization": f"Bearer {TOKEN}"})
    assert code == 200 and "<svg" in svg
    with Ledger(home / "artifacts/crypto/kraken_global/ledger/paper.sqlite", readonly=True) as led:
        regimes = set(regime_history(led))
    assert len(regimes) >= 2 and all(REGIME_COLORS[r] in svg for r in regimes), regimes


def test_status_per_environment_reads_only_its_own_ledger(served):
    "Paper and live in one data root: each `status` shows its own ledger's numbers and real-time state, never the other's."
    from cryptotrader.cli_trading import service_status
    _, home, summary = served
    env = {"CRYPTOTRADER_HOME": str(home)}
    paper, live = service_status(load_config(PAPER_CONFIG), environ=env), service_status(load_config(LIVE_CONFIG), environ=env)
    with Ledger(home / "artifacts/crypto/kraken_global/ledger/live.sqlite", readonly=True) as led:
        want = (round(float(led.equity_curve().equity.iloc[-1]), 2), led.get_state("regime"), led.get_state("active"))
    assert (paper["equity"], paper["last_bar"]) == (summary["final_equity"], summary["end"])
    assert (live["equity"], live["regime"], live["active_strategies"]) == want and live["last_bar"] != paper["last_bar"]
    assert live["dead_man_switch"]["state"] == "armed" and live["exchange_unreachable"] is None      # live's own switch (OpsWatch)
    assert paper["dead_man_switch"] is None and paper["ledger"] != live["ledger"]
