"""Settings for the translation and speech packages, inside Django or outside it.

Inside Django (the server, manage.py, tests) these are Django settings, which
presenter_site/settings.py reads from the environment. Bench scripts that do not configure
Django read the same variables through the same reader, ``presenter_site.env``.
"""

from __future__ import annotations

import os

from presenter_site.env import env_str


def setting(name: str) -> object | None:
    """Return a Django setting; outside Django, the environment variable of that name."""
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured

    try:
        return getattr(settings, name, None)
    except ImproperlyConfigured:  # used outside Django, e.g. by bench/translation.py
        return env_str(name, "") or None


def paths(value: object | None) -> list[str]:
    """Return a list of paths from a list setting or an ``os.pathsep``-separated string."""
    if not value:
        return []
    items = value.split(os.pathsep) if isinstance(value, str) else value
    return [str(item) for item in items if str(item).strip()]
