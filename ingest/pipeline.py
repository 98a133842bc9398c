"""Ingest files into the library: parse, chunk, embed what is new, then make the
new version current in one transaction.

Crash safety: vectors go into Chroma first (keyed by version and position, so a
rerun finds them), and the document becomes visible only when the SQLite
transaction that writes its version, pages, table rows and chunks commits. A
killed ingest leaves the previous version current and the library queryable.
"""
from __future__ import annotations

import fcntl
import logging
import re
import sys
import time
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Iterator

from assistant.backends import embed_documents
from assistant.errors import DocumentError, LibraryError
from assistant.library import Library
from assistant.models import sha256_file
from assistant.records import ParsedDocument
from ingest import diff as diffmod
from ingest.chunking import chunk_document

log = logging.getLogger(__name__)

SUPPORTED = {".pdf", ".md", ".markdown", ".html", ".htm", ".txt"}


@dataclass
class DocResult:
    source: str
    path: str
    status: str  # added | updated | unchanged | failed
    doc_id: str | None = None
    title: str | None = None
    version: str | None = None
    pages: int = 0
    chunks: int = 0
    variants: int = 0
    embedded: int = 0
    error: str | None = None
    warnings: list[str] = field(default_factory=list)
    diff: dict | None = None

    def public(self) -> dict:
        d = asdict(self)
        if d["diff"] is None:
            d.pop("diff")
        return d


def slugify(title: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
    return slug[:80] or "untitled"


def discover(paths: list[Path]) -> tuple[list[Path], list[DocResult]]:
    """Files to ingest, in a stable order, and failures for paths that cannot be taken."""
    files: list[Path] = []
    failed: list[DocResult] = []
    for p in paths:
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in SUPPORTED
                           and not any(part.startswith(".") for part in f.relative_to(p).parts))
            if not found:
                failed.append(DocResult(source=p.name, path=str(p), status="failed",
                                        error=f"cannot ingest {p}: the folder holds no PDF, Markdown, HTML or "
                                              "text files; point at the folder with the guideline files"))
            files.extend(found)
        elif p.is_file():
            files.append(p)
        else:
            failed.append(DocResult(source=p.name, path=str(p), status="failed",
                                    error=f"cannot ingest {p}: no such file or folder; check the path"))
    seen: set[Path] = set()
    unique = []
    for f in files:
        r = f.resolve()
        if r not in seen:
            seen.add(r)
            unique.append(f)
    return unique, failed


