"""Issue 7, end to end from the command line: nightly → validate-model → promote-model → the paper service trades the
approved model → rollback-model; every step visible in `cryptotrader models` and verified by `cryptotrader audit verify`.

The real model passes no gate 3 on the bundled data that a shuffled-label control could not (issue 11), so the candidates
are trained on a market with a planted, learnable edge (`cryptotrader.planted`): promotion is exercised on a real PASS."""
import json
import sqlite3

import pytest
from conftest import json_tail, run_cli

ENV = "paper_kraken_crypto_global"
PASSING_AS_OF = ["2023-03-31", "2022-06-30"]   # the planted edge passes there (benchmarks/gate_honesty.py --planted)


def _models(env):
    r = run_cli("models", "--json", env=env)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def _audit_ok(env):
    r = run_cli("audit", "verify", env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    return r


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return tmp_path_factory.mktemp("e2e")


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    from cryptotrader.config import load_config
    from cryptotrader.planted import PlantedParams, write_planted_market
    d = tmp_path_factory.mktemp("planted")
    write_planted_market(d, load_config().universe.pairs, PlantedParams(start="2021-03-01", end="2023-03-31T23:00"))
    return d


@pytest.fixture
def receiver():
    "A real HTTP receiver on 127.0.0.1 (apprise json://): the alerts a person would get."
    from cryptotrader.alerts import LocalReceiver
    with LocalReceiver() as rx: yield rx


def test_nightly_validate_promote_trade_rollback(home, planted, receiver):
    env = {"CRYPTOTRADER_HOME": str(home), "CRYPTOTRADER_ALERT_URLS": receiver.url}
    ids = []
    for as_of in PASSING_AS_OF:                                    # 1. two nightly runs (outside the window: --force)
        r = run_cli("nightly", "--force", "--as-of", as_of, "--data-dir", str(planted), "--json", env=env, timeout=900)
        assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
        res = json_tail(r.stdout)
        assert res["status"] == "PASS"
        ids.append(res["model_id"])
    m = _models(env)
    assert {c["model_id"] for c in m["candidates"] if c["ready"]} == set(ids)
    assert all(len(c["reports"]) == 2 for c in m["candidates"])

    for mid in ids:                                                # 2. re-validation passes (exit 0)
        r = run_cli("validate-model", "--model-id", mid, env=env)
        assert r.returncode == 0, r.stdout + r.stderr

    r = run_cli("promote-model", "--model-id", ids[0], "--env", ENV, "--reason", "e2e", "--confirm", "yes-promot", env=env)
    assert r.returncode != 0 and _models(env)["environments"][ENV]["approved"] is None   # wrong confirm word: nothing changed
    for mid in ids:                                                # 3. promote A, then B
        r = run_cli("promote-model", "--model-id", mid, "--env", ENV, "--reason", f"e2e: evidence read for {mid}",
                    "--confirm", "yes-promote", env=env)
        assert r.returncode == 0, r.stdout + r.stderr
    m = _models(env)["environments"][ENV]
    assert (m["approved"]["model_id"], m["previous"]["model_id"]) == (ids[1], ids[0])
    _audit_ok(env)

    r = run_cli("paper", "--start", "2023-04-01", "--end", "2023-04-30T23:00", "--no-progress", "--no-report",   # 4. trade it
                "--summary-json", "-", env=env, timeout=600)
    assert r.returncode == 0, r.stderr
    s = json_tail(r.stdout)
    assert s["model"] == ids[1] and s["model_refused"] is None
    con = sqlite3.connect(home / "artifacts/crypto/kraken_global/ledger/paper.sqlite")
    switches = [json.loads(p) for (p,) in con.execute("SELECT payload FROM engine_events WHERE kind='model_switch'")]
    assert switches and switches[0]["to"] == ids[1]
    strategies = {st for (st,) in con.execute("SELECT DISTINCT strategy FROM orders")}
    assert not strategies or strategies <= {f"ml_filtered:{ids[1]}"}, strategies
    con.close()
    st = json.loads(run_cli("status", "--json", env=env).stdout)
    assert ids[1] in json.dumps(st["approved_model"])

    r = run_cli("rollback-model", "--env", ENV, "--confirm", "yes-rollback", env=env)   # 5. roll back to A
    assert r.returncode == 0, r.stdout + r.stderr
    m = _models(env)["environments"][ENV]
    assert (m["approved"]["model_id"], m["previous"]["model_id"]) == (ids[0], ids[1])
    _audit_ok(env)
    lines = [json.loads(l) for l in (home / "artifacts/crypto/kraken_global/models/approvals.jsonl").read_text().splitlines()]
    assert [l["action"] for l in lines] == ["promote", "promote", "rollback"]
    said = [(p["title"].split(": ", 1)[1], p["message"]) for p in receiver.posts if p["title"].split(": ", 1)[1].startswith(("nightly", "model"))]
    assert [t for t, _ in said] == ["nightly pass", "nightly pass", "model promoted", "model promoted", "model rolled back"], said
    assert all(f"reports/{mid}/validate.html" in m for mid, (_, m) in zip(ids, said[:2]))    # the verdict names its evidence
    assert f"rolled back to {ids[0]} (previous: {ids[1]}" in said[-1][1]

    audit = home / "artifacts/crypto/kraken_global/models/approvals.jsonl"   # 6. tampering is caught, naming the line
    text = audit.read_text().splitlines()
    text[1] = text[1].replace("e2e: evidence read", "e2e: evidence reed")
    audit.write_text("\n".join(text) + "\n")
    r = run_cli("audit", "verify", env=env)
    assert r.returncode == 1 and "line 2" in (r.stdout + r.stderr)
