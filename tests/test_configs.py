"""Paper/live symmetry of the shipped configs."""
import yaml
from conftest import ROOT


def _keys(d, prefix=""):
    out = set()
    for k, v in d.items():
        out.add(prefix + k)
        if isinstance(v, dict):
            out |= _keys(v, prefix + k + ".")
    return out


def test_paper_and_live_have_the_same_schema_and_differ_only_in_env_and_mode():
    paper = yaml.safe_load((ROOT / "config/crypto/paper.kraken.crypto.global.yaml").read_text())
    live = yaml.safe_load((ROOT / "config/crypto/live.kraken.crypto.global.yaml").read_text())
    assert _keys(paper) == _keys(live)
    differ = {k for k in paper if paper[k] != live[k]}
    assert differ == {"env", "mode"}


def test_no_secret_key_in_any_config():
    for p in (ROOT / "config").rglob("*.yaml"):
        keys = _keys(yaml.safe_load(p.read_text()))
        assert not [k for k in keys if k.split(".")[-1] in ("api_key", "api_secret", "secret", "key", "password", "token")], p