@contextmanager
def ingest_lock(library: Library) -> Iterator[None]:
    """One ingest at a time per library; readers are never blocked."""
    lock_path = library.settings.library_dir / "ingest.lock"
    with lock_path.open("w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("waiting for another ingest to finish")
            fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@contextmanager
def _one_file(path: Path, res: DocResult) -> Iterator[None]:
    """Turn a failure while handling one file into that file's result; other files go on."""
    try:
        yield
    except DocumentError as exc:
        res.status, res.error = "failed", str(exc)
    except LibraryError:
        raise
    except Exception as exc:  # noqa: BLE001 - one bad file must not stop the run
        log.exception("unexpected error ingesting %s", path)
        res.status = "failed"
        res.error = (f"cannot ingest {path}: unexpected {type(exc).__name__}: {exc}; "
                     "report this file to the radguide maintainers")


def _year(version: str | None) -> int | None:
    years = [int(y) for y in re.findall(r"\b(19\d\d|20\d\d)\b", version or "")]
    return max(years) if years else None


class Ingestor:
    """Ingests files one by one into a queue, then flush() embeds the queue's new chunks in one
    encoder call, stores their vectors in one Chroma call and commits each document in its own
    transaction.

    Parsing and embedding run in turns, not side by side: the encoder already keeps every core
    busy (torch's threads), and work running beside it slows it by more than that work costs.
    Parsing gets the cores to itself instead, in helper processes for large ingests."""

    def __init__(self, library: Library, *, dry_run: bool = False, doc_id: str | None = None):
        self.library = library
        self.db = library.db
        self.dry_run = dry_run
        self.explicit_doc_id = doc_id
        self.limits = library.settings.ingest
        self._run_shas: dict[str, str] = {}
        self._pending: list[dict] = []  # parsed documents waiting for their vectors
        self.parsed_ahead: dict[Path, object] = {}  # futures of files parsed in a helper process
        self.file_shas: dict[Path, str] = {}  # content hashes already computed for this run
        self.max_job_chunks = 4096

    # -- one file ------------------------------------------------------------
    def ingest_file(self, path: Path) -> DocResult:
        """Parse one file and queue it; its result is final once flush() has run."""
        res = DocResult(source=path.name, path=str(path), status="failed")
        with _one_file(path, res):
            self._ingest(path, res)
        if sum(len(p["chunks"]) for p in self._pending) >= self.max_job_chunks:
            self.flush()
        return res

    def flush(self, after_embedding=None) -> None:
        """Embed the queued documents' new chunks (one encoder call, texts sorted by length so
        each batch pads little), store the vectors (one Chroma call), then commit each document.
        after_embedding() runs once the encoder is done, before storing: the next round's parsing
        starts there, so it overlaps the store and commit work instead of the encoder."""
        pending, self._pending = self._pending, []
        vectors: dict[str, list[float]] = {}
        new: set[str] = set()
        error: Exception | None = None
        try:
            if pending:
                new = self._embed(pending, vectors)
        except Exception as exc:  # noqa: BLE001 - reported per document below
            error = exc
        if after_embedding is not None:
            after_embedding()
        if pending and error is None:
            try:
                self._add_vectors(pending, vectors)  # one Chroma call for the whole job
            except Exception as exc:  # noqa: BLE001 - reported per document below
                error = exc
        if error is not None:
            log.error("embedding or storing vectors failed", exc_info=error)
            for p in pending:
                p["res"].status = "failed"
                p["res"].error = (f"cannot ingest {p['path']}: embedding or storing its vectors failed ({error}); "
                                  "check the embedding and store settings (`radguide config`) and ingest again")
            return
        for p in pending:
            with _one_file(p["path"], p["res"]):
                p["res"].embedded = sum(1 for c in p["todo"] if c["text_hash"] in new)
                self._commit(p["doc"], p["doc_id"], p["version_id"], p["label"], p["sha"], p["path"],
                             p["chunks"], p["older"])

    def _embed(self, pending: list[dict], vectors: dict[str, list[float]]) -> set[str]:
        """Vectors for every chunk the job needs; returns the text hashes embedded now."""
        self._todo(pending, vectors)
        need: dict[str, str] = {}
        for p in pending:
            for c in p["todo"]:
                if c["text_hash"] not in vectors:
                    need.setdefault(c["text_hash"], c["embed_text"])
        keys = sorted(need, key=lambda k: len(need[k]))
        if keys:
            vectors.update(zip(keys, embed_documents(self.library.embed_model, [need[k] for k in keys])))
        return set(keys)

    def _ingest(self, path: Path, res: DocResult) -> None:
        from ingest.parse import parse_file

        if path.suffix.lower() not in SUPPORTED:
            raise DocumentError(path, f"{path.suffix or 'files without an extension'} is not a supported type",
                                "convert it to PDF, Markdown, HTML or plain text and ingest that")
        try:
            size = path.stat().st_size
            if size > self.limits.max_file_mb * 1024 * 1024:
                raise DocumentError(path, f"the file is {size / 1e6:.0f} MB, over the {self.limits.max_file_mb} MB "
                                          "limit", "split it or raise ingest.max_file_mb")
            sha = self.file_shas.pop(path, None) or sha256_file(path)
        except OSError as exc:
            raise DocumentError(path, f"the file cannot be read ({exc.strerror})",
                                "check its permissions and try again") from exc
        if sha in self._run_shas:
            res.status = "unchanged"
            res.warnings.append(f"{path.name} is a duplicate of {self._run_shas[sha]} in this run; skipped")
            self._fill_from_version(res, self.db.version_by_sha(sha))
            return
        self._run_shas[sha] = path.name
        known = self.db.version_by_sha(sha)
        if known is not None and known["status"] in ("current", "superseded"):
            res.status = "unchanged"
            self._fill_from_version(res, known)
            if known["status"] == "superseded":
                res.warnings.append(f"{path.name} is an older, superseded version of {known['doc_id']}; "
                                    "the current version stays")
            return

        doc = None
        ahead = self.parsed_ahead.pop(path, None)
        if ahead is not None:
            try:
                doc = ahead.result()
            except BrokenProcessPool:
                log.warning("the parsing helper process stopped; parsing %s here", path)
        if doc is None:
            doc = parse_file(path, max_bytes=self.limits.max_file_mb * 1024 * 1024, max_pages=self.limits.max_pages)
        doc.source = path.name
        doc_id = self.explicit_doc_id or slugify(doc.title)
        label = doc.version or f"sha256:{sha[:12]}"
        version_id = f"{doc_id}@{sha[:12]}"
        res.doc_id, res.title, res.version = doc_id, doc.title, label
        res.pages, res.variants = len(doc.pages), len(doc.variants)
        res.warnings.extend(doc.warnings)

        if any(p["doc_id"] == doc_id for p in self._pending):
            self.flush()  # another version of this document is queued: settle it first
        current = self.db.current_version(doc_id)
        older = False
        if current is None:
            res.status = "added"
        else:
            res.status = "updated"
            res.diff = diffmod.diff_variants(self.db.variants(current["version_id"]), doc.variants)
            new_y, cur_y = _year(doc.version), _year(current["version"])
            if new_y is not None and cur_y is not None and new_y < cur_y:
                older = True
                res.warnings.append(f"{path.name} ({label}) is older than the current version "
                                    f"({current['version']}); stored as superseded, the current version stays")
        chunks = chunk_document(doc, version_id)
        res.chunks = len(chunks)
        if self.dry_run:
            return
        self._pending.append({"res": res, "doc": doc, "doc_id": doc_id, "version_id": version_id, "label": label,
                              "sha": sha, "path": path, "chunks": chunks, "older": older})

    def _fill_from_version(self, res: DocResult, row) -> None:
        if row is None:
            return
        full = self.db.version(row["version_id"])
        res.doc_id, res.title, res.version = full["doc_id"], full["title"], full["version"]
        res.pages, res.chunks, res.variants = full["pages"], full["chunks"], full["variants"]

    def _todo(self, pending: list[dict], vectors: dict[str, list[float]]) -> None:
        """Set each document's chunks without a vector in Chroma yet (a rerun after a crash finds
        them stored); vectors of identical text already stored are reused. Two Chroma calls per job."""
        collection = self.library.vector_store.client
        ids = [c["chunk_id"] for p in pending for c in p["chunks"]]
        present = set(collection.get(ids=ids, include=[])["ids"]) if ids else set()
        for p in pending:
            p["todo"] = [c for c in p["chunks"] if c["chunk_id"] not in present]
        hashes = sorted({c["text_hash"] for p in pending for c in p["todo"]})
        if hashes:
            got = collection.get(where={"text_hash": {"$in": hashes}}, include=["embeddings", "metadatas"])
            embs = got["embeddings"] if got["embeddings"] is not None else []
            for meta, emb in zip(got["metadatas"] or [], embs):
                vectors.setdefault(meta["text_hash"], [float(x) for x in emb])

    def _add_vectors(self, pending: list[dict], vectors: dict[str, list[float]]) -> None:
        from llama_index.core.schema import TextNode

        nodes = [
            TextNode(
                id_=c["chunk_id"],
                text=c["embed_text"],
                embedding=vectors[c["text_hash"]],
                metadata={"version_id": p["version_id"], "doc_id": p["doc_id"], "text_hash": c["text_hash"],
                          "kind": c["kind"], "variant": c["variant"] if c["variant"] is not None else -1},
            )
            for p in pending for c in p["todo"]
        ]
        if nodes:
            self.library.vector_store.add(nodes)

    def _commit(self, doc: ParsedDocument, doc_id: str, version_id: str, label: str, sha: str, path: Path,
                chunks: list[dict], older: bool) -> None:
        with self.db.transaction() as conn:
            self.db.write_version(
                conn,
                doc={"doc_id": doc_id, "title": doc.title, "kind": doc.kind},
                version={"version_id": version_id, "version": label, "version_line": doc.version, "sha256": sha,
                         "source": path.name, "source_path": str(path.resolve()), "warnings": doc.warnings},
                pages=doc.pages, variants=doc.variants, chunks=chunks,
            )
            if older:
                conn.execute("UPDATE versions SET status = 'superseded', superseded_at = ? WHERE version_id = ?",
                             (time.time(), version_id))
            else:
                self.db.supersede_others(conn, doc_id, version_id)
            self.db.bump_generation(conn)


def ingest_paths(library: Library, paths: list[Path], *, dry_run: bool = False, doc_id: str | None = None,
                 progress: bool | None = None) -> dict:
    """Ingest files and folders; returns the JSON report.

    Files go in rounds of WAVE_FILES: parse the round (in helper processes when the ingest is
    large), then embed, store and commit it."""
    files, failed = discover([Path(p) for p in paths])
    results: list[DocResult] = list(failed)
    ingestor = Ingestor(library, dry_run=dry_run, doc_id=doc_id)
    show = sys.stderr.isatty() if progress is None else progress
    from tqdm import tqdm

    with ingest_lock(library), _parse_pool(files) as pool, \
            tqdm(total=len(files), desc="ingest", unit="file", disable=not show or len(files) < 2,
                 file=sys.stderr) as bar:
        waves = [files[s:s + WAVE_FILES] for s in range(0, len(files), WAVE_FILES)]
        if pool is not None and waves:
            _submit_parses(ingestor, pool, waves[0])
        for i, wave in enumerate(waves):
            for f in wave:
                results.append(ingestor.ingest_file(f))
                bar.update()
            nxt = waves[i + 1] if pool is not None and i + 1 < len(waves) else None
            ingestor.flush(after_embedding=partial(_submit_parses, ingestor, pool, nxt) if nxt else None)
    return report(results, dry_run=dry_run)


WAVE_FILES = 128  # files parsed before their chunks are embedded together
PARSE_PROCESS_MIN_FILES = 8  # below this a helper process costs more than it saves


def _parse_job(path: Path, max_bytes: int, max_pages: int):
    from ingest.parse import parse_file

    return parse_file(path, max_bytes=max_bytes, max_pages=max_pages)


def _can_spawn() -> bool:
    """A spawned helper re-imports the main script; an interactive or stdin session has none."""
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    file = getattr(main, "__file__", None)
    return spec is not None or (file is not None and Path(file).is_file())


@contextmanager
def _parse_pool(files: list[Path]):
    """Helper processes for parsing a large ingest: pypdf is pure Python, so one process per core
    parses a round of files in a fraction of the time one would."""
    if len(files) < PARSE_PROCESS_MIN_FILES or not _can_spawn():
        yield None
        return
    import multiprocessing
    import os
    from concurrent.futures import ProcessPoolExecutor

    workers = max(1, min(len(os.sched_getaffinity(0)), 4))
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))
    try:
        yield pool
    finally:
        pool.shutdown(cancel_futures=True)


def _submit_parses(ingestor: "Ingestor", pool, wave: list[Path]) -> None:
    """Send the round's files to the helpers; files whose content is already stored are not parsed.
    Results and errors come back through the futures; unreadable files are left to the main loop."""
    limits = ingestor.limits
    for f in wave:
        try:
            if f.suffix.lower() not in SUPPORTED:
                continue
            sha = sha256_file(f)
        except OSError:
            continue
        ingestor.file_shas[f] = sha
        if ingestor.db.version_by_sha(sha) is None:
            try:
                ingestor.parsed_ahead[f] = pool.submit(_parse_job, f, limits.max_file_mb * 1024 * 1024,
                                                       limits.max_pages)
            except BrokenProcessPool:
                return  # a helper died; the main loop parses the rest itself


def report(results: list[DocResult], dry_run: bool = False) -> dict:
    counts = {k: sum(1 for r in results if r.status == k) for k in ("added", "updated", "unchanged", "failed")}
    return {"documents": [r.public() for r in results], **counts, "dry_run": dry_run}
