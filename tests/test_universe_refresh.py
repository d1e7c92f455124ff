"""`cryptotrader universe --refresh` through ccxt against a Kraken-compatible server on 127.0.0.1."""
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from conftest import ROOT, run_cli

ASSET_PAIRS = (ROOT / "data/kraken_api/AssetPairs_selected_2026-01-12.json").read_bytes()


class _Kraken(BaseHTTPRequestHandler):
    fail = False
    seen = []

    def do_GET(self):
        type(self).seen.append(self.path)
        if self.path.startswith("/0/public/AssetPairs"):
            body = json.dumps({"error": ["EService:Unavailable"], "result": {}}).encode() if self.fail else ASSET_PAIRS
            self.send_response(200)
        else:
            body = json.dumps({"error": ["EGeneral:Unknown method"]}).encode()
            self.send_response(404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


@pytest.fixture
def server():
    _Kraken.fail, _Kraken.seen = False, []
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Kraken)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_port}"
    srv.shutdown()


def test_refresh_fetches_through_ccxt_and_saves(server, home):
    r = run_cli("universe", "--refresh", "--exchange-url", server, "--json")
    assert r.returncode == 0, r.stderr
    assert _Kraken.seen and _Kraken.seen[0].startswith("/0/public/AssetPairs")
    assert [x["symbol"] for x in json.loads(r.stdout)][:2] == ["BTC/USD", "ETH/USD"]
    saved = home / "datasets/crypto/kraken_global/live/asset_pairs.json"
    assert json.loads(saved.read_text())["result"]["XXBTZUSD"]["altname"] == "XBTUSD"
    assert (saved.parent / "asset_pairs.json.sha256").exists()


def test_refresh_reports_an_exchange_error_with_exit_1(server, home):
    _Kraken.fail = True
    r = run_cli("universe", "--refresh", "--exchange-url", server)
    assert r.returncode == 1
    assert "EService:Unavailable" in r.stderr and "Traceback" not in r.stderr
    assert not (home / "datasets/crypto/kraken_global/live/asset_pairs.json").exists()


def test_refresh_reports_an_unreachable_exchange(home):
    r = run_cli("universe", "--refresh", "--exchange-url", "http://127.0.0.1:9")
    assert r.returncode == 1 and "failed" in r.stderr and "Traceback" not in r.stderr
