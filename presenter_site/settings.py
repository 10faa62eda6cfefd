"""Django settings, read from environment variables; the defaults run on a fresh machine.

Every setting is read here, once, through the helpers of ``presenter_site.env``, which fail
loudly on bad values; the rest of the project reads ``django.conf.settings``.
"""

from __future__ import annotations

import os
import re
import secrets
import tempfile
from datetime import timedelta
from pathlib import Path

import dj_database_url

from .env import (
    ConfigError,
    env_bool,
    env_int,
    env_list,
    env_paths,
    env_str,
    redis_cluster_nodes,
)

BASE_DIR = Path(__file__).resolve().parent.parent


def private_dir(path: Path) -> Path:
    """Create ``path`` for this user only (0700); a directory that exists is left as it is."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def create_private_file(path: Path, content: str) -> None:
    """Create ``path`` holding ``content``, private (0600) from its first byte.

    The content goes to a new file that ``mkstemp`` opens with O_EXCL and mode 0600, which is
    then linked into place: no moment exists where the file is readable by others or half
    written. When another process made ``path`` first, its file is kept.
    """
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as file:
            file.write(content)
        os.link(temp, path)
    except FileExistsError:
        pass
    finally:
        os.unlink(temp)


def make_private(path: Path) -> None:
    """Take group and other permissions off a file of ours made by an older version."""
    status = path.stat()
    if status.st_uid == os.getuid() and status.st_mode & 0o077:
        path.chmod(0o600)


VAR_DIR = private_dir(Path(env_str("CAPTIONS_VAR_DIR", str(BASE_DIR / "var"))))


def _secret_key() -> str:
    """Use SECRET_KEY if given, else one generated once and kept under var/."""
    given = env_str("SECRET_KEY", "")
    if given:
        return given
    path = VAR_DIR / "secret-key"
    if not path.exists():
        create_private_file(path, secrets.token_urlsafe(50))
    make_private(path)
    return path.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
# The address printed on join cards and QR codes, e.g. https://captions.example.org.
# Empty: built from the request that asks for the card.
PUBLIC_URL = env_str("PUBLIC_URL", "").rstrip("/")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "captions",
    "axes",  # admin login attempts (AXES_* below)
]

MIDDLEWARE = [
    # First, so that every response carries the policy, even one another middleware made.
    "captions.middleware.ContentSecurityPolicyMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # last, as django-axes asks
]

ROOT_URLCONF = "presenter_site.urls"
ASGI_APPLICATION = "presenter_site.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 0),
    )
}


def _private_sqlite(name: str) -> None:
    """Create the SQLite file (it holds presenter keys) 0600 before SQLite makes it 0644.

    SQLite gives its journal and WAL files the database file's mode.
    """
    if name in ("", ":memory:") or name.startswith("file:") or not Path(name).parent.is_dir():
        return
    os.close(os.open(name, os.O_WRONLY | os.O_CREAT, 0o600))
    for suffix in ("", "-journal", "-wal", "-shm"):
        if Path(name + suffix).exists():
            make_private(Path(name + suffix))


if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # Several threads and processes write captions; wait for the lock instead of failing.
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 20
    _private_sqlite(str(DATABASES["default"]["NAME"]))

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6379/0")
# redis+cluster://host:port,host:port names a Redis Cluster by its seed nodes (README, "Redis
# Cluster"): empty for a single server.
REDIS_CLUSTER_NODES = redis_cluster_nodes("REDIS_URL", REDIS_URL)
# Connections the app's own Redis client (captions, presence, status) may open per process.
# A join burst queues for them instead of failing (redis-py 8 refuses the 101st by default).
# At least 2: each process's caption subscription keeps one for itself.
REDIS_MAX_CONNECTIONS = env_int("REDIS_MAX_CONNECTIONS", 50, minimum=2)
# The prefix of this app's own Redis keys (captions, presence, status, leases): deployments
# sharing one Redis each need their own, as they need their own CHANNEL_LAYER_PREFIX.
CAPTIONS_REDIS_PREFIX = env_str("REDIS_KEY_PREFIX", "captions", pattern=r"[A-Za-z0-9_.:-]{1,64}")
_LAYER_BACKENDS = {
    "redis": "channels_redis.core.RedisChannelLayer",
    "pubsub": "channels_redis.pubsub.RedisPubSubChannelLayer",
    "memory": "channels.layers.InMemoryChannelLayer",
}
# The app itself does not use the channel layer (README, "Large audiences"). On a Redis Cluster
# it is the pub/sub layer, sharded over the seed nodes by channel name: it only PUBLISHes and
# SUBSCRIBEs, which any node of a cluster serves for the whole cluster. RedisChannelLayer keeps
# lists and sorted sets under keys that its own hashing, not the cluster's, puts on a node.
CHANNEL_LAYER_BACKEND = env_str(
    "CHANNEL_LAYER", "pubsub" if REDIS_CLUSTER_NODES else "redis", choices=_LAYER_BACKENDS
)
if REDIS_CLUSTER_NODES and CHANNEL_LAYER_BACKEND == "redis":
    raise ConfigError("CHANNEL_LAYER=redis cannot use a Redis Cluster (REDIS_URL): use pubsub")
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": _LAYER_BACKENDS[CHANNEL_LAYER_BACKEND],
        "CONFIG": {}
        if CHANNEL_LAYER_BACKEND == "memory"
        else {
            # channels_redis blocks up to 5 s waiting for messages; redis-py 8 gives reads a
            # 5 s socket timeout by default, which would fail every idle wait.
            "hosts": [
                {"address": url, "socket_timeout": 30} for url in REDIS_CLUSTER_NODES or [REDIS_URL]
            ],
            "prefix": env_str("CHANNEL_LAYER_PREFIX", "asgi"),
        },
    }
}

# The speech-translation engine: "local" (embedded, offline; the default), "azure",
# or the dotted path of any captions.engines.base.Engine subclass.
CAPTION_ENGINE = {
    "BACKEND": env_str("CAPTION_ENGINE", "local"),
    "OPTIONS": {},
}

# Load the engine's models in the background as the server starts (captions.engines.preload),
# so that the first presenter's "start" does not wait for them.
ENGINE_PRELOAD = env_bool("ENGINE_PRELOAD", True)

# Talks one server process captions at once; past it a presenter's start is refused with
# "engine_busy" instead of slowing every room. The embedded engine met its latency targets with
# 2 presenters on a 2-core machine (bench/engine.py --presenters); 0 means no limit (a cloud
# engine costs this machine little).
ENGINE_MAX_SESSIONS = env_int(
    "ENGINE_MAX_SESSIONS", 2 if CAPTION_ENGINE["BACKEND"] == "local" else 0, minimum=0
)

# How many recent finals a listener receives on arrival.
CAPTION_HISTORY_LIMIT = env_int("CAPTION_HISTORY_LIMIT", 200, minimum=0)

# The offline engine (docs/offline-engine.md).
CAPTION_WHISPER_MODEL = env_str("CAPTION_WHISPER_MODEL", "base")
# A smaller model for partials where it knows the language ("tiny.en", packaged: English
# only); "none" decodes them with CAPTION_WHISPER_MODEL too (docs/offline-engine.md).
CAPTION_WHISPER_PARTIAL_MODEL = env_str("CAPTION_WHISPER_PARTIAL_MODEL", "tiny.en")
CAPTION_WHISPER_COMPUTE_TYPE = env_str("CAPTION_WHISPER_COMPUTE_TYPE", "int8")
CAPTION_WHISPER_THREADS = env_int("CAPTION_WHISPER_THREADS", 0, minimum=0)  # 0: one per core
CAPTION_BERGAMOT_MODELS = env_paths("CAPTION_BERGAMOT_MODELS")
CAPTION_PIPER_VOICES = env_paths("CAPTION_PIPER_VOICES")
CAPTION_SPEECH_FORMAT = env_str("CAPTION_SPEECH_FORMAT", "wav")

# The Azure engine (docs/azure.md).
AZURE_SPEECH_KEY = env_str("AZURE_SPEECH_KEY", "").strip()
AZURE_SPEECH_TOKEN = env_str("AZURE_SPEECH_TOKEN", "").strip()
AZURE_SPEECH_REGION = env_str("AZURE_SPEECH_REGION", "").strip()
AZURE_SPEECH_ENDPOINT = env_str("AZURE_SPEECH_ENDPOINT", "").strip()
AZURE_SPEECH_VOICES = env_str("AZURE_SPEECH_VOICES", "").strip()

# Admin logins: django-axes locks a username at one address out after LOGIN_FAILURE_LIMIT wrong
# passwords, for LOGIN_COOLOFF_MINUTES. By username and address together, so that a stranger on
# a venue's shared NAT address cannot lock every organizer there out. The address is
# REMOTE_ADDR, which Daphne and uvicorn take from a trusted proxy's forwarded headers.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 10, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_COOLOFF_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True

# Abuse limits (captions/limits.py). Wrong presenter keys a minute, per client address (an
# IPv6 client by its /64) and per event, before further attempts are refused (close 4429).
PRESENTER_KEY_FAILURES_PER_ADDRESS = env_int("PRESENTER_KEY_FAILURES_PER_ADDRESS", 10, minimum=1)
PRESENTER_KEY_FAILURES_PER_EVENT = env_int("PRESENTER_KEY_FAILURES_PER_EVENT", 60, minimum=1)
# Listener sockets per client address and per event, across every process (close 4503). A
# hall's phones often share one NAT address: keep the first in the hundreds.
LISTENERS_PER_ADDRESS = env_int("LISTENERS_PER_ADDRESS", 500, minimum=1)
LISTENERS_PER_EVENT = env_int("LISTENERS_PER_EVENT", 20_000, minimum=1)

# Prometheus metrics at /metrics (captions/metrics_endpoint.py): with a token, scrapers send
# "Authorization: Bearer <token>"; without one, only loopback and private addresses may scrape.
METRICS_TOKEN = env_str("METRICS_TOKEN", "").strip()
# Several processes on one machine share this directory (prometheus_client reads the variable
# itself); whoever starts them empties it first (scripts/run.sh). Empty: one process's figures.
PROMETHEUS_MULTIPROC_DIR = env_str("PROMETHEUS_MULTIPROC_DIR", "")
if PROMETHEUS_MULTIPROC_DIR:
    private_dir(Path(PROMETHEUS_MULTIPROC_DIR))

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
LOCALE_PATHS = [BASE_DIR / "locale"]

STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(VAR_DIR / "staticfiles")))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # WhiteNoise warns about a missing one
STATICFILES_DIRS = [BASE_DIR / "static"]
WHITENOISE_USE_FINDERS = True

# Behind TLS (README, "Deploying"; deploy/production.env.example passes check --deploy).
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # health checks ask over plain HTTP from inside
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", False)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", False)


def _proxy_ssl_header() -> tuple[str, str] | None:
    """The header a trusted TLS proxy sets to "https" (e.g. X-Forwarded-Proto), if one is."""
    name = env_str("SECURE_PROXY_SSL_HEADER", "", pattern=r"|[A-Za-z][A-Za-z0-9-]{0,63}")
    return ("HTTP_" + name.upper().replace("-", "_"), "https") if name else None


# Only behind a proxy that always sets (or strips) this header: clients could send it too.
# Daphne and uvicorn with --proxy-headers already take the scheme from X-Forwarded-Proto.
SECURE_PROXY_SSL_HEADER = _proxy_ssl_header()
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True  # no script of ours or of the admin reads the CSRF cookie

# Content-Security-Policy (captions/middleware.py). Pages may be framed by nobody, except the
# display view by these origins (space- or comma-separated CSP sources such as
# https://conference.example.org), for conference sites that embed the captions.
_FRAME_SOURCE = r"'self'|\*|[a-z][a-z0-9+.-]*:|([a-z][a-z0-9+.-]*://)?(\*\.)?[A-Za-z0-9.-]+(:(\d{1,5}|\*))?(/[\w.~%/-]*)?"


def _frame_ancestors() -> list[str]:
    sources = env_list("DISPLAY_FRAME_ANCESTORS", [], separators=" ,")
    for source in sources:
        if not re.fullmatch(_FRAME_SOURCE, source):
            raise ConfigError(f"DISPLAY_FRAME_ANCESTORS: {source!r} is not a CSP source")
    return sources


DISPLAY_FRAME_ANCESTORS = _frame_ancestors()

_LOG_LEVELS = {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO", choices=_LOG_LEVELS)},
}
