"""Typed errors. Each message names the thing, the place and the next step."""
from __future__ import annotations


class RadguideError(Exception):
    """Base class for expected failures shown to users as one clear line."""


class ConfigError(RadguideError):
    pass


class ModelError(RadguideError):
    pass


class LibraryError(RadguideError):
    pass


class DocumentError(RadguideError):
    """A single input file cannot be ingested; other files go on."""

    def __init__(self, path: str, reason: str, hint: str):
        self.path, self.reason, self.hint = str(path), reason, hint
        super().__init__(f"cannot ingest {path}: {reason}; {hint}")

    def __reduce__(self):  # rebuilt with all three fields when it crosses a process boundary
        return (DocumentError, (self.path, self.reason, self.hint))


class QuestionError(RadguideError):
    pass
