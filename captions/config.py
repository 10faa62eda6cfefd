"""Settings that also work outside Django: a Django setting, else an environment variable.

The translation and speech packages read their settings here, so bench scripts and the
command line can use them without configuring Django.
"""

from __future__ import annotations

import os


def setting(name: str) -> object | None:
    """Return a Django setting, else the environment variable of that name, else None."""
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured

    try:
        value = getattr(settings, name, None)
    except ImproperlyConfigured:  # used outside Django, e.g. by bench scripts
        value = None
    return os.environ.get(name) if value is None else value


def paths(value: object | None) -> list[str]:
    """Return a list of paths from a list setting or an ``os.pathsep``-separated string."""
    if not value:
        return []
    items = value.split(os.pathsep) if isinstance(value, str) else value
    return [str(item) for item in items if str(item).strip()]
