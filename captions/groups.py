"""Channel-layer group names. Only ASCII letters, digits, '-', '_' and '.' are allowed."""

from __future__ import annotations


def captions_group(event_id: int, language: str, *, with_source: bool = False) -> str:
    """Listeners of one event in one language; the ``.src`` variant also gets source text."""
    suffix = ".src" if with_source else ""
    return f"captions.{event_id}.{language}{suffix}"


def presenter_group(event_id: int) -> str:
    """The event's presenter connections (at most one stays live)."""
    return f"presenter.{event_id}"
