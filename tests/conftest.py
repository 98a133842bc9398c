"""Shared fixtures: a network guard on every test, settings in temporary data dirs,
and a sample library ingested once per session with the real embedding model."""
from __future__ import annotations

import ipaddress
import os
import shutil
import socket
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "corpora" / "sample"
PREVIOUS = REPO / "corpora" / "previous"
PUBLIC = Path(os.environ.get("RADGUIDE_PUBLIC_CORPUS", REPO.parent / "shared" / "corpora" / "public"))
FAST_MODEL = "qwen2.5-coder-0.5b-instruct-q4_k_m"


def _is_loopback(address) -> bool:
    if isinstance(address, (str, bytes)):  # AF_UNIX path
        return True
    host = address[0]
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        try:
            return all(ipaddress.ip_address(info[4][0]).is_loopback
                       for info in socket.getaddrinfo(host, None))
        except OSError:
            return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, proc, timeout: float = 180) -> int:
    """Poll a loopback URL until it answers; fail early if the server process died."""
    import time
    import urllib.request

    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            out = proc.stdout.read()[-2000:] if proc.stdout else ""
            raise AssertionError(f"server exited with {proc.returncode}: {out}")
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                return resp.status
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"{url} did not answer within {timeout}s")


class NetworkAccessError(AssertionError):
    pass


@pytest.fixture(autouse=True)
def network_guard(monkeypatch):
    """Fail any test that opens a socket to a non-loopback address."""
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex

    def connect(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address):
            raise NetworkAccessError(f"test tried to reach {address}: radguide must run offline")
        return real_connect(self, address)

    def connect_ex(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address):
            raise NetworkAccessError(f"test tried to reach {address}: radguide must run offline")
        return real_connect_ex(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    yield


@pytest.fixture
def make_settings(tmp_path):
    from assistant.settings import load_settings

    def make(home: Path | None = None, **overrides):
        return load_settings(home=home or tmp_path / "home", overrides=overrides)

    return make


@pytest.fixture(scope="session")
def sample_home(tmp_path_factory) -> Path:
    """A data dir holding the ingested sample library (built once per session)."""
    from assistant.library import Library
    from assistant.settings import load_settings
    from ingest.pipeline import ingest_paths

    home = tmp_path_factory.mktemp("sample-home")
    lib = Library(load_settings(home=home))
    report = ingest_paths(lib, [SAMPLE], progress=False)
    lib.close()
    assert report["failed"] == 0, report
    assert report["added"] >= 11
    return home


@pytest.fixture
def sample_copy(sample_home, tmp_path) -> Path:
    """A private copy of the sample library that a test may change."""
    dst = tmp_path / "home"
    shutil.copytree(sample_home, dst)
    return dst


@pytest.fixture(scope="session")
def sample_engine(sample_home):
    """An engine over the sample library with the fast GGUF (loaded once)."""
    from assistant.engine import Engine
    from assistant.settings import load_settings

    settings = load_settings(home=sample_home, overrides={"llm": {"model": FAST_MODEL}})
    engine = Engine(settings)
    yield engine
    engine.close()
