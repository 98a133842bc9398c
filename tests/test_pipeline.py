"""The library: versions, re-ingest, diff, bad input, crash safety (real pypdf, Chroma, MiniLM)."""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path


from assistant.library import Library
from assistant.settings import load_settings
from ingest.pipeline import ingest_paths
from tests.conftest import PREVIOUS, REPO, SAMPLE

RLQ = SAMPLE / "right_lower_quadrant_pain.pdf"
RLQ_2019 = PREVIOUS / "right_lower_quadrant_pain_2019.pdf"


def _lib(home: Path) -> Library:
    return Library(load_settings(home=home))


def _expected_diff() -> dict:
    text = (PREVIOUS / "EXPECTED_DIFF.md").read_text()
    return json.loads(re.search(r"```json\n(.*?)\n```", text, re.S).group(1))


def test_sample_library_ingested_with_structure(sample_home):
    lib = _lib(sample_home)
    docs = lib.db.versions()
    titles = sorted(d["title"] for d in docs)
    assert len(docs) == 11
    assert "Right Lower Quadrant Pain" in titles and "Suspected Pulmonary Embolism" in titles
    rlq = lib.db.current_version("right-lower-quadrant-pain")
    assert rlq["version"] == "Revised 2023" and rlq["source"] == "right_lower_quadrant_pain.pdf"
    variants = lib.db.variants(rlq["version_id"])
    assert [v.number for v in variants] == [1, 2, 3, 4, 5]
    v3 = variants[2]
    assert v3.scenario == "Right lower quadrant pain. Suspected appendicitis. Pregnant patient. Initial imaging."
    assert [(r.procedure, r.category, r.rrl) for r in v3.rows][:2] == [
        ("US abdomen right lower quadrant", "Usually Appropriate", "O"),
        ("MRI abdomen and pelvis without IV contrast", "Usually Appropriate", "O"),
    ]
    # every chunk of the current library has a vector in Chroma
    chunks = lib.db.chunks(lib.current_version_ids())
    got = lib.vector_store.client.get(ids=[c["chunk_id"] for c in chunks], include=[])
    assert len(got["ids"]) == len(chunks) > 50


def test_reingest_unchanged_embeds_nothing(sample_copy):
    lib = _lib(sample_copy)
    before = lib.vector_store.client.count()
    report = ingest_paths(lib, [SAMPLE], progress=False)
    assert (report["added"], report["updated"], report["failed"]) == (0, 0, 0)
    assert report["unchanged"] == 11
    assert all(d["embedded"] == 0 for d in report["documents"])
    assert "embed_model" not in lib.__dict__  # the embedding model was never even loaded
    assert lib.vector_store.client.count() == before


