"""Shared pytest fixtures: a private data root per test, and the venv's console script."""
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


@pytest.fixture(autouse=True)
def no_internet(monkeypatch):
    "Every socket connection a test makes must go to the loopback interface."
    real = socket.socket.connect

    def connect(self, address):
        host = address[0] if isinstance(address, tuple) else address
        assert host in ("127.0.0.1", "localhost", "::1"), f"a test tried to reach {address}"
        return real(self, address)
    monkeypatch.setattr(socket.socket, "connect", connect)


@pytest.fixture
def home(tmp_path, monkeypatch):
    "A fresh data root (CRYPTOTRADER_HOME) so no test touches the repo's data/."
    d = tmp_path / "home"
    monkeypatch.setenv("CRYPTOTRADER_HOME", str(d))
    return d


def run_cli(*args, env=None, cwd=None, timeout=120):
    "Run the installed `cryptotrader` console script as a user would; returns CompletedProcess."
    e = {**os.environ, **(env or {})}
    return subprocess.run([str(BIN / "cryptotrader"), *args], capture_output=True, text=True, env=e, cwd=cwd or ROOT, timeout=timeout)


def json_tail(text: str):
    "The JSON document that starts on the first line beginning with '{' (commands print text before --json output)."
    import json
    lines = text.splitlines(keepends=True)
    start = next(i for i, l in enumerate(lines) if l.startswith("{"))
    return json.loads("".join(lines[start:]))
