"""Issue 15: the events a person must hear of reach a real local receiver (apprise json:// over HTTP on 127.0.0.1) from a live
rehearsal against the Kraken-compatible test exchange — and a failing alert target never stops trading."""
from cryptotrader.alerts import LocalReceiver
from cryptotrader.config import LIVE_CONFIG, load_config
from cryptotrader.ledger import Ledger
from cryptotrader.realtime import run_live
from test_live import PAIRS, FakeTime, _server, live_kw


def test_live_alerts_reach_a_person_and_failing_targets_change_nothing(home):
    srv = _server(seed=11)
    srv.start()
    armed = []

    def on_step(step):                       # after the first bar: the exchange stops answering OHLC for one whole bar close
        if not armed: armed.append(srv.faults.add("unavailable", count=25, endpoint="OHLC"))   # 5 publish attempts × 5 retries
    try:
        with LocalReceiver() as rx, LocalReceiver(status=500) as broken:
            urls = f"{rx.url} {broken.url} json://127.0.0.1:9/nothing-listens"     # one good target, two failing
            env = {"CRYPTOTRADER_HOME": str(home), "CRYPTOTRADER_ALERT_URLS": urls}
            res = run_live(load_config(LIVE_CONFIG), srv.base_url, PAIRS, max_bars=3, on_step=on_step, **live_kw(srv, FakeTime(), environ=env))
    finally:
        srv.stop()
    assert res.bars == 3 and res.reconcile.ok                                   # trading went on while two targets failed
    titles = [t.split(": ", 1)[1] for t in rx.titles()]
    assert titles == ["service started", "dead man switch armed", "exchange unreachable", "exchange reachable", "service stopped"], titles
    assert len(broken.posts) == len(rx.posts)                                   # the failing target was tried every time
    assert "EService:Unavailable" in rx.posts[2]["message"] and rx.posts[2]["type"] == "failure"
    with Ledger(res.ledger, readonly=True) as led:
        kinds = [k for (k,) in led.con.execute("SELECT kind FROM engine_events WHERE kind IN ('dead_man_switch', 'exchange_unreachable', 'exchange_reachable') ORDER BY seq")]
        ex = led.get_state("exchange")
    assert kinds == ["dead_man_switch", "exchange_unreachable", "exchange_reachable"]
    assert sum(ex["calls"]["OHLC"]["errors"].values()) == 25, ex["calls"]["OHLC"]      # every failed call, by error class
    assert ex["calls"]["CancelAllOrdersAfter"]["count"] >= 3 and ex["calls"]["BalanceEx"]["count"] >= 3   # the broker's calls are counted too


def test_sigterm_ends_live_at_a_bar_boundary_disarms_and_exits_0(home):
    "docker stop: `cryptotrader live` gets SIGTERM while waiting for the next bar: no crash, the switch disarmed, 'stopped' told, exit 0."
    import json
    import os
    import signal
    import subprocess
    from conftest import BIN, ROOT
    from cryptotrader.config import LIVE_CONFIG
    srv = _server(seed=13)
    srv.start(); srv.run_clock(speed=1200)                                       # an hour bar closes every 3 s
    key, secret = srv.credentials
    try:
        with LocalReceiver() as rx:
            env = {**os.environ, "CRYPTOTRADER_HOME": str(home), "KRAKEN_API_KEY": key, "KRAKEN_API_SECRET": secret, "CRYPTOTRADER_ALERT_URLS": rx.url}
            p = subprocess.Popen([str(BIN / "cryptotrader"), "live", "--config", str(LIVE_CONFIG), "--exchange-url", srv.base_url, "--pairs", *PAIRS,
                                  "--rules-only", "--max-bars", "50"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            first = p.stdout.readline()                                          # the first bar, committed and printed
            assert " equity " in first, first + p.stderr.read()[-2000:]
            p.send_signal(signal.SIGTERM)
            out, err = p.communicate(timeout=60)
            assert srv.exchange.dms_trigger is None                              # the dead-man's switch was disarmed on the way out
    finally:
        srv.stop()
    assert p.returncode == 0, err[-2000:]
    summary = json.loads(out.split("live run: ", 1)[1].splitlines()[0])
    assert 1 <= summary["bars"] <= 2 and "Traceback" not in err               # the bar in progress (if any) finished, no more
    with Ledger(home / "artifacts/crypto/kraken_global/ledger/live.sqlite", readonly=True) as led:
        assert led.check_consistency() == [] and led.last_bar().isoformat().replace("+00:00", "Z") == summary["last"]
    titles = [t.split(": ", 1)[1] for t in rx.titles()]
    assert titles[0] == "service started" and titles[-1] == "service stopped" and "service crashed" not in titles, titles
    assert rx.posts[-1]["message"].startswith("live live_kraken_crypto_global stopped\n"), rx.posts[-1]["message"]   # a clean stop, not a crash
