"""Market data: `cryptotrader data fetch` through real ccxt against a Kraken-compatible server on 127.0.0.1
(serving the bundled real bars with Kraken's rules), `cryptotrader data validate`, and the loaders."""
import functools
import gzip
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT, run_cli

from cryptotrader.data import (DataNotFound, DataValidationError, load_ohlcv, load_ohlcv_report, load_panel, read_ohlcv_file,
                               read_ohlcv_report, resample_ohlcv, compare_bars, store_ohlcv, dataset_file, parquet_metadata,
                               validate_ohlcv, write_parquet)

OHLCV_DIR = ROOT / "data/ohlcv"
ASSET_PAIRS = json.loads((ROOT / "data/kraken_api/AssetPairs_selected_2026-01-12.json").read_text())
INTERVALS = {1: "1m", 5: "5m", 15: "15m", 30: "30m", 60: "1h", 240: "4h", 1440: "1d"}
LIVE = "datasets/crypto/kraken_global/live"


def _assets() -> dict:
    "An Assets response for every asset of the bundled AssetPairs (shape of Kraken's GET /0/public/Assets)."
    out = {}
    for p in ASSET_PAIRS["result"].values():
        for code in (p["base"], p["quote"]):
            alt = code[1:] if len(code) == 4 and code[0] in "XZ" else code
            out[code] = {"aclass": "currency", "altname": alt, "decimals": 10, "display_decimals": 5, "collateral_value": 1, "status": "enabled"}
    return {"error": [], "result": out}


def _bars(altname: str, tf: str) -> list:
    "The bundled real bars as Kraken OHLC rows: [time (s), open, high, low, close, vwap, volume, count] (strings, like Kraken)."
    with gzip.open(OHLCV_DIR / f"kraken_{altname}_{tf}.csv.gz", "rt") as f:
        df = pd.read_csv(f)
    return [[int(t // 1000), f"{o}", f"{h}", f"{l}", f"{c}", f"{(h + l + c) / 3:.6f}", f"{v:.8f}", 10]
            for t, o, h, l, c, v in df.itertuples(index=False)]


class _Kraken(BaseHTTPRequestHandler):
    "Kraken's public OHLC rules: the last 720 candles only, `since` exclusive, the current forming candle always last."
    now = pd.Timestamp("2023-09-30 12:20", tz="UTC")
    page = None          # a server that pages (not Kraken's behaviour) to exercise pagination
    fail_ohlc = []       # errors to answer OHLC with, one per request, before answering normally
    seen = []
    cache = {}

    def _send(self, payload, status=200):
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        cls = type(self)
        cls.seen.append(self.path)
        u = urlparse(self.path)
        q = {k: v[0] for k, v in parse_qs(u.query).items()}
        if u.path == "/0/public/Assets": return self._send(_assets())
        if u.path == "/0/public/AssetPairs": return self._send(ASSET_PAIRS)
        if u.path != "/0/public/OHLC": return self._send({"error": ["EGeneral:Unknown method"]}, 404)
        if cls.fail_ohlc: return self._send({"error": [cls.fail_ohlc.pop(0)]})
        pair = ASSET_PAIRS["result"].get(q.get("pair")) or next((v for v in ASSET_PAIRS["result"].values() if v["altname"] == q.get("pair")), None)
        if pair is None: return self._send({"error": ["EQuery:Unknown asset pair"]})
        tf = INTERVALS[int(q.get("interval", 1))]
        key = (pair["altname"], tf)
        if key not in cls.cache: cls.cache[key] = _bars(*key)
        step = int(pd.Timedelta(tf).total_seconds())
        now_s = int(cls.now.timestamp())
        rows = [r for r in cls.cache[key] if r[0] <= now_s - now_s % step][-720:]    # the window Kraken keeps
        forming = rows[-1]
        since = int(q.get("since", 0))
        out = [r for r in rows[:-1] if r[0] > since]
        if cls.page: out = out[: cls.page]
        out.append(forming)
        self._send({"error": [], "result": {q["pair"]: out, "last": out[-2][0] if len(out) > 1 else forming[0]}})

    def log_message(self, *a):
        pass


@pytest.fixture
def kraken():
    _Kraken.now, _Kraken.page, _Kraken.fail_ohlc, _Kraken.seen = pd.Timestamp("2023-09-30 12:20", tz="UTC"), None, [], []
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Kraken)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_port}"
    srv.shutdown()


