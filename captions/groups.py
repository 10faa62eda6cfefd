"""Channel-layer group names. Only ASCII letters, digits, '-', '_' and '.' are allowed.

Listeners are not in groups (see captions/fanout.py); the channel layer carries presenter control.
"""

from __future__ import annotations


def presenter_group(event_id: int) -> str:
    """The event's presenter connections (at most one stays live)."""
    return f"presenter.{event_id}"
