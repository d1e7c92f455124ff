"""Every attempt to leave this system's namespace is refused, for reads and for writes."""
import os
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from cryptotrader.artifacts import ArtifactStore, IntegrityError, IsolationError
from cryptotrader.config import DataPaths


@pytest.fixture
def root(tmp_path):
    dp = DataPaths(tmp_path / "data").create()
    # another system's namespace beside ours, and a secret elsewhere on the machine
    (tmp_path / "data/artifacts/swing/models").mkdir(parents=True)
    (tmp_path / "data/artifacts/swing/models/approved_model.json").write_text('{"model": "swing"}')
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere/secret.txt").write_text("secret")
    return dp


def _attempts(store: ArtifactStore, tmp: Path):
    return {
        "parent traversal": "../../swing/models/approved_model.json",
        "deep traversal": "models/../../../../../elsewhere/secret.txt",
        "absolute elsewhere": str(tmp / "elsewhere/secret.txt"),
        "absolute system file": "/etc/hostname",
        "another namespace by absolute path": str(tmp / "data/artifacts/swing/models/approved_model.json"),
        "logs tree from the artifacts store": "../../../logs/crypto/kraken_global/trades/x.jsonl",
        "sibling namespace with our prefix": "../kraken_global_evil/models/m.json",
        "dir symlink pointing out": "models/link_out/secret.txt",
        "file symlink pointing out": "models/secret_link.txt",
        "symlink to the other namespace": "shadow/swing_link/approved_model.json",
    }


def _plant_symlinks(store, tmp):
    (store.root / "models/link_out").symlink_to(tmp / "elsewhere")
    (store.root / "models/secret_link.txt").symlink_to(tmp / "elsewhere/secret.txt")
    (store.root / "shadow/swing_link").symlink_to(tmp / "data/artifacts/swing/models")


@pytest.mark.parametrize("op", ["read_bytes", "write_bytes", "write_json", "append_line", "exists", "verify", "list"])
def test_every_escape_is_refused(root, tmp_path, op):
    store = ArtifactStore.for_area(root)
    _plant_symlinks(store, tmp_path)
    calls = {
        "read_bytes": lambda p: store.read_bytes(p),
        "write_bytes": lambda p: store.write_bytes(p, b"x"),
        "write_json": lambda p: store.write_json(p, {"x": 1}),
        "append_line": lambda p: store.append_line(p, "x"),
        "exists": lambda p: store.exists(p),
        "verify": lambda p: store.verify(p),
        "list": lambda p: store.list(p),
    }
    for name, path in _attempts(store, tmp_path).items():
        with pytest.raises(IsolationError, match="refused path"):
            calls[op](path)
    # nothing outside changed
    assert (tmp_path / "elsewhere/secret.txt").read_text() == "secret"
    assert (tmp_path / "data/artifacts/swing/models/approved_model.json").read_text() == '{"model": "swing"}'
    assert sorted(p.name for p in (tmp_path / "elsewhere").iterdir()) == ["secret.txt"]


def test_the_error_names_the_path_and_the_other_namespace(root):
    store = ArtifactStore.for_area(root)
    with pytest.raises(IsolationError) as e:
        store.read_bytes("../../swing/models/approved_model.json")
    assert "../../swing/models/approved_model.json" in str(e.value) and "artifacts/swing/" in str(e.value)


def test_inside_paths_work_and_tampering_is_detected(root):
    store = ArtifactStore.for_area(root)
    h = store.write_bytes("candidates/m/model.skops", b"weights")
    assert store.verify("candidates/m/model.skops") == h
    assert store.resolve("candidates/m/model.skops").with_name("model.skops.sha256").read_text().startswith(h)
    store.resolve("candidates/m/model.skops").write_bytes(b"weightz")
    with pytest.raises(IntegrityError):
        store.read_bytes("candidates/m/model.skops", verify=True)


_component = st.sampled_from(["..", ".", "models", "swing", "candidates", "x.json", "link_out", "..."]) | st.text(
    alphabet="abc._-", min_size=1, max_size=4)


@settings(max_examples=300, deadline=None)
@given(parts=st.lists(_component, min_size=1, max_size=6), absolute=st.booleans())
def test_any_accepted_path_stays_inside(tmp_path_factory, parts, absolute):
    tmp = tmp_path_factory.mktemp("fuzz")
    store = ArtifactStore.for_area(DataPaths(tmp / "data").create())
    (tmp / "out").mkdir()
    (store.root / "models/link_out").symlink_to(tmp / "out")
    path = os.path.join(str(store.root) if absolute else "", *parts)
    if absolute and parts[0] == "..":
        path = "/" + "/".join(parts)
    try:
        resolved = store.resolve(path)
    except IsolationError:
        return
    real_root = store.root.resolve()
    assert resolved.resolve() == real_root or resolved.resolve().is_relative_to(real_root)
