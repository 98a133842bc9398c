"""The library as one object: the SQLite document store, the Chroma vectors and
the embedding model, opened lazily from settings."""
from __future__ import annotations

import logging
from functools import cached_property

from assistant import backends
from assistant.errors import LibraryError
from assistant.settings import Settings
from assistant.store import LibraryDB

log = logging.getLogger(__name__)

CHUNKER_VERSION = "2"  # bump when chunking changes what is embedded


class Library:
    def __init__(self, settings: Settings):
        self.settings = settings
        home = settings.home
        if home.exists() and not home.is_dir():
            raise LibraryError(f"data dir {home} is a file, not a folder; pass a folder to --home")
        try:
            settings.library_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise LibraryError(
                f"cannot use data dir {home}: {exc.strerror or exc}; pass a writable folder to --home "
                "or set RADGUIDE_HOME"
            ) from exc
        self.db = LibraryDB(settings.library_dir / "library.sqlite3")
        self.fingerprint = backends.embedding_fingerprint(settings, CHUNKER_VERSION)
        self._check_fingerprint()

    def _check_fingerprint(self) -> None:
        stored = self.db.get_meta("fingerprint")
        if stored is None:
            self.db.set_meta("fingerprint", self.fingerprint)
        elif stored != self.fingerprint and self.db.versions(include_superseded=True):
            raise LibraryError(
                f"the library in {self.settings.home} was built with another embedding model or chunker "
                f"(fingerprint {stored}, settings give {self.fingerprint}); re-ingest into a fresh --home "
                "or restore the embedding settings it was built with"
            )
        else:
            self.db.set_meta("fingerprint", self.fingerprint)

    @property
    def collection_name(self) -> str:
        return f"radguide-{self.fingerprint}"

    @cached_property
    def vector_store(self):
        return backends.make_vector_store(self.settings, self.collection_name)

    @cached_property
    def embed_model(self):
        return backends.make_embed_model(self.settings)

    def current_version_ids(self, include_superseded: bool | None = None) -> list[str]:
        if include_superseded is None:
            include_superseded = self.settings.retrieval.include_superseded
        return [r["version_id"] for r in self.db.versions(include_superseded=include_superseded)]

    def close(self) -> None:
        self.db.close()