def _ohlc_requests():
    return [parse_qs(urlparse(p).query) for p in _Kraken.seen if p.startswith("/0/public/OHLC")]


def _bundled(name="kraken_XBTUSD_1h.csv.gz"):
    return read_ohlcv_file(OHLCV_DIR / name)


# --- fetch -----------------------------------------------------------------------------------------

def test_fetch_stores_closed_bars_as_parquet(kraken, home):
    r = run_cli("data", "fetch", "--no-seed", "--pairs", "BTC/USD", "ETH/USD", "--timeframe", "1h", "--since", "2023-09-25T00:00:00Z",
                "--exchange-url", kraken, "--pace", "0", "--json")
    assert r.returncode == 0, r.stderr
    reps = json.loads(r.stdout)
    assert [x["symbol"] for x in reps] == ["BTC/USD", "ETH/USD"]
    assert {x["bars"] for x in reps} == {132} and all(x["forming"] == "2023-09-30T12:00:00Z" and x["unreachable"] is None for x in reps)
    assert _Kraken.seen[0].startswith("/0/public/Assets") and _Kraken.seen[1].startswith("/0/public/AssetPairs")
    q = _ohlc_requests()[0]
    assert q["pair"] == ["XXBTZUSD"] and q["interval"] == ["60"]
    assert int(q["since"][0]) == int(pd.Timestamp("2023-09-24 23:00", tz="UTC").timestamp())   # ccxt asks since - 1 interval (Kraken's since is exclusive)
    for alt in ("XBTUSD", "ETHUSD"):
        path = home / LIVE / f"kraken_{alt}_1h.parquet"
        got = read_ohlcv_file(path)
        want = _bundled(f"kraken_{alt}_1h.csv.gz").loc["2023-09-25":"2023-09-30 11:00"]     # the forming 12:00 candle is not stored
        pd.testing.assert_frame_equal(got, want)
        assert path.is_dir() and parquet_metadata(path / "part-000000.parquet")["timeframe"] == "1h"     # a store dataset: a folder of parts
    import pyarrow.parquet as pq
    assert pq.ParquetFile(home / LIVE / "kraken_XBTUSD_1h.parquet" / "part-000000.parquet").metadata.row_group(0).column(0).compression == "ZSTD"


def test_fetch_resumes_after_the_last_stored_bar(kraken, home):
    args = ["data", "fetch", "--no-seed", "--pairs", "BTC/USD", "--exchange-url", kraken, "--pace", "0", "--json"]
    r = run_cli(*args)
    assert r.returncode == 0, r.stderr
    first = json.loads(r.stdout)[0]
    assert (first["bars"], first["stored_bars"], first["resumed_from"]) == (719, 719, "-")     # nothing stored: the latest 720 minus the forming one
    assert "since" not in _ohlc_requests()[0]
    _Kraken.now, _Kraken.seen = pd.Timestamp("2023-09-30 15:10", tz="UTC"), []
    r = run_cli(*args)
    assert r.returncode == 0, r.stderr
    second = json.loads(r.stdout)[0]
    assert (second["bars"], second["stored_bars"], second["resumed_from"]) == (3, 722, "2023-09-30T11:00:00Z")
    assert second["first"] == "2023-09-30T12:00:00Z" and second["last"] == "2023-09-30T14:00:00Z"
    assert int(_ohlc_requests()[0]["since"][0]) == int(pd.Timestamp("2023-09-30 11:00", tz="UTC").timestamp())
    got = read_ohlcv_file(home / LIVE / "kraken_XBTUSD_1h.parquet")
    pd.testing.assert_frame_equal(got, _bundled().loc[:"2023-09-30 14:00"].iloc[-722:])
    r = run_cli(*args, "--timeframe", "1h")                                                     # nothing new
    assert r.returncode == 0 and json.loads(r.stdout)[0]["bars"] == 0


