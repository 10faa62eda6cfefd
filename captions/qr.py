"""QR codes for an event's audience link."""

from __future__ import annotations

import io

import segno


def qr_svg(url: str, *, scale: int = 8) -> bytes:
    """An SVG QR code for ``url``, scalable for slides and print."""
    out = io.BytesIO()
    segno.make(url, error="m").save(out, kind="svg", scale=scale, border=2, xmldecl=True)
    return out.getvalue()


def qr_png(url: str, *, scale: int = 10) -> bytes:
    """A PNG QR code for ``url``."""
    out = io.BytesIO()
    segno.make(url, error="m").save(out, kind="png", scale=scale, border=2)
    return out.getvalue()
