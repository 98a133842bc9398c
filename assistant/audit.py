"""The audit log: every question, what was retrieved, which document versions were
cited, the exact rendered prompt, the answer and its citation checks. SQLite in the
data dir; numbered migrations."""
from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

from assistant.errors import LibraryError

MIGRATIONS = [
    """
    CREATE TABLE answers (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        created_at REAL NOT NULL,
        question TEXT NOT NULL,
        refused INTEGER NOT NULL,
        answer TEXT NOT NULL,
        model TEXT NOT NULL,
        prompt TEXT NOT NULL,
        retrieved TEXT NOT NULL,
        cited_versions TEXT NOT NULL,
        response TEXT NOT NULL
    );
    CREATE TABLE verdicts (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        answer_id INTEGER NOT NULL REFERENCES answers(id),
        created_at REAL NOT NULL,
        reviewer TEXT NOT NULL,
        verdict TEXT NOT NULL,
        note TEXT NOT NULL
    );
    """,
]


class AuditLog:
    def __init__(self, path: Path):
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.conn = sqlite3.connect(path, timeout=30.0, isolation_level=None, check_same_thread=False)
            self.conn.row_factory = sqlite3.Row
            self.conn.execute("PRAGMA journal_mode=WAL")
            self._migrate()
        except (sqlite3.Error, OSError) as exc:
            raise LibraryError(f"cannot open the audit log {path}: {exc}; check the data dir is writable") from exc

    def _migrate(self) -> None:
        current = self.conn.execute("PRAGMA user_version").fetchone()[0]
        for number, sql in enumerate(MIGRATIONS[current:], start=current + 1):
            self.conn.executescript(f"BEGIN; {sql}; PRAGMA user_version = {number}; COMMIT;")

    def record(self, response: dict, *, prompt: str, retrieved: list[dict]) -> int:
        cited = sorted({(c["doc_id"], c["version"]) for c in response.get("citations", [])})
        cur = self.conn.execute(
            "INSERT INTO answers(created_at, question, refused, answer, model, prompt, retrieved, cited_versions, "
            "response) VALUES (?,?,?,?,?,?,?,?,?)",
            (time.time(), response["question"], int(response["refused"]), response["answer"], response["model"],
             prompt, json.dumps(retrieved), json.dumps(cited), json.dumps(response)),
        )
        return int(cur.lastrowid)

    def get(self, answer_id: int) -> dict | None:
        row = self.conn.execute("SELECT * FROM answers WHERE id = ?", (answer_id,)).fetchone()
        return {k: row[k] for k in row.keys()} if row else None

    def recent(self, limit: int = 50) -> list[dict]:
        rows = self.conn.execute("SELECT * FROM answers ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
        return [{k: r[k] for k in r.keys()} for r in rows]

    def close(self) -> None:
        self.conn.close()