def test_fetch_reports_the_range_beyond_krakens_720_candles_without_looping(kraken, home):
    r = run_cli("data", "fetch", "--no-seed", "--pairs", "BTC/USD", "--since", "2023-01-01", "--exchange-url", kraken, "--pace", "0")
    assert r.returncode == 0, r.stderr
    assert "719 new bars (2023-08-31T13:00:00Z → 2023-09-30T11:00:00Z) in 1 request(s)" in r.stdout
    assert "UNREACHABLE 2023-01-01T00:00:00Z → 2023-08-31T12:00:00Z (Kraken OHLC serves only the last 720 candles)" in r.stdout
    assert "bars before 2023-08-31T13:00:00Z are beyond Kraken's OHLC window" in r.stderr
    assert len(_ohlc_requests()) == 1


def test_fetch_paginates_and_retries_rate_limits(kraken, home):
    _Kraken.page = 100
    _Kraken.fail_ohlc = ["EAPI:Rate limit exceeded"]
    r = run_cli("data", "fetch", "--no-seed", "--pairs", "XBTUSD", "--since", "2023-09-10T00:00:00Z", "--exchange-url", kraken, "--pace", "0", "--json")
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)[0]
    assert (rep["bars"], rep["requests"], rep["retries"], rep["complete"]) == (492, 5, 1, True)
    sinces = [int(q["since"][0]) for q in _ohlc_requests()]
    assert sinces == sorted(sinces) and len(sinces) == 6                                        # 1 refused + 5 pages, moving forward
    pd.testing.assert_frame_equal(read_ohlcv_file(home / LIVE / "kraken_XBTUSD_1h.parquet"), _bundled().loc["2023-09-10":"2023-09-30 11:00"])


def test_fetch_exchange_error_is_exit_1_and_other_pairs_continue(kraken, home):
    _Kraken.fail_ohlc = ["EQuery:Unknown asset pair"]                                       # permanent: not retried
    r = run_cli("data", "fetch", "--no-seed", "--pairs", "BTC/USD", "ETH/USD", "--exchange-url", kraken, "--pace", "0")
    assert r.returncode == 1
    assert "BTC/USD 1h: FAILED" in r.stderr and "EQuery:Unknown asset pair" in r.stderr and "Traceback" not in r.stderr
    assert "ETH/USD 1h: 719 new bars" in r.stdout
    assert not (home / LIVE / "kraken_XBTUSD_1h.parquet").exists() and (home / LIVE / "kraken_ETHUSD_1h.parquet").exists()


def test_fetch_transient_errors_are_retried_then_fail(kraken, home):
    _Kraken.fail_ohlc = ["EService:Unavailable"] * 4                                         # transient, but more than 3 retries
    r = run_cli("data", "fetch", "--no-seed", "--pairs", "BTC/USD", "--exchange-url", kraken, "--pace", "0")
    assert r.returncode == 1 and "failed after 4 attempts" in r.stderr and len(_ohlc_requests()) == 4
    _Kraken.fail_ohlc, _Kraken.seen = ["EGeneral:Internal error"] * 2, []
    r = run_cli("data", "fetch", "--no-seed", "--pairs", "BTC/USD", "--exchange-url", kraken, "--pace", "0", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)[0]["retries"] == 2 and len(_ohlc_requests()) == 3


