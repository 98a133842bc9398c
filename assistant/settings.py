"""One settings tree for radguide.

Sources, lowest priority first: defaults, ``radguide.toml`` (in the data dir, or
``--config FILE``), ``RADGUIDE_*`` environment variables (nested with ``__``, e.g.
``RADGUIDE_LLM__BACKEND=openai``), then CLI flags.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from assistant.errors import ConfigError

DEFAULT_HOME = Path("~/.local/share/radguide")
DEFAULT_MODEL_CACHE = Path("~/.cache/radguide/models")
CONFIG_NAME = "radguide.toml"


class Section(BaseModel):
    model_config = {"extra": "forbid"}


class PathsSettings(Section):
    model_cache: Path = Field(
        DEFAULT_MODEL_CACHE,
        description="Folder holding assembled model files, shared by every data dir.",
    )


class LLMSettings(Section):
    backend: Literal["llama_cpp", "openai"] = Field(
        "llama_cpp",
        description="llama_cpp runs a local GGUF in-process; openai talks to any "
        "OpenAI-compatible server (vLLM, llama.cpp server).",
    )
    model: str = Field(
        "qwen2.5-coder-1.5b-instruct-q4_k_m",
        description="Name of a bundled GGUF (see `radguide models`); ignored when model_path is set.",
    )
    model_path: Path | None = Field(
        None, description="Path of any local GGUF file; overrides `model`."
    )
    n_ctx: int = Field(4096, description="Context window in tokens for the local model.")
    n_threads: int | None = Field(
        None, description="CPU threads for llama.cpp; None uses the physical core count."
    )
    max_tokens: int = Field(200, description="Most tokens generated for one answer.")
    temperature: float = Field(0.0, description="Sampling temperature; 0 is deterministic.")
    seed: int = Field(0, description="Sampling seed, for repeatable answers.")
    base_url: str = Field(
        "http://127.0.0.1:8000/v1", description="Base URL of the OpenAI-compatible server."
    )
    server_model: str = Field(
        "local", description="Model name sent to the OpenAI-compatible server."
    )
    api_key_env: str = Field(
        "RADGUIDE_OPENAI_API_KEY",
        description="Environment variable holding the server's API key (never stored in files).",
    )
    timeout_s: float = Field(120.0, description="Request timeout for the openai backend.")
    few_shot: bool = Field(True, description="Include a worked example in the prompt.")
    reasoning: bool = Field(
        False, description="Let the model think in a hidden step before it answers."
    )
    self_check: bool = Field(
        False, description="Review the draft against the passages before returning it."
    )


class EmbeddingSettings(Section):
    backend: Literal["sentence_transformers"] = Field(
        "sentence_transformers", description="Embedding backend; a local sentence-transformers folder."
    )
    model_path: Path | None = Field(
        None,
        description="Local sentence-transformers folder; None uses the bundled all-MiniLM-L6-v2.",
    )
    batch_size: int = Field(32, description="Texts embedded per batch.")
    max_seq_length: int = Field(256, description="Token limit of the embedding model.")


class StoreSettings(Section):
    backend: Literal["embedded", "server"] = Field(
        "embedded",
        description="embedded keeps Chroma in the data dir; server talks to a Chroma HTTP server.",
    )
    host: str = Field("127.0.0.1", description="Chroma server host (store.backend = server).")
    port: int = Field(8000, description="Chroma server port (store.backend = server).")
    ssl: bool = Field(False, description="Use HTTPS for the Chroma server.")


class RetrievalSettings(Section):
    top_k: int = Field(6, description="Passages given to the model.")
    candidates: int = Field(30, description="Candidates taken from each of BM25 and dense before fusion.")
    bm25_weight: float = Field(1.0, description="Weight of the BM25 ranking in reciprocal rank fusion.")
    dense_weight: float = Field(1.0, description="Weight of the dense ranking in reciprocal rank fusion.")
    rrf_k: int = Field(60, description="Rank constant of reciprocal rank fusion.")
    min_dense_score: float = Field(
        0.45, description="Evidence gate: cosine similarity the best passage must reach at least.")
    min_coverage: float = Field(
        0.5, description="Evidence gate: share of the question's content words (with their expansions) that "
        "the leading document must contain at least.")
    confident_dense_score: float = Field(
        0.6, description="Evidence gate: above min_coverage but below confident_coverage, the best passage "
        "must reach this cosine similarity.")
    confident_coverage: float = Field(
        0.75, description="Evidence gate: coverage at which min_dense_score alone suffices.")
    decisive_dense_score: float = Field(
        0.65, description="Evidence gate: cosine similarity at which the best passage alone shows the "
        "question is covered, whatever the word coverage (clinicians' own words for a scenario).")
    include_superseded: bool = Field(
        False, description="Search superseded document versions too."
    )


class IngestSettings(Section):
    max_file_mb: int = Field(200, description="Files larger than this are refused.")
    max_pages: int = Field(2000, description="PDFs with more pages than this are refused.")


class AuditSettings(Section):
    enabled: bool = Field(True, description="Record every question and answer in the audit log.")


class UISettings(Section):
    address: str = Field("127.0.0.1", description="Address the Streamlit server binds to.")
    port: int = Field(8501, description="Port of the Streamlit server.")


class Settings(BaseSettings):
    """Effective radguide settings."""

    model_config = SettingsConfigDict(
        env_prefix="RADGUIDE_", env_nested_delimiter="__", extra="forbid"
    )

    home: Path = Field(
        DEFAULT_HOME, description="Data dir: the library (Chroma, document store) and the audit log."
    )
    paths: PathsSettings = Field(default_factory=PathsSettings, description="Shared folders.")
    llm: LLMSettings = Field(default_factory=LLMSettings, description="The answering model.")
    embedding: EmbeddingSettings = Field(
        default_factory=EmbeddingSettings, description="The embedding model."
    )
    store: StoreSettings = Field(default_factory=StoreSettings, description="The vector store.")
    retrieval: RetrievalSettings = Field(
        default_factory=RetrievalSettings, description="Hybrid retrieval and the evidence gate."
    )
    ingest: IngestSettings = Field(default_factory=IngestSettings, description="Ingestion limits.")
    audit: AuditSettings = Field(default_factory=AuditSettings, description="The audit log.")
    ui: UISettings = Field(default_factory=UISettings, description="The Streamlit app.")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The TOML file is chosen at load time (data dir or --config): see load_settings.
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))

    # Derived locations inside the data dir.
    @property
    def library_dir(self) -> Path:
        return self.home / "library"

    @property
    def chroma_dir(self) -> Path:
        return self.home / "chroma"

    @property
    def audit_db(self) -> Path:
        return self.home / "audit.sqlite3"


def _deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def load_settings(
    home: Path | str | None = None,
    config: Path | str | None = None,
    overrides: dict[str, Any] | None = None,
) -> Settings:
    """Build the effective settings from every source.

    ``home`` and ``overrides`` come from CLI flags and win over everything else.
    """
    env_home = os.environ.get("RADGUIDE_HOME")
    home_dir = Path(home or env_home or DEFAULT_HOME).expanduser()
    toml_file: Path | None
    if config is not None:
        toml_file = Path(config).expanduser()
        if not toml_file.is_file():
            raise ConfigError(f"config file {toml_file} does not exist; pass an existing TOML file to --config")
    else:
        candidate = home_dir / CONFIG_NAME
        toml_file = candidate if candidate.is_file() else None

    init: dict[str, Any] = dict(overrides or {})
    if home is not None:
        init["home"] = Path(home)

    config_dict = SettingsConfigDict(**{**Settings.model_config, "toml_file": toml_file})
    cls = type("LoadedSettings", (Settings,), {"model_config": config_dict})
    try:
        settings = cls(**init)
    except Exception as exc:  # pydantic ValidationError or TOML syntax errors
        where = f" (config {toml_file})" if toml_file else ""
        first = str(exc).strip().splitlines()
        detail = "; ".join(line.strip() for line in first[:3])
        raise ConfigError(f"invalid settings{where}: {detail}; fix the value and run again") from exc
    settings = Settings.model_validate(settings.model_dump())
    return expand_paths(settings)


def expand_paths(settings: Settings) -> Settings:
    """Expand ``~`` in every path setting."""
    settings.home = settings.home.expanduser()
    settings.paths.model_cache = settings.paths.model_cache.expanduser()
    if settings.llm.model_path is not None:
        settings.llm.model_path = settings.llm.model_path.expanduser()
    if settings.embedding.model_path is not None:
        settings.embedding.model_path = settings.embedding.model_path.expanduser()
    return settings


def describe(model: type[BaseModel] = Settings, prefix: str = "") -> list[tuple[str, str]]:
    """(dotted name, description) for every leaf setting, for docs and `radguide config`."""
    rows: list[tuple[str, str]] = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            rows.extend(describe(annotation, f"{prefix}{name}."))
        else:
            rows.append((f"{prefix}{name}", field.description or ""))
    return rows