def test_new_version_supersedes_and_diff_is_exact(tmp_path, capsys):
    from assistant.cli import main

    home = tmp_path / "home"
    lib = _lib(home)
    r1 = ingest_paths(lib, [RLQ_2019], progress=False)
    assert r1["documents"][0]["status"] == "added" and r1["documents"][0]["version"] == "Revised 2019"
    r2 = ingest_paths(lib, [RLQ], progress=False)
    doc = r2["documents"][0]
    assert doc["status"] == "updated" and doc["version"] == "Revised 2023"
    # chunks whose text did not change reuse the old vectors
    assert 0 < doc["embedded"] < doc["chunks"]

    versions = {v["version"]: v["status"] for v in lib.db.versions(include_superseded=True)}
    assert versions == {"Revised 2019": "superseded", "Revised 2023": "current"}
    old_vid = next(v["version_id"] for v in lib.db.versions(include_superseded=True) if v["status"] == "superseded")
    assert lib.db.page_text(old_vid, 1)  # the old text stays stored and citable
    assert lib.current_version_ids() == [lib.db.current_version("right-lower-quadrant-pain")["version_id"]]

    assert main(["--home", str(home), "diff", "right-lower-quadrant-pain", "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    want = _expected_diff()
    assert (got["from"]["version"], got["to"]["version"]) == (want["old_version"], want["new_version"])
    assert [(v["variant"], v["scenario"]) for v in got["variants_added"]] == [
        (v["variant"], v["scenario"]) for v in want["variants_added"]]
    assert got["variants_removed"] == want["variants_removed"]

    def norm(changes):
        return [(c["variant"], c["procedures_added"], c["procedures_removed"],
                 [(x["procedure"], x.get("from", x.get("old")), x.get("to", x.get("new"))) for x in c["category_changes"]],
                 [(x["procedure"], x.get("from", x.get("old")), x.get("to", x.get("new"))) for x in c["rrl_changes"]])
                for c in changes]

    assert norm(got["variants_changed"]) == norm(want["variants_changed"])


def test_older_version_ingested_later_does_not_become_current(tmp_path):
    lib = _lib(tmp_path / "home")
    ingest_paths(lib, [RLQ], progress=False)
    rep = ingest_paths(lib, [RLQ_2019], progress=False)
    assert rep["documents"][0]["status"] == "updated"
    assert "older than the current version" in rep["documents"][0]["warnings"][0]
    assert lib.db.current_version("right-lower-quadrant-pain")["version"] == "Revised 2023"


def test_dry_run_reports_the_diff_and_changes_nothing(tmp_path, capsys):
    from assistant.cli import main

    home = tmp_path / "home"
    ingest_paths(_lib(home), [RLQ_2019], progress=False)
    assert main(["--home", str(home), "ingest", "--dry-run", "--json", str(RLQ)]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["dry_run"] is True and rep["updated"] == 1
    assert rep["documents"][0]["diff"]["variants_added"][0]["variant"] == 5
    lib = _lib(home)
    assert [v["version"] for v in lib.db.versions(include_superseded=True)] == ["Revised 2019"]


def test_remove_retires_but_keeps_for_audit(sample_copy, capsys):
    from assistant.cli import main

    assert main(["--home", str(sample_copy), "remove", "headache"]) == 0
    assert main(["--home", str(sample_copy), "docs", "--json"]) == 0
    current = json.loads(capsys.readouterr().out.split("\n", 1)[1])["documents"]
    assert "headache" not in {d["doc_id"] for d in current} and len(current) == 10
    assert main(["--home", str(sample_copy), "docs", "--all", "--json"]) == 0
    every = json.loads(capsys.readouterr().out)["documents"]
    assert {d["status"] for d in every if d["doc_id"] == "headache"} == {"retired"}
    keys = set(every[0])
    assert {"doc_id", "title", "version", "status", "source", "sha256", "pages", "chunks", "variants",
            "ingested_at"} <= keys


def test_bad_files_fail_clearly_and_nothing_is_lost(sample_copy, tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "corrupt.pdf").write_bytes(b"%PDF-1.4\n" + os.urandom(3000))
    (bad / "truncated.pdf").write_bytes(RLQ.read_bytes()[: RLQ.stat().st_size // 3])
    (bad / "page.pdf").write_text("<!DOCTYPE html><html><body>Not a PDF</body></html>")
    (bad / "empty.pdf").write_bytes(b"")
    (bad / "notes.docx").write_bytes(b"PK\x03\x04" + b"\x00" * 100)
    shutil.copy(SAMPLE / "headache.pdf", bad / "headache-copy.pdf")
    lib = _lib(sample_copy)
    before = lib.current_version_ids()
    rep = ingest_paths(lib, [bad, bad / "notes.docx", SAMPLE / "headache.pdf"], progress=False)
    by_name = {d["source"]: d for d in rep["documents"]}
    for name in ("corrupt.pdf", "truncated.pdf", "page.pdf", "empty.pdf", "notes.docx"):
        d = by_name[name]
        assert d["status"] == "failed", d
        assert d["error"].startswith("cannot ingest") and name in d["error"], d["error"]
        assert "; " in d["error"]  # names the next step
    assert by_name["headache-copy.pdf"]["status"] == "unchanged"
    assert by_name["headache.pdf"]["status"] == "unchanged"
    assert rep["failed"] == 5
    assert lib.current_version_ids() == before


def test_cli_exit_code_nonzero_when_any_file_failed(sample_copy, tmp_path, capsys):
    from assistant.cli import main

    (tmp_path / "x.pdf").write_bytes(b"garbage")
    code = main(["--home", str(sample_copy), "ingest", str(tmp_path / "x.pdf"), str(SAMPLE / "hematuria.pdf")])
    out = capsys.readouterr().out
    assert code == 1
    assert "! x.pdf: cannot ingest" in out and "= unchanged" in out


KILL_SCRIPT = """
import sys, time
from pathlib import Path
from assistant.library import Library
from assistant.settings import load_settings
from ingest import pipeline

orig = pipeline.Ingestor._commit
def slow_commit(self, *a, **k):
    print("VECTORS_STORED", flush=True)
    time.sleep(60)
    return orig(self, *a, **k)
pipeline.Ingestor._commit = slow_commit
lib = Library(load_settings(home=sys.argv[1]))
pipeline.ingest_paths(lib, [Path(p) for p in sys.argv[2:]], progress=False)
"""


def test_sigkill_midway_leaves_library_consistent_then_rerun_completes(sample_copy):
    """Kill an ingest after it stored the new version's vectors, before it committed."""
    lib = _lib(sample_copy)
    before_current = lib.db.current_version("right-lower-quadrant-pain")["version_id"]
    # Make the sample's RLQ topic old, so the 2019 file is absent and 2023 is current; ingest 2019 as
    # a *new* document id to get a real write in flight.
    proc = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, str(sample_copy), str(RLQ_2019)],
                            cwd=REPO, stdout=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    line = ""
    while time.time() < deadline:
        line = proc.stdout.readline()
        if "VECTORS_STORED" in line or not line:
            break
    assert "VECTORS_STORED" in line
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)

    lib = _lib(sample_copy)
    # consistent: same current version, no half-written version rows, still queryable
    assert lib.db.current_version("right-lower-quadrant-pain")["version_id"] == before_current
    assert lib.db.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert len(lib.db.versions(include_superseded=True)) == 11
    from assistant.retrieval import Retriever

    hits = Retriever(lib).retrieve("pregnant RLQ pain suspected appendicitis").hits
    assert hits[0].doc_id == "right-lower-quadrant-pain" and hits[0].version_id == before_current

    rep = ingest_paths(lib, [RLQ_2019], progress=False)
    d = rep["documents"][0]
    assert d["status"] == "updated" and d["embedded"] == 0  # the vectors stored before the kill are reused
    assert "older than the current version" in d["warnings"][0]
    assert len(lib.db.versions(include_superseded=True)) == 12


def test_concurrent_reads_see_old_or_new_version_never_a_mix(tmp_path):
    """A reader thread retrieving while a writer supersedes a document sees one version per answer."""
    import threading

    from assistant.retrieval import Retriever

    home = tmp_path / "home"
    lib = _lib(home)
    ingest_paths(lib, [RLQ_2019, SAMPLE / "headache.pdf"], progress=False)
    reader = Retriever(_lib(home))
    seen: list[set[str]] = []
    done = threading.Event()

    def read():
        while not done.is_set():
            hits = reader.retrieve("RLQ pain suspected appendicitis child").hits
            seen.append({h.version_id for h in hits if h.doc_id == "right-lower-quadrant-pain"})

    t = threading.Thread(target=read)
    t.start()
    try:
        ingest_paths(lib, [RLQ], progress=False)
        time.sleep(0.5)
    finally:
        done.set()
        t.join(timeout=60)
    assert seen and all(len(s) == 1 for s in seen), [s for s in seen if len(s) != 1][:3]
    versions = {next(iter(s)) for s in seen}
    new = lib.db.current_version("right-lower-quadrant-pain")["version_id"]
    assert new in versions  # the reader moved on to the new version once it committed


def test_enormous_pdf_is_ingested_by_page(tmp_path):
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("helvetica", size=11)
    for n in range(1, 301):
        pdf.add_page()
        pdf.multi_cell(0, 6, f"Section {n}\n\nProtocol paragraph {n}: contrast-enhanced imaging of region {n} "
                             "is performed with a standard injection and a delayed phase. " * 3)
    path = tmp_path / "big_protocol.pdf"
    pdf.output(str(path))
    lib = _lib(tmp_path / "home")
    rep = ingest_paths(lib, [path], progress=False)
    d = rep["documents"][0]
    assert d["status"] == "added" and d["pages"] == 300 and d["chunks"] >= 300
    vid = lib.db.current_version(d["doc_id"])["version_id"]
    assert "Protocol paragraph 287" in lib.db.page_text(vid, 287)


def _library_contents(home: Path) -> tuple:
    lib = _lib(home)
    vids = lib.current_version_ids()
    chunks = sorted((c["chunk_id"], c["embed_text"]) for c in lib.db.chunks(vids))
    rows = sorted((vid, v.number, tuple((r.procedure, r.category, r.rating, r.rrl, r.page) for r in v.rows))
                  for vid in vids for v in lib.db.variants(vid))
    stored = lib.vector_store.client.get(ids=[c[0] for c in chunks], include=[])["ids"]
    return sorted(vids), chunks, rows, len(stored)


def test_rounds_with_parsing_helpers_build_the_same_library(sample_home, tmp_path, monkeypatch):
    """Many small rounds, parsed in helper processes, store exactly what one inline round does."""
    from ingest import pipeline

    monkeypatch.setattr(pipeline, "WAVE_FILES", 3)
    submitted: list[int] = []
    real_submit = pipeline._submit_parses
    monkeypatch.setattr(pipeline, "_submit_parses", lambda ing, pool, wave: (submitted.append(len(wave)),
                                                                             real_submit(ing, pool, wave)))
    report = ingest_paths(_lib(tmp_path / "home"), [SAMPLE], progress=False)
    assert report["failed"] == 0 and report["added"] == 11
    assert submitted == [3, 3, 3, 2]  # every round went to the helpers, the next one while the previous stored
    ours, reference = _library_contents(tmp_path / "home"), _library_contents(sample_home)
    assert ours == reference and ours[3] == len(ours[1])


def _die_in_helper(*_args):
    os._exit(3)


def test_a_dead_parsing_helper_falls_back_to_parsing_in_process(tmp_path, monkeypatch, caplog):
    from ingest import pipeline

    monkeypatch.setattr(pipeline, "WAVE_FILES", 4)
    monkeypatch.setattr(pipeline, "_parse_job", _die_in_helper)
    report = ingest_paths(_lib(tmp_path / "home"), [SAMPLE], progress=False)
    assert report["failed"] == 0 and report["added"] == 11
    assert all(d["chunks"] > 0 and d["variants"] >= 3 for d in report["documents"])
    assert "the parsing helper process stopped" in caplog.text


def test_a_failing_vector_store_fails_the_job_clearly_and_commits_nothing(sample_copy, tmp_path, monkeypatch):
    from ingest import pipeline

    def broken_store(self, pending, vectors):
        raise RuntimeError("store unreachable")

    monkeypatch.setattr(pipeline.Ingestor, "_add_vectors", broken_store)
    lib = _lib(sample_copy)
    before = {v["version_id"] for v in lib.db.versions(include_superseded=True)}
    rep = ingest_paths(lib, [RLQ_2019], progress=False)
    (d,) = rep["documents"]
    assert rep["failed"] == 1 and d["status"] == "failed"
    assert "embedding or storing its vectors failed (store unreachable)" in d["error"]
    assert {v["version_id"] for v in lib.db.versions(include_superseded=True)} == before
    assert lib.db.current_version("right-lower-quadrant-pain")["version"] == "Revised 2023"