def test_fetch_bad_input_is_exit_2(kraken, home):
    for args in (["--pairs", "PEPE/USD"], ["--timeframe", "7m"], ["--since", "not-a-date"]):
        r = run_cli("data", "fetch", "--no-seed", *args, "--exchange-url", kraken, "--pace", "0")
        assert r.returncode == 2 and r.stderr.startswith("error:") and "Traceback" not in r.stderr, (args, r.stderr)
    assert not _ohlc_requests()


def test_fetch_uses_the_configured_universe_and_training_area(kraken, home, tmp_path):
    cfg = tmp_path / "cfg.yaml"
    text = (ROOT / "config/crypto/paper.kraken.crypto.global.yaml").read_text()
    cfg.write_text(text.replace("pairs: [BTC/USD, ETH/USD, SOL/USD, XRP/USD, ADA/USD, DOT/USD, LINK/USD, LTC/USD, AVAX/USD, DOGE/USD]", "pairs: [DOT/USD, AVAX/USD]"))
    r = run_cli("data", "fetch", "--no-seed", "--config", str(cfg), "--area", "training", "--exchange-url", kraken, "--pace", "0")
    assert r.returncode == 0, r.stderr
    for alt in ("DOTUSD", "AVAXUSD"):
        assert len(read_ohlcv_file(home / "datasets/crypto/kraken_global/training" / f"kraken_{alt}_1h.parquet")) > 700


# --- validate --------------------------------------------------------------------------------------

def test_validate_bundled_data_accepts_every_file():
    r = run_cli("data", "validate")
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.strip().splitlines()[-1].endswith("17 accepted, 0 refused")
    assert "kraken_XRPUSD_1h.csv.gz [1h] ok: 30587/30587 rows" in r.stdout and "7 gaps / 61 missing bars" in r.stdout


def test_validate_replay_dir_repairs_and_refuses(tmp_path):
    raw = pd.read_csv(OHLCV_DIR / "kraken_SOLUSD_1h.csv.gz", nrows=300)
    bad = raw.copy()
    bad.loc[10, ["low", "high"]] = [raw.loc[10, "high"] + 1, raw.loc[10, "low"]]          # low > high
    bad = pd.concat([bad.iloc[:100], bad.iloc[[101, 100]], bad.iloc[102:]])              # out of order
    bad.to_csv(tmp_path / "kraken_SOLUSD_1h.csv.gz", index=False)
    raw.to_csv(tmp_path / "kraken_DOTUSD_1d.csv", index=False)                           # hourly bars named daily
    (tmp_path / "README.md").write_text("not data")
    r = run_cli("data", "validate", "--replay", str(tmp_path), "--gaps")
    assert r.returncode == 1
    assert "kraken_SOLUSD_1h.csv.gz [1h] repaired: 299/300 rows" in r.stdout and "1 low > high (dropped; rows 10)" in r.stdout
    assert "1 timestamp out of order (sorted; rows 101)" in r.stdout
    assert "kraken_DOTUSD_1d.csv [1d] REFUSED" in r.stdout and "wrong file or wrong timeframe" in r.stdout
    r = run_cli("data", "validate", "--replay", str(tmp_path), "--timeframe", "1h", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)[0]["counts"] == {"low_gt_high": 1, "out_of_order": 1}
    r = run_cli("data", "validate", "--replay", str(tmp_path), "--timeframe", "1h", "--strict")
    assert r.returncode == 1 and "row 10 (line 12, 2021-06-18T02:00:00Z): low > high" in r.stdout
    assert run_cli("data", "validate", "--replay", str(tmp_path / "nope")).returncode == 2


# --- loaders (in process) --------------------------------------------------------------------------

def test_load_ohlcv_contract():
    df = load_ohlcv("BTC/USD", "1h", start="2023-01-01", end="2023-01-31 23:00")
    assert list(df.columns) == ["open", "high", "low", "close", "volume"] and df.index.name == "timestamp"
    assert str(df.index.tz) == "UTC" and df.index.is_monotonic_increasing and df.index.is_unique and len(df) == 31 * 24
    assert (df.dtypes == "float64").all()
    with pytest.raises(DataNotFound, match="kraken_ADAUSD_1h"):
        load_ohlcv("ADA/USD", "1h")
    assert isinstance(DataNotFound("x"), FileNotFoundError)


