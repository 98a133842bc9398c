"""The library's document store: SQLite holds documents, versions, pages, variant
tables and chunk texts; Chroma holds the chunk vectors.

SQLite is the source of truth for what is current. A new version is written in
one transaction, and retrieval reads the set of current versions in one snapshot,
so a reader sees the old library or the new one, never a mix. Vectors are added
to Chroma before that transaction: vectors of a version that never committed are
invisible (retrieval filters on committed version ids) and are reused by a rerun.
"""
from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from assistant.errors import LibraryError
from assistant.records import ProcedureRow, Variant

SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents (
    doc_id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    kind TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS versions (
    version_id TEXT PRIMARY KEY,
    doc_id TEXT NOT NULL REFERENCES documents(doc_id),
    version TEXT NOT NULL,
    version_line TEXT,
    sha256 TEXT NOT NULL,
    source TEXT NOT NULL,
    source_path TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('current', 'superseded', 'retired')),
    pages INTEGER NOT NULL,
    chunks INTEGER NOT NULL,
    variants INTEGER NOT NULL,
    warnings TEXT NOT NULL DEFAULT '[]',
    ingested_at REAL NOT NULL,
    superseded_at REAL
);
CREATE INDEX IF NOT EXISTS versions_doc ON versions(doc_id, status);
CREATE INDEX IF NOT EXISTS versions_sha ON versions(sha256);
CREATE TABLE IF NOT EXISTS pages (
    version_id TEXT NOT NULL REFERENCES versions(version_id),
    number INTEGER NOT NULL,
    text TEXT NOT NULL,
    PRIMARY KEY (version_id, number)
);
CREATE TABLE IF NOT EXISTS variants (
    version_id TEXT NOT NULL REFERENCES versions(version_id),
    number INTEGER NOT NULL,
    scenario TEXT NOT NULL,
    page INTEGER NOT NULL,
    pages TEXT NOT NULL,
    PRIMARY KEY (version_id, number)
);
CREATE TABLE IF NOT EXISTS procedure_rows (
    version_id TEXT NOT NULL REFERENCES versions(version_id),
    variant INTEGER NOT NULL,
    ord INTEGER NOT NULL,
    procedure TEXT NOT NULL,
    category TEXT NOT NULL,
    rating INTEGER,
    rrl TEXT,
    comments TEXT NOT NULL,
    page INTEGER NOT NULL,
    source_text TEXT NOT NULL,
    PRIMARY KEY (version_id, variant, ord)
);
CREATE TABLE IF NOT EXISTS chunks (
    chunk_id TEXT PRIMARY KEY,
    version_id TEXT NOT NULL REFERENCES versions(version_id),
    ord INTEGER NOT NULL,
    kind TEXT NOT NULL,
    text TEXT NOT NULL,
    embed_text TEXT NOT NULL,
    text_hash TEXT NOT NULL,
    section TEXT NOT NULL,
    heading_path TEXT NOT NULL,
    variant INTEGER,
    page_start INTEGER NOT NULL,
    page_end INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_version ON chunks(version_id);
"""


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


class LibraryDB:
    """SQLite side of the library. One connection per instance; WAL for concurrent readers."""

    def __init__(self, path: Path):
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.conn = sqlite3.connect(path, timeout=30.0, isolation_level=None, check_same_thread=False)
            self.conn.row_factory = sqlite3.Row
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")
            self.conn.execute("PRAGMA foreign_keys=ON")
            self.conn.executescript(SCHEMA)
            self.conn.execute(
                "INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
            )
        except (sqlite3.Error, OSError) as exc:
            raise LibraryError(
                f"cannot open the library at {path}: {exc}; check that the data dir is writable "
                "(--home or RADGUIDE_HOME)"
            ) from exc

    def close(self) -> None:
        self.conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        else:
            self.conn.execute("COMMIT")

    @contextmanager
    def snapshot(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: every query inside sees one committed state."""
        self.conn.execute("BEGIN")
        try:
            yield self.conn
        finally:
            self.conn.execute("COMMIT")

    # --- meta -------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row["value"] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self.conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

    # --- reads --------------------------------------------------------------
    def version_by_sha(self, sha256: str) -> sqlite3.Row | None:
        return self.conn.execute(
            "SELECT * FROM versions WHERE sha256 = ? ORDER BY ingested_at DESC LIMIT 1", (sha256,)
        ).fetchone()

    def versions(self, include_superseded: bool = False, doc_id: str | None = None,
                 include_retired: bool = False) -> list[sqlite3.Row]:
        sql = "SELECT v.*, d.title, d.kind FROM versions v JOIN documents d USING (doc_id)"
        where, args = [], []
        statuses = ["current"] + (["superseded"] if include_superseded else []) + (
            ["retired"] if include_retired else [])
        where.append("v.status IN (%s)" % ",".join(f"'{s}'" for s in statuses))
        if doc_id is not None:
            where.append("v.doc_id = ?")
            args.append(doc_id)
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY d.title, v.ingested_at DESC"
        return self.conn.execute(sql, args).fetchall()

    def current_version(self, doc_id: str) -> sqlite3.Row | None:
        return self.conn.execute(
            "SELECT * FROM versions WHERE doc_id = ? AND status = 'current'", (doc_id,)
        ).fetchone()

    def document(self, doc_id: str) -> sqlite3.Row | None:
        return self.conn.execute("SELECT * FROM documents WHERE doc_id = ?", (doc_id,)).fetchone()

    def version(self, version_id: str) -> sqlite3.Row | None:
        return self.conn.execute(
            "SELECT v.*, d.title, d.kind FROM versions v JOIN documents d USING (doc_id) WHERE version_id = ?",
            (version_id,),
        ).fetchone()

    def page_text(self, version_id: str, number: int) -> str | None:
        row = self.conn.execute(
            "SELECT text FROM pages WHERE version_id = ? AND number = ?", (version_id, number)
        ).fetchone()
        return row["text"] if row else None

    def variants(self, version_id: str) -> list[Variant]:
        out: list[Variant] = []
        for v in self.conn.execute(
            "SELECT * FROM variants WHERE version_id = ? ORDER BY number", (version_id,)
        ).fetchall():
            rows = [
                ProcedureRow(
                    procedure=r["procedure"], category=r["category"], rating=r["rating"], rrl=r["rrl"],
                    comments=r["comments"], page=r["page"], source_text=r["source_text"],
                )
                for r in self.conn.execute(
                    "SELECT * FROM procedure_rows WHERE version_id = ? AND variant = ? ORDER BY ord",
                    (version_id, v["number"]),
                )
            ]
            out.append(Variant(number=v["number"], scenario=v["scenario"], page=v["page"], rows=rows,
                               pages=json.loads(v["pages"])))
        return out

    def chunks(self, version_ids: list[str]) -> list[sqlite3.Row]:
        if not version_ids:
            return []
        marks = ",".join("?" * len(version_ids))
        return self.conn.execute(
            f"SELECT c.*, v.doc_id, v.version, v.source, d.title FROM chunks c "
            f"JOIN versions v USING (version_id) JOIN documents d USING (doc_id) "
            f"WHERE c.version_id IN ({marks}) ORDER BY c.version_id, c.ord",
            version_ids,
        ).fetchall()

    def generation(self) -> int:
        """Increases with every committed library change; caches key on it."""
        return int(self.get_meta("generation") or 0)

    # --- writes -------------------------------------------------------------
    def bump_generation(self, conn: sqlite3.Connection) -> None:
        conn.execute(
            "INSERT INTO meta(key, value) VALUES ('generation', '1') "
            "ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + 1"
        )

    def write_version(self, conn: sqlite3.Connection, *, doc: dict, version: dict, pages: list,
                      variants: list[Variant], chunks: list[dict]) -> None:
        """Insert one document version with everything parsed from it (inside a transaction)."""
        conn.execute(
            "INSERT OR IGNORE INTO documents(doc_id, title, kind, created_at) VALUES (?, ?, ?, ?)",
            (doc["doc_id"], doc["title"], doc["kind"], time.time()),
        )
        conn.execute("UPDATE documents SET title = ?, kind = ? WHERE doc_id = ?",
                     (doc["title"], doc["kind"], doc["doc_id"]))
        vid = version["version_id"]
        # A rerun after a crash may find rows of a version that never became visible.
        for table in ("chunks", "procedure_rows", "variants", "pages"):
            conn.execute(f"DELETE FROM {table} WHERE version_id = ?", (vid,))
        conn.execute("DELETE FROM versions WHERE version_id = ?", (vid,))
        conn.execute(
            "INSERT INTO versions(version_id, doc_id, version, version_line, sha256, source, source_path, status, "
            "pages, chunks, variants, warnings, ingested_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (vid, doc["doc_id"], version["version"], version.get("version_line"), version["sha256"],
             version["source"], version["source_path"], "current", len(pages), len(chunks), len(variants),
             json.dumps(version.get("warnings", [])), time.time()),
        )
        conn.executemany("INSERT INTO pages(version_id, number, text) VALUES (?,?,?)",
                         [(vid, p.number, p.text) for p in pages])
        for v in variants:
            conn.execute("INSERT INTO variants(version_id, number, scenario, page, pages) VALUES (?,?,?,?,?)",
                         (vid, v.number, v.scenario, v.page, json.dumps(v.pages)))
            conn.executemany(
                "INSERT INTO procedure_rows(version_id, variant, ord, procedure, category, rating, rrl, comments, "
                "page, source_text) VALUES (?,?,?,?,?,?,?,?,?,?)",
                [(vid, v.number, i, r.procedure, r.category, r.rating, r.rrl, r.comments, r.page, r.source_text)
                 for i, r in enumerate(v.rows)],
            )
        conn.executemany(
            "INSERT INTO chunks(chunk_id, version_id, ord, kind, text, embed_text, text_hash, section, heading_path, "
            "variant, page_start, page_end) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            [(c["chunk_id"], vid, i, c["kind"], c["text"], c["embed_text"], c["text_hash"], c["section"],
              json.dumps(c["heading_path"]), c["variant"], c["page_start"], c["page_end"])
             for i, c in enumerate(chunks)],
        )

    def supersede_others(self, conn: sqlite3.Connection, doc_id: str, keep_version_id: str) -> list[str]:
        olds = [r["version_id"] for r in conn.execute(
            "SELECT version_id FROM versions WHERE doc_id = ? AND status = 'current' AND version_id != ?",
            (doc_id, keep_version_id))]
        conn.execute(
            "UPDATE versions SET status = 'superseded', superseded_at = ? "
            "WHERE doc_id = ? AND status = 'current' AND version_id != ?",
            (time.time(), doc_id, keep_version_id),
        )
        return olds

    def retire(self, doc_id: str) -> int:
        with self.transaction() as conn:
            cur = conn.execute(
                "UPDATE versions SET status = 'retired', superseded_at = ? WHERE doc_id = ? AND status = 'current'",
                (time.time(), doc_id),
            )
            self.bump_generation(conn)
            return cur.rowcount

