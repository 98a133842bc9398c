"""The one place that picks each backend: LLM, embeddings, vector store.

Each seam returns llama-index's (or Chroma's) own type. Imports are lazy so a
command that needs no model loads none, and a missing extra is named clearly.
"""
from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assistant import models
from assistant.errors import ConfigError, ModelError
from assistant.settings import Settings

if TYPE_CHECKING:  # pragma: no cover
    from llama_index.core.embeddings import BaseEmbedding
    from llama_index.core.llms import LLM

log = logging.getLogger(__name__)


def _require(module: str, extra: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ConfigError(f"{module} is not installed; install {extra} (`make install`)") from exc


def offline_guard() -> None:
    """Keep every library we load from reaching for a hub or a telemetry endpoint."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")


def safe_llama_index_globals() -> None:
    """Point llama-index's global Settings at local mocks: any component that was not handed its
    model explicitly fails loudly here instead of reaching for OpenAI."""
    from llama_index.core import Settings as LlamaIndexSettings
    from llama_index.core.embeddings import MockEmbedding
    from llama_index.core.llms import MockLLM

    if not isinstance(LlamaIndexSettings._llm, MockLLM):
        LlamaIndexSettings.llm = MockLLM()
    if not isinstance(LlamaIndexSettings._embed_model, MockEmbedding):
        LlamaIndexSettings.embed_model = MockEmbedding(embed_dim=384)


def llm_model_path(settings: Settings) -> Path:
    """The GGUF the llama_cpp backend loads: llm.model_path, else the named bundled model."""
    if settings.llm.model_path is not None:
        path = settings.llm.model_path
        if not path.is_file():
            raise ModelError(
                f"model file {path} does not exist; set llm.model_path to a GGUF file "
                "or unset it to use the bundled model"
            )
        return path
    return models.gguf_path(settings.llm.model, settings.paths.model_cache)


def llm_label(settings: Settings) -> str:
    if settings.llm.backend == "openai":
        return f"{settings.llm.server_model} @ {settings.llm.base_url}"
    return settings.llm.model_path.name if settings.llm.model_path else settings.llm.model


def make_llm(settings: Settings) -> "LLM":
    """The answering model as a llama-index LLM."""
    cfg = settings.llm
    safe_llama_index_globals()
    match cfg.backend:
        case "llama_cpp":
            path = llm_model_path(settings)
            mod = _require("llama_index.llms.llama_cpp", "llama-index-llms-llama-cpp")
            from assistant.chat_format import chat_formatter

            threads = cfg.n_threads or max(1, (os.cpu_count() or 2))
            try:
                llm = mod.LlamaCPP(
                    model_path=str(path),
                    temperature=cfg.temperature,
                    max_new_tokens=cfg.max_tokens,
                    context_window=cfg.n_ctx,
                    generate_kwargs={"seed": cfg.seed, "top_k": 1 if cfg.temperature == 0 else 40},
                    model_kwargs={"n_threads": threads, "n_batch": 512, "seed": cfg.seed},
                    verbose=False,
                )
            except (ValueError, RuntimeError) as exc:
                raise ModelError(f"cannot load model {path}: {exc}; check that it is a valid GGUF file") from exc
            to_prompt = chat_formatter(llm._model)
            llm.messages_to_prompt = to_prompt
            llm.completion_to_prompt = lambda text: to_prompt([_user(text)])
            return llm
        case "openai":
            mod = _require("llama_index.llms.openai_like", "llama-index-llms-openai-like")
            return mod.OpenAILike(
                model=cfg.server_model,
                api_base=cfg.base_url,
                api_key=os.environ.get(cfg.api_key_env) or "not-needed",
                is_chat_model=True,
                context_window=cfg.n_ctx,
                max_tokens=cfg.max_tokens,
                temperature=cfg.temperature,
                timeout=cfg.timeout_s,
                max_retries=1,
                additional_kwargs={"seed": cfg.seed},
            )
        case other:  # pragma: no cover - Literal keeps this out
            raise ConfigError(f"unknown llm.backend {other!r}; use llama_cpp or openai")


def _user(text: str):
    from llama_index.core.llms import ChatMessage

    return ChatMessage(role="user", content=text)


def embedding_path(settings: Settings) -> Path:
    path = settings.embedding.model_path or models.embedding_dir()
    if not (path / "config.json").is_file() and not (path / "modules.json").is_file():
        raise ModelError(
            f"embedding model folder {path} is missing or not a sentence-transformers model; "
            "set embedding.model_path to a local model folder"
        )
    return path


def make_embed_model(settings: Settings) -> "BaseEmbedding":
    """The embedding model as a llama-index embedding (sentence-transformers, local folder)."""
    offline_guard()
    safe_llama_index_globals()
    match settings.embedding.backend:
        case "sentence_transformers":
            mod = _require("llama_index.embeddings.huggingface", "llama-index-embeddings-huggingface")
            return mod.HuggingFaceEmbedding(
                model_name=str(embedding_path(settings)),
                device="cpu",
                embed_batch_size=settings.embedding.batch_size,
                max_length=settings.embedding.max_seq_length,
                normalize=True,
            )
        case other:  # pragma: no cover
            raise ConfigError(f"unknown embedding.backend {other!r}")


def embed_documents(embed_model: "BaseEmbedding", texts: list[str]) -> list[list[float]]:
    """Embed many texts in one encoder call.

    llama-index's get_text_embedding_batch cuts the list into embed_batch_size pieces and makes
    one sentence-transformers call per piece; the per-call cost shows on a large ingest. The
    embedding's own _get_text_embeddings (the method each llama-index embedding implements for
    batches) hands the whole list to the encoder, which batches it itself."""
    return embed_model._get_text_embeddings(texts) if texts else []


def embedding_fingerprint(settings: Settings, chunker_version: str) -> str:
    """What built the vectors: a change means the collection must be rebuilt."""
    path = settings.embedding.model_path
    name = str(path) if path else models.EMBEDDING_NAME
    raw = f"{name}|{settings.embedding.max_seq_length}|chunker={chunker_version}"
    return hashlib.sha256(raw.encode()).hexdigest()[:12]


def make_chroma_client(settings: Settings):
    """A Chroma client: embedded (PersistentClient in the data dir) or server (HttpClient)."""
    offline_guard()
    chromadb = _require("chromadb", "chromadb")
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
    match settings.store.backend:
        case "embedded":
            settings.chroma_dir.mkdir(parents=True, exist_ok=True)
            return chromadb.PersistentClient(path=str(settings.chroma_dir), settings=chroma_settings)
        case "server":
            return chromadb.HttpClient(
                host=settings.store.host, port=settings.store.port, ssl=settings.store.ssl,
                settings=chroma_settings,
            )
        case other:  # pragma: no cover
            raise ConfigError(f"unknown store.backend {other!r}; use embedded or server")


def make_vector_store(settings: Settings, collection_name: str):
    """The chunk vectors as a llama-index ChromaVectorStore (cosine space, no Chroma-side embedder)."""
    mod = _require("llama_index.vector_stores.chroma", "llama-index-vector-stores-chroma")
    client = make_chroma_client(settings)
    collection = client.get_or_create_collection(
        collection_name, embedding_function=None, metadata={"hnsw:space": "cosine"}
    )
    return mod.ChromaVectorStore(chroma_collection=collection)