def test_replay_dir_and_timeframes(tmp_path):
    src = pd.read_csv(OHLCV_DIR / "kraken_XBTUSD_1h.csv.gz", nrows=24 * 10)
    src.to_csv(tmp_path / "kraken_XBTUSD_1h.csv.gz", index=False)
    assert len(load_ohlcv("BTC/USD", "1h", data_dir=tmp_path)) == 240
    assert len(load_ohlcv("BTC/USD", "4h", data_dir=tmp_path)) == 60
    d1, rep = load_ohlcv_report("BTC/USD", "1d", data_dir=tmp_path)
    assert len(d1) == 10 and rep.notes == ("resampled from 1h",)
    np.testing.assert_allclose(d1.to_numpy(), _bundled("kraken_XBTUSD_1d.csv.gz").iloc[:10].to_numpy(), rtol=1e-9)
    with pytest.raises(DataNotFound):
        load_ohlcv("BTC/USD", "15m", data_dir=tmp_path)                                 # finer than anything there


def test_15m_resampled_to_1h_matches_krakens_1h():
    m15 = _bundled("kraken_XBTUSD_15m.csv.gz")
    cmp = compare_bars(resample_ohlcv(m15, "1h", "15m"), _bundled())
    assert cmp["common"] == 6551 and cmp["only_in_a"] == [] and cmp["only_in_b"] == []
    assert cmp["ohlc_mismatches"] == 0 and cmp["volume_max_rel_diff"] < 1e-12


def test_panel_reports_missing_and_fallback_pairs():
    p = load_panel(["BTC/USD", "ADA/USD", "ETH/USD"], "1h", start="2021-01-01", end="2021-01-07 23:00")
    assert p.symbols == ["BTC/USD", "ETH/USD"] and p.report.missing == ["ADA/USD"]
    assert "binance" not in " ".join(p.report.sources.values())
    p = load_panel(["BTC/USD", "ADA/USD"], "1h", start="2021-01-01", end="2021-01-07 23:00", sources=("kraken", "binance"))
    assert p.symbols == ["BTC/USD", "ADA/USD"] and "FALLBACK binance" in p.report.sources["ADA/USD"]
    assert len(p) == 7 * 24 and not p.close.isna().any().any()


def test_strict_mode_names_file_and_row(tmp_path):
    raw = pd.read_csv(OHLCV_DIR / "kraken_LTCUSD_1h.csv.gz", nrows=50)
    raw.loc[7, "open"] = np.nan
    raw.to_csv(tmp_path / "kraken_LTCUSD_1h.csv.gz", index=False)
    with pytest.raises(DataValidationError, match=r"kraken_LTCUSD_1h.csv.gz: row 7 \(line 9, 2019-01-01T07:00:00Z\): NaN") as e:
        load_ohlcv("LTC/USD", "1h", data_dir=tmp_path, strict=True)
    assert (e.value.row, e.value.problem) == (7, "nan")
    df, rep = load_ohlcv_report("LTC/USD", "1h", data_dir=tmp_path)
    assert len(df) == 49 and rep.counts["nan"] == 1 and rep.gaps[0][1] == 1


def test_parquet_round_trip(home):
    df = _bundled().loc["2022-01-01":"2022-03-31"]
    p = store_ohlcv(df, "BTC/USD", "1h", area="training", source="test")
    assert p == dataset_file("BTC/USD", "1h", area="training") == home / "datasets/crypto/kraken_global/training/kraken_XBTUSD_1h.parquet"
    pd.testing.assert_frame_equal(read_ohlcv_file(p), df)
    pd.testing.assert_frame_equal(load_ohlcv("XBTUSD", "1h", data_dir=p.parent), df)
    write_parquet(df.iloc[:10], p)
    assert len(read_ohlcv_file(p)) == 10 and not list(p.parent.glob(".*.tmp"))


