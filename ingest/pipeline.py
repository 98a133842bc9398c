"""Ingest files into the library: parse, chunk, embed what is new, then make the
new version current in one transaction.

Crash safety: vectors go into Chroma first (keyed by version and position, so a
rerun finds them), and the document becomes visible only when the SQLite
transaction that writes its version, pages, table rows and chunks commits. A
killed ingest leaves the previous version current and the library queryable.
"""
from __future__ import annotations

import fcntl
import hashlib
import logging
import re
import sys
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterator

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


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


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
    def __init__(self, library: Library, *, dry_run: bool = False, doc_id: str | None = None):
        self.library = library
        self.db = library.db
        self.dry_run = dry_run
        self.explicit_doc_id = doc_id
        self.limits = library.settings.ingest
        self._run_shas: dict[str, str] = {}
        # Parsed documents waiting for their vectors: embedding many documents' chunks in one
        # call keeps the encoder's batches full, which is most of ingestion time.
        self._pending: list[dict] = []
        self._in_flight: tuple | None = None
        self.parsed_ahead: dict[Path, object] = {}  # futures of files parsed in a helper process
        self._executor = None
        self.batch_chunks = 256

    # -- one file ------------------------------------------------------------
    def ingest_file(self, path: Path) -> DocResult:
        """Parse one file and queue it; its result is final once flush() has run."""
        res = DocResult(source=path.name, path=str(path), status="failed")
        with _one_file(path, res):
            self._ingest(path, res)
        if sum(len(p["chunks"]) for p in self._pending) >= self.batch_chunks:
            self.flush()
        return res

    def flush(self, wait: bool = False) -> None:
        """Send the queued documents' new chunks to the encoder as one job, then store and commit
        the documents of the job before it.

        The encoder runs in a worker thread (torch releases the GIL), so parsing the next files
        overlaps with embedding these. Chroma and SQLite are only touched from this thread, and
        a document still becomes visible only when its own transaction commits."""
        pending, self._pending = self._pending, []
        job = None
        if pending:
            vectors: dict[str, list[float]] = {}
            self._todo(pending, vectors)
            need: dict[str, str] = {}
            for p in pending:
                for c in p.get("todo") or []:
                    if c["text_hash"] not in vectors:
                        need.setdefault(c["text_hash"], c["embed_text"])
            # Length-sorted, so each of the encoder's batches pads to a similar length (the model
            # sorts within a call, but llama-index calls it once per batch).
            keys = sorted(need, key=lambda k: len(need[k]))
            future = self._pool().submit(self.library.embed_model.get_text_embedding_batch,
                                         [need[k] for k in keys]) if keys else None
            job = (pending, vectors, keys, future)
        previous, self._in_flight = self._in_flight, job
        if previous is not None:
            self._finish(*previous)
        if wait and self._in_flight is not None:
            current, self._in_flight = self._in_flight, None
            self._finish(*current)

    def _pool(self):
        if self._executor is None:
            from concurrent.futures import ThreadPoolExecutor

            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="embed")
        return self._executor

    def _finish(self, pending: list[dict], vectors: dict, keys: list[str], future) -> None:
        ok = [p for p in pending if p["res"].status != "failed"]
        try:
            if future is not None:
                vectors.update(zip(keys, future.result()))
            self._add_vectors(ok, vectors)  # one Chroma call for the whole job
        except Exception as exc:  # noqa: BLE001 - the encoder or the store failed for this job
            log.exception("embedding or storing vectors failed")
            for p in ok:
                p["res"].status = "failed"
                p["res"].error = (f"cannot ingest {p['path']}: embedding or storing its vectors failed ({exc}); "
                                  "check the embedding and store settings (`radguide config`) and ingest again")
            return
        new = set(keys)
        for p in ok:
            with _one_file(p["path"], p["res"]):
                p["res"].embedded = sum(1 for c in p["todo"] if c["text_hash"] in new)
                self._commit(p["doc"], p["doc_id"], p["version_id"], p["label"], p["sha"], p["path"],
                             p["chunks"], p["older"])

    def close(self) -> None:
        self.flush(wait=True)
        if self._executor is not None:
            self._executor.shutdown()
            self._executor = None

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
            data = path.read_bytes()
        except OSError as exc:
            raise DocumentError(path, f"the file cannot be read ({exc.strerror})",
                                "check its permissions and try again") from exc
        sha = sha256_bytes(data)
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

        ahead = self.parsed_ahead.pop(path, None)
        doc = ahead.result() if ahead is not None else parse_file(
            path, max_bytes=self.limits.max_file_mb * 1024 * 1024, max_pages=self.limits.max_pages)
        doc.source = path.name
        doc_id = self.explicit_doc_id or slugify(doc.title)
        label = doc.version or f"sha256:{sha[:12]}"
        version_id = f"{doc_id}@{sha[:12]}"
        res.doc_id, res.title, res.version = doc_id, doc.title, label
        res.pages, res.variants = len(doc.pages), len(doc.variants)
        res.warnings.extend(doc.warnings)

        if any(p["doc_id"] == doc_id for p in self._pending):
            self.flush(wait=True)  # another version of this document is queued: settle it first
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
    """Ingest files and folders; returns the JSON report."""
    files, failed = discover([Path(p) for p in paths])
    results: list[DocResult] = list(failed)
    ingestor = Ingestor(library, dry_run=dry_run, doc_id=doc_id)
    show = sys.stderr.isatty() if progress is None else progress
    from tqdm import tqdm

    with ingest_lock(library), _parse_ahead(ingestor, files) as prefetch:
        for i, f in enumerate(tqdm(files, desc="ingest", unit="file", disable=not show or len(files) < 2,
                                   file=sys.stderr)):
            prefetch(i + PARSE_AHEAD)
            results.append(ingestor.ingest_file(f))
        ingestor.close()
    return report(results, dry_run=dry_run)


PARSE_AHEAD = 4  # files parsed ahead of the one being ingested
PARSE_PROCESS_MIN_FILES = 8  # below this a helper process costs more than it saves


def _parse_job(path: Path, max_bytes: int, max_pages: int):
    from ingest.parse import parse_file

    return parse_file(path, max_bytes=max_bytes, max_pages=max_pages)


@contextmanager
def _parse_ahead(ingestor: "Ingestor", files: list[Path]):
    """For large ingests, parse upcoming files in a helper process: pypdf is pure Python, and in
    a thread it would fight the encoder for the GIL. Unchanged files (known content hash) are not
    parsed at all; results and errors come back through the future."""
    if len(files) < PARSE_PROCESS_MIN_FILES or ingestor.dry_run:
        yield lambda i: None
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    limits = ingestor.limits
    pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
    submitted = -1

    def prefetch(upto: int) -> None:
        nonlocal submitted
        while submitted < min(upto, len(files) - 1):
            submitted += 1
            f = files[submitted]
            try:
                if f.suffix.lower() not in SUPPORTED or ingestor.db.version_by_sha(sha256_file(f)) is not None:
                    continue
            except OSError:
                continue  # the main loop reports unreadable files
            ingestor.parsed_ahead[f] = pool.submit(_parse_job, f, limits.max_file_mb * 1024 * 1024, limits.max_pages)

    try:
        yield prefetch
    finally:
        pool.shutdown(cancel_futures=True)



def report(results: list[DocResult], dry_run: bool = False) -> dict:
    counts = {k: sum(1 for r in results if r.status == k) for k in ("added", "updated", "unchanged", "failed")}
    return {"documents": [r.public() for r in results], **counts, "dry_run": dry_run}
