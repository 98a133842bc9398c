"""The Streamlit app: through Streamlit's AppTest, and served for real as `make run` serves it."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from tests.conftest import FAST_MODEL, REPO, free_port, wait_http

APP = REPO / "ui" / "app.py"


@pytest.mark.slow
def test_app_answers_a_question(sample_home, monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("RADGUIDE_HOME", str(sample_home))
    monkeypatch.setenv("RADGUIDE_LLM__MODEL", FAST_MODEL)
    at = AppTest.from_file(str(APP), default_timeout=300)
    at.run()
    assert not at.exception
    assert "11 documents" in " ".join(m.value for m in at.sidebar.markdown)
    at.chat_input[0].set_value("pregnant pt flank pain ?stone").run()
    assert not at.exception
    text = " ".join(m.value for m in at.markdown)
    assert "Acute Onset Flank Pain–Suspicion of Stone Disease" in text
    assert "Variant 3:" in text
    table = at.dataframe[0].value
    assert table.iloc[0]["Appropriateness"] == "Usually Appropriate"
    assert any("verified" in e.label for e in at.expander)


def test_app_refusal_and_empty_library(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("RADGUIDE_HOME", str(tmp_path / "empty"))
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.run()
    assert not at.exception
    assert "0 documents" in " ".join(m.value for m in at.sidebar.markdown)
    at.chat_input[0].set_value("suspected PE").run()
    assert [e.value for e in at.error] == [
        f"the library in {tmp_path / 'empty'} is empty; ingest guidelines first (`radguide ingest corpora/sample`)"]


@pytest.mark.slow
def test_make_run_serves_the_ui(tmp_path):
    """`make run` on a fresh data dir: ingests the sample library, serves HTTP 200 on 127.0.0.1."""
    port = free_port()
    env = {**os.environ, "RADGUIDE_HOME": str(tmp_path / "home"), "RADGUIDE_UI__PORT": str(port)}
    log_path = tmp_path / "make-run.log"  # a file, not a pipe: an unread pipe can stall the server
    proc = subprocess.Popen(["make", "--no-print-directory", "run"], cwd=REPO, env=env,
                            stdout=log_path.open("w"), stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        assert wait_http(f"http://127.0.0.1:{port}/", proc, timeout=600) == 200
        assert wait_http(f"http://127.0.0.1:{port}/_stcore/health", proc) == 200
        docs = subprocess.run([sys.executable, "-m", "assistant.cli", "--home", str(tmp_path / "home"), "docs",
                               "--json"], cwd=REPO, capture_output=True, text=True)
        assert docs.stdout.count('"doc_id"') == 11
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=30)
    assert f"http://127.0.0.1:{port}" in log_path.read_text()


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.skipif(_chromium() is None, reason="Debian chromium is not installed (make system-deps installs it)")
def test_browser_asks_and_sees_a_cited_answer(sample_home, tmp_path):
    from playwright.sync_api import sync_playwright

    port = free_port()
    env = {**os.environ, "RADGUIDE_HOME": str(sample_home), "RADGUIDE_LLM__MODEL": FAST_MODEL}
    proc = subprocess.Popen([sys.executable, "-m", "assistant.cli", "ui", "--port", str(port)], cwd=REPO, env=env,
                            stdout=(tmp_path / "ui.log").open("w"), stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        wait_http(f"http://127.0.0.1:{port}/_stcore/health", proc)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=_chromium(), args=[
                "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync"])
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{port}/")
            box = page.get_by_placeholder("Ask a clinical imaging question")
            box.wait_for(timeout=120_000)
            box.fill("28 wk pregnant, RLQ pain, fever, ?appendicitis — what imaging first?")
            box.press("Enter")
            page.get_by_text("Variant 3:").wait_for(timeout=300_000)
            page.get_by_text("verified").first.wait_for(timeout=60_000)
            page.screenshot(path=str(tmp_path / "answer.png"), full_page=True)
            body = page.inner_text("body")
            browser.close()
        assert "Right Lower Quadrant Pain" in body and "US abdomen right lower quadrant" in body
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=30)