@functools.lru_cache(maxsize=None)
def _raw(f: str) -> pd.DataFrame: return pd.read_csv(OHLCV_DIR / f)


def _cut_copy(files: list[str], t, dst, since) -> None:
    "Copies of bundled files holding only the bars from `since` to `t`: what a live service had at `t`."
    dst.mkdir(parents=True, exist_ok=True)
    for f in files:
        raw = _raw(f)
        ts = pd.to_datetime(raw.timestamp, unit="ms", utc=True)
        keep = raw[(ts >= pd.Timestamp(since, tz="UTC")) & (ts <= t)]
        if len(keep): keep.to_csv(dst / f, index=False)                                 # no bars yet (or any more): no file


@pytest.mark.parametrize("pairs,files", [
    (["BTC/USD", "ETH/USD", "LTC/USD", "XRP/USD"], ["kraken_XBTUSD_1h.csv.gz", "kraken_ETHUSD_1h.csv.gz", "kraken_LTCUSD_1h.csv.gz", "kraken_XRPUSD_1h.csv.gz"]),
    (["BTC/USD", "SOL/USD", "DOT/USD", "AVAX/USD"], ["kraken_XBTUSD_1h.csv.gz", "kraken_SOLUSD_1h.csv.gz", "kraken_DOTUSD_1h.csv.gz", "kraken_AVAXUSD_1h.csv.gz"]),
])
def test_files_cut_inside_every_real_gap_give_the_same_panel_rows(tmp_path, pairs, files):
    "The gap policy is causal: for every real gap of these files, files cut at its first, middle and last missing bar (and one bar "
    "after) give the rows of the whole files up to the cut — with and without end=cut."
    full = load_panel(pairs, "1h")
    cuts = set()
    for f in files:
        _, rep = read_ohlcv_report(OHLCV_DIR / f)
        for first, n in rep.gaps:
            cuts |= {first, first + pd.Timedelta(hours=n // 2), first + pd.Timedelta(hours=n - 1), first + pd.Timedelta(hours=n)}
    assert len(cuts) > 20
    for t in sorted(cuts):
        since = t - pd.Timedelta(days=10)
        d = tmp_path / f"{t:%Y%m%d%H}"
        _cut_copy(files, t, d, since.tz_localize(None))
        for end in (None, t):
            cut = load_panel(pairs, "1h", d, start=since + pd.Timedelta(days=5), end=end)
            assert cut.index[-1] <= t and (end is None or cut.index[-1] == t)
            for c in ("open", "high", "low", "close", "volume"):
                pd.testing.assert_frame_equal(getattr(cut, c), getattr(full, c).loc[cut.index[0]:cut.index[-1], cut.symbols], check_freq=False, obj=f"{c} cut at {t}")


# --- the store: fetch --trades against the test exchange, seeding -----------------------------------

def test_fetch_trades_rebuilds_history_into_the_store_and_default_reads_it(home):
    "data fetch --trades against the test exchange: bars older than the OHLC window rebuilt from Trades equal the bars it serves."
    from cryptotrader.testing import KrakenTestServer
    with KrakenTestServer(pairs=["BTC/USD", "ETH/USD"], start="2023-03-01T00:00:00Z") as srv:
        r = run_cli("data", "fetch", "--no-seed", "--trades", "--pairs", "BTC/USD", "ETH/USD", "--since", "2023-01-01", "--exchange-url", srv.base_url,
                    "--pace", "0", "--trades-pace", "0", "--json")
    assert r.returncode == 0, r.stderr
    reps = json.loads(r.stdout)
    trades = [x for x in reps if "trades" in x]
    assert [x["symbol"] for x in trades] == ["BTC/USD", "ETH/USD"] and all(x["complete"] for x in trades)
    assert trades[0]["until"] == "2023-01-30T01:00:00Z"                       # where the 720-candle OHLC window starts
    for alt, sym in (("XBTUSD", "BTC/USD"), ("ETHUSD", "ETH/USD")):
        got = read_ohlcv_file(home / LIVE / f"kraken_{alt}_1h.parquet")
        want = _bundled(f"kraken_{alt}_1h.csv.gz").loc["2023-01-01":"2023-02-28 23:00"]
        c = compare_bars(got, want)
        assert (c["bars_a"], c["ohlc_mismatches"], c["only_in_a"], c["only_in_b"]) == (len(want), 0, [], []), c
        assert c["volume_max_rel_diff"] < 1e-12
    from cryptotrader.data import load_ohlcv
    import os
    old = os.environ.get("CRYPTOTRADER_HOME"); os.environ["CRYPTOTRADER_HOME"] = str(home)
    try: assert load_ohlcv("BTC/USD", "1h").index[0] == pd.Timestamp("2023-01-01", tz="UTC")   # the default data is the store now
    finally:
        if old is None: del os.environ["CRYPTOTRADER_HOME"]
        else: os.environ["CRYPTOTRADER_HOME"] = old


def test_fetch_trades_fills_the_hole_between_old_history_and_what_a_service_wrote_back(home):
    "Old bars, then the 720 a service wrote back at start: `data fetch --trades --days N` rebuilds exactly the hole between them."
    from cryptotrader.store import MarketStore
    from cryptotrader.testing import KrakenTestServer
    want = _bundled().loc["2022-12-01":"2023-02-28 23:00"]
    st = MarketStore(home / LIVE, seed_dir=None)
    st.append(want.loc[:"2023-01-09 23:00"], "BTC/USD", "1h")                          # old history (an archive, the bundled seed)
    st.append(want.iloc[-719:], "BTC/USD", "1h", source="kraken OHLC (service)")      # what a service wrote back: the OHLC window
    with KrakenTestServer(pairs=["BTC/USD"], start="2023-03-01T00:00:00Z") as srv:
        r = run_cli("data", "fetch", "--no-seed", "--trades", "--pairs", "BTC/USD", "--days", "60", "--exchange-url", srv.base_url,
                    "--pace", "0", "--trades-pace", "0", "--json")
    assert r.returncode == 0, r.stderr
    tr = [x for x in json.loads(r.stdout) if "trades" in x]
    assert [(x["since"], x["until"]) for x in tr] == [("2023-01-10T00:00:00Z", "2023-01-30T01:00:00Z")]   # the hole, nothing else
    c = compare_bars(st.read("BTC/USD", "1h"), want)
    assert (c["ohlc_mismatches"], c["only_in_a"], c["only_in_b"]) == (0, [], []), c


def test_fetch_seeds_a_new_dataset_from_the_bundled_file(kraken, home):
    r = run_cli("data", "fetch", "--pairs", "BTC/USD", "--exchange-url", kraken, "--pace", "0", "--json")
    assert r.returncode == 0, r.stderr
    got = read_ohlcv_file(home / LIVE / "kraken_XBTUSD_1h.parquet")
    pd.testing.assert_frame_equal(got, _bundled())                              # the server's bars are all in the bundled file


def test_fresh_clone_store_from_a_kraken_archive_and_trades_is_read_by_every_command(home, tmp_path):
    "A fresh data root: `data import` of a Kraken OHLCVT ZIP + `data fetch --trades` against the test exchange; regime, backtest, paper and nightly read it."
    import os, yaml, zipfile
    from cryptotrader.config import PAPER_CONFIG, load_config
    from cryptotrader.testing import KrakenTestServer
    zp = tmp_path / "Kraken_OHLCVT.zip"                                 # Kraken's format, made from bundled bars: no header, epoch seconds, trades
    with zipfile.ZipFile(zp, "w") as z:
        for alt in ("XBTUSD", "ETHUSD"):
            df = _bundled(f"kraken_{alt}_1h.csv.gz").loc["2022-03-01":"2023-01-31 23:00"]
            k = df.assign(time=df.index.asi8 // 10**9, trades=7)[["time", "open", "high", "low", "close", "volume", "trades"]]
            z.writestr(f"{alt}_60.csv", k.to_csv(header=False, index=False))
    r = run_cli("data", "import", "--no-seed", str(zp), "--json")         # --no-seed: the store holds only what was imported and fetched
    assert r.returncode == 0, r.stderr
    assert [(i["pair"], i["status"], i["append"]["new"]) for i in json.loads(r.stdout)] == [("BTC/USD", "imported", len(df)), ("ETH/USD", "imported", len(df))]
    with KrakenTestServer(pairs=["BTC/USD", "ETH/USD", "SOL/USD"], start="2023-02-15T00:00:00Z") as srv:
        r = run_cli("data", "fetch", "--no-seed", "--trades", "--pairs", "BTC/USD", "ETH/USD", "SOL/USD", "--since", "2023-01-01",
                    "--exchange-url", srv.base_url, "--pace", "0", "--trades-pace", "0", "--json")
    assert r.returncode == 0, r.stderr
    st = json.loads(run_cli("data", "status", "--json").stdout)
    assert {(d["symbol"], d["first"][:10], d["last"]) for d in st} == {("BTC/USD", "2022-03-01", "2023-02-14T23:00:00Z"),
                                                                        ("ETH/USD", "2022-03-01", "2023-02-14T23:00:00Z"),
                                                                        ("SOL/USD", "2023-01-01", "2023-02-14T23:00:00Z")}
    raw = yaml.safe_load(PAPER_CONFIG.read_text()); raw["universe"]["pairs"] = ["BTC/USD", "ETH/USD", "SOL/USD"]
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(raw))
    c = ["--config", str(tmp_path / "cfg.yaml")]
    r = run_cli("regime", *c, "--csv", str(tmp_path / "regime.csv"))
    assert r.returncode == 0, r.stderr
    lab = pd.read_csv(tmp_path / "regime.csv")
    assert (lab.timestamp.iloc[0][:10], lab.timestamp.iloc[-1]) == ("2022-03-01", "2023-02-14T23:00:00Z")   # the store's span, not the bundled files'
    r = run_cli("backtest", *c, "--start", "2023-02-01", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout[r.stdout.index("{"):])["end"][:19] == "2023-02-14T23:00:00"
    r = run_cli("paper", *c, "--start", "2023-02-01", "--no-report", "--no-progress", "--summary-json", "-")
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout[r.stdout.index("{"):])
    assert (s["end"], s["pairs"], s["missing_pairs"]) == ("2023-02-14T23:00:00Z", ["BTC/USD", "ETH/USD", "SOL/USD"], [])
    # nightly: its as-of is capped at the store's last bar, and training reads the store up to it (the full papermill run: tests/test_nightly.py)
    from cryptotrader.clock import TestClock
    from cryptotrader.ml import MLParams, _load, training_window
    from cryptotrader.nightly import _data_end
    cfg = load_config(tmp_path / "cfg.yaml")
    os.environ["CRYPTOTRADER_HOME"] = str(home)                        # (the `home` fixture's monkeypatch restores it)
    as_of = _data_end(cfg)
    assert str(as_of) == "2023-02-15 00:00:00+00:00"
    win = training_window(as_of, cfg.nightly.lookback_days, MLParams(), cfg.timeframe)
    panel = _load(cfg, cfg.universe.pairs, cfg.timeframe, win, None)
    assert (panel.index[0], panel.index[-1]) == (pd.Timestamp("2022-03-01", tz="UTC"), pd.Timestamp("2023-02-14 23:00", tz="UTC"))
