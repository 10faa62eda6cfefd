"""The one error base of the offline engine: models, translation and speech output."""

from __future__ import annotations


class OfflineEngineError(Exception):
    """A failure inside the offline engine; ``permanent`` says whether retrying can help."""

    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent
