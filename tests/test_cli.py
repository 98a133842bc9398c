"""The `radguide` command as a user runs it: a real process, real models, one clear line on errors."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import FAST_MODEL, REPO, SAMPLE

RADGUIDE = [sys.executable, "-m", "assistant.cli"]


def run(*args: str, env: dict | None = None, prefix: list[str] | None = None, timeout: int = 600):
    full_env = {**os.environ, **(env or {})}
    return subprocess.run((prefix or []) + RADGUIDE + list(args), cwd=REPO, env=full_env, capture_output=True,
                          text=True, timeout=timeout)


def _one_clear_line(proc) -> str:
    assert proc.returncode != 0
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert lines[0].startswith("radguide: error: ")
    return lines[0]


def test_empty_question_is_one_clear_line(sample_home):
    line = _one_clear_line(run("--home", str(sample_home), "ask", "   "))
    assert "the question is empty" in line


def test_missing_model_file_is_one_clear_line(sample_home):
    line = _one_clear_line(run("--home", str(sample_home), "--set", "llm.model_path=/nonexistent/model.gguf",
                               "ask", "suspected PE, high pretest probability, what imaging?"))
    assert "model file /nonexistent/model.gguf does not exist" in line


def test_unreadable_home_is_one_clear_line(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    line = _one_clear_line(run("--home", str(blocker / "home"), "docs"))
    assert "cannot use data dir" in line and "--home" in line
    line = _one_clear_line(run("--home", str(blocker), "docs"))
    assert "is a file, not a folder" in line


def test_ask_on_empty_library_says_what_to_do(tmp_path):
    line = _one_clear_line(run("--home", str(tmp_path / "empty"), "ask", "suspected PE"))
    assert "is empty; ingest guidelines first" in line


def test_ingest_json_report_shape(tmp_path):
    proc = run("--home", str(tmp_path / "h"), "ingest", str(SAMPLE / "hematuria.pdf"), "--json")
    assert proc.returncode == 0, proc.stderr
    rep = json.loads(proc.stdout)
    assert (rep["added"], rep["updated"], rep["unchanged"], rep["failed"]) == (1, 0, 0, 0)
    doc = rep["documents"][0]
    assert {"source", "doc_id", "title", "version", "status", "pages", "chunks", "error"} <= set(doc)
    assert (doc["source"], doc["doc_id"], doc["title"], doc["status"]) == (
        "hematuria.pdf", "hematuria", "Hematuria", "added")
    assert doc["version"] == "Date of origin: 2010 / Last review date: 2016"
    assert doc["pages"] == 4 and doc["chunks"] > 4 and doc["error"] is None


@pytest.mark.slow
def test_ingest_then_ask_cites_the_right_pdf_and_page(tmp_path):
    """The acceptance path of issue 2 with the default model, as a newcomer runs it."""
    home = tmp_path / "x"
    proc = run("--home", str(home), "ingest", "corpora/sample", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["added"] == 11
    proc = run("--home", str(home), "ask", "pregnant woman with suspected kidney stone, flank pain: what imaging?",
               "--json")
    assert proc.returncode == 0, proc.stderr
    r = json.loads(proc.stdout)
    assert {"question", "answer", "refused", "citations", "recommendations", "model", "timings_ms"} <= set(r)
    assert r["model"] == "qwen2.5-coder-1.5b-instruct-q4_k_m"
    assert r["refused"] is False and r["answer"].strip()
    assert r["variant"]["title"] == "Acute Onset Flank Pain–Suspicion of Stone Disease"
    assert "pregnan" in r["variant"]["scenario"].lower()
    table = next(c for c in r["citations"] if c["key"] == 1)
    assert table["source"] == "acute_onset_flank_pain.pdf" and table["verified"] is True
    page_text = _page_text(home, table["version_id"], table["page"])
    assert " ".join(table["quote"].split()) in " ".join(page_text.split())
    assert {"key", "doc_id", "title", "source", "version", "page", "quote", "verified"} <= set(table)
    assert set(r["timings_ms"]) == {"retrieval", "first_token", "total"}
    assert r["recommendations"][0]["category"] == "Usually Appropriate"


def _page_text(home: Path, version_id: str, page: int) -> str:
    import sqlite3

    con = sqlite3.connect(home / "library" / "library.sqlite3")
    return con.execute("SELECT text FROM pages WHERE version_id = ? AND number = ?", (version_id, page)).fetchone()[0]


def _can_unshare() -> bool:
    if not shutil.which("unshare"):
        return False
    return subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode == 0


@pytest.mark.slow
@pytest.mark.skipif(not _can_unshare(), reason="unshare -n (a network namespace) is not permitted here")
def test_ask_works_with_no_network_at_all(sample_home):
    proc = run("--home", str(sample_home), "--set", f"llm.model={FAST_MODEL}", "ask",
               "suspected PE, high pretest probability, what imaging?", "--json", prefix=["unshare", "-n"])
    assert proc.returncode == 0, proc.stderr
    r = json.loads(proc.stdout)
    assert r["variant"]["title"] == "Suspected Pulmonary Embolism" and r["citations"]
    # no network interface but loopback existed in that process
    assert subprocess.run(["unshare", "-n", "cat", "/proc/net/dev"], capture_output=True,
                          text=True).stdout.count(":") == 1
