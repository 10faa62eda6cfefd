"""Tiny helpers that read settings from the environment and fail loudly on bad values.

The project's one settings reader: ``presenter_site/settings.py`` reads every setting through
these, and everything else reads ``django.conf.settings`` (or ``captions.config.setting``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Collection


class ConfigError(ValueError):
    """An environment variable holds a value that cannot be used."""


def env_str(
    name: str,
    default: str,
    *,
    choices: Collection[str] | None = None,
    pattern: str | None = None,
) -> str:
    """A string; with ``choices`` or ``pattern``, anything else is an error."""
    value = os.environ.get(name, default)
    if choices is not None and value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(sorted(choices))}, not {value!r}")
    if pattern is not None and not re.fullmatch(pattern, value):
        raise ConfigError(f"{name} must match {pattern}, not {value!r}")
    return value


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in {"1", "true", "yes", "on"}:
        return True
    if raw.lower() in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name} must be true or false, not {raw!r}")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, not {raw!r}") from None
    if minimum is not None and value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, not {value}")
    return value


def env_list(name: str, default: list[str], *, separators: str = ",") -> list[str]:
    """Items separated by any of ``separators`` (a comma by default); blanks are dropped."""
    raw = os.environ.get(name)
    if raw is None:
        return default
    items = re.split(f"[{re.escape(separators)}]", raw)
    return [item.strip() for item in items if item.strip()]


def env_paths(name: str) -> list[str]:
    """File system paths separated by ``os.pathsep`` (":" on Linux), as in ``PATH``."""
    items = os.environ.get(name, "").split(os.pathsep)
    return [item.strip() for item in items if item.strip()]


# A Redis Cluster is named by its seed nodes, comma-separated, under a scheme of its own, so a
# single server's URL can never be taken for a cluster (or the reverse) by mistake.
REDIS_SCHEMES = {"redis", "rediss", "unix", "redis+cluster", "rediss+cluster"}
_CLUSTER_NODE = r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})"


def redis_cluster_nodes(name: str, url: str) -> list[str]:
    """The seed nodes of a ``redis+cluster://`` (or ``rediss+cluster://``) URL, one
    ``redis://`` (``rediss://``) URL each; an empty list for a single server's URL.

    ``redis+cluster://[user:password@]host:port,host:port[/0][?option=value]``: credentials
    and options apply to every node; a cluster has database 0 only.
    """
    scheme, _, rest = url.partition("://")
    if scheme not in REDIS_SCHEMES:
        raise ConfigError(f"{name} must start with one of {', '.join(sorted(REDIS_SCHEMES))}://")
    if not scheme.endswith("+cluster"):
        return []
    rest, _, query = rest.partition("?")
    userinfo, at, rest = rest.rpartition("@")
    hosts, _, database = rest.partition("/")
    if database not in ("", "0"):
        raise ConfigError(f"{name}: a Redis Cluster has database 0 only, not {database!r}")
    nodes = hosts.split(",")
    for node in nodes:
        match = re.fullmatch(_CLUSTER_NODE, node)
        if match is None or not 0 < int(match.group(2)) < 65536:
            raise ConfigError(f"{name}: {node!r} is not a cluster node's host:port")
    base = scheme.removesuffix("+cluster")
    options = f"?{query}" if query else ""
    return [f"{base}://{userinfo}{at}{node}/0{options}" for node in nodes]
