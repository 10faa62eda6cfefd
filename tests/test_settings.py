"""Settings: one reader that fails loudly; a production environment that passes check --deploy."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION_ENV = ROOT / "deploy" / "production.env.example"

pytestmark = pytest.mark.timeout(60)

# Reads of the process environment that are not project settings.
NOT_SETTINGS = {
    "presenter_site/asgi.py": "DJANGO_SETTINGS_MODULE",
    # the system's cache convention
    "captions/engines/offline/translation/bergamot.py": "XDG_CACHE_HOME",
}


def run(argv: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    """Run ``argv`` under the production settings module, a private var dir and ``env``."""
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("SECURE_", "CSRF_", "SESSION_", "REDIS_KEY", "DJANGO_"))
    }
    environment.update(
        DJANGO_SETTINGS_MODULE="presenter_site.settings",
        CAPTIONS_VAR_DIR=str(tmp_path / "var"),
        SECRET_KEY=secrets.token_urlsafe(50),
        **env,
    )
    return subprocess.run(
        [sys.executable, *argv],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )


def run_python(code: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    return run(["-c", code], tmp_path, **env)


def manage(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    return run(["manage.py", *args], tmp_path, **env)


def production_environment() -> dict[str, str]:
    """The variables of deploy/production.env.example, as docker compose's .env reads them."""
    pairs = {}
    for line in PRODUCTION_ENV.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            pairs[name.strip()] = value.strip()
    return pairs


def test_nothing_outside_the_settings_reader_reads_the_environment():
    """Every setting is read by presenter_site/env.py's helpers; nobody else peeks at os.environ."""
    found = []
    for path in [*ROOT.glob("captions/**/*.py"), *ROOT.glob("presenter_site/*.py")]:
        relative = path.relative_to(ROOT).as_posix()
        if relative == "presenter_site/env.py":
            continue
        for line in path.read_text().splitlines():
            if re.search(r"os\.environ|os\.getenv|getenv\(", line):
                if NOT_SETTINGS.get(relative, "\0") not in line:
                    found.append(f"{relative}: {line.strip()}")
    assert found == []


def test_two_deployments_sharing_one_redis_keep_their_keys_apart(tmp_path):
    """REDIS_KEY_PREFIX from the environment prefixes every key of the app's own."""
    code = "import django; django.setup(); from captions.redis_client import key; print(key('e',1))"
    first = run_python(code, tmp_path, REDIS_KEY_PREFIX="conference-a")
    second = run_python(code, tmp_path, REDIS_KEY_PREFIX="conference-b")
    default = run_python(code, tmp_path)
    assert first.stdout.strip() == "conference-a:e:1", first.stderr
    assert second.stdout.strip() == "conference-b:e:1", second.stderr
    assert default.stdout.strip() == "captions:e:1", default.stderr


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("CAPTION_WHISPER_THREADS", "two"),
        ("CAPTION_WHISPER_THREADS", "-1"),
        ("REDIS_KEY_PREFIX", "a b*"),
        ("REDIS_KEY_PREFIX", ""),
        ("CHANNEL_LAYER", "redsi"),
        ("REDIS_URL", "localhost:6379"),
        ("REDIS_URL", "redis+cluster://10.0.0.1:6379,10.0.0.2"),
        ("REDIS_URL", "redis+cluster://10.0.0.1:6379/2"),
        ("SECURE_HSTS_SECONDS", "a year"),
        ("SESSION_COOKIE_SECURE", "yes please"),
        ("SECURE_PROXY_SSL_HEADER", "X-Forwarded-Proto: https"),
        ("DISPLAY_FRAME_ANCESTORS", "https://conf.example; script-src *"),
        ("DISPLAY_FRAME_ANCESTORS", "'unsafe-inline'"),
    ],
)
def test_a_bad_value_stops_the_server_at_start_naming_the_variable(tmp_path, name, value):
    """A typo is an error at start-up, not a surprise during the talk (or a silent default)."""
    done = manage(tmp_path, "check", **{name: value})
    assert done.returncode != 0
    assert name in done.stderr and "ConfigError" in done.stderr


def test_a_cluster_url_names_every_seed_node_and_shards_the_pubsub_layer_over_them(tmp_path):
    """redis+cluster:// lists seed nodes; the channel layer becomes the pub/sub one over them."""
    code = (
        "import django; django.setup(); from django.conf import settings as s\n"
        "print(s.REDIS_CLUSTER_NODES)\n"
        "print(s.CHANNEL_LAYERS['default']['BACKEND'])\n"
        "print([host['address'] for host in s.CHANNEL_LAYERS['default']['CONFIG']['hosts']])\n"
    )
    url = "rediss+cluster://:secret@10.0.0.1:6379,[fd00::2]:7000?ssl_cert_reqs=none"
    done = run_python(code, tmp_path, REDIS_URL=url)
    nodes = [
        "rediss://:secret@10.0.0.1:6379/0?ssl_cert_reqs=none",
        "rediss://:secret@[fd00::2]:7000/0?ssl_cert_reqs=none",
    ]
    assert done.stdout.splitlines() == [
        str(nodes),
        "channels_redis.pubsub.RedisPubSubChannelLayer",
        str(nodes),
    ], done.stderr


def test_the_list_based_channel_layer_is_refused_on_a_cluster(tmp_path):
    """RedisChannelLayer's keys would land on nodes that do not own them: an error at start."""
    done = manage(
        tmp_path, "check", REDIS_URL="redis+cluster://10.0.0.1:6379", CHANNEL_LAYER="redis"
    )
    assert done.returncode != 0
    assert "CHANNEL_LAYER" in done.stderr and "ConfigError" in done.stderr


def test_engine_settings_come_from_the_environment_through_the_reader(tmp_path):
    """The Whisper and Azure engines read what settings.py read from the environment."""
    code = (
        "import django; django.setup()\n"
        "from captions.engines.offline.model import ModelSettings\n"
        "from captions.engines.azure import AzureEngine\n"
        "print(ModelSettings.from_settings())\n"
        "print('partials:', ModelSettings.for_partials())\n"
        "print(AzureEngine().options.url)\n"
    )
    done = run_python(
        code,
        tmp_path,
        CAPTION_WHISPER_MODEL="small",
        CAPTION_WHISPER_THREADS="3",
        CAPTION_WHISPER_PARTIAL_MODEL="tiny",
        AZURE_SPEECH_KEY="k",
        AZURE_SPEECH_REGION="westeurope",
    )
    assert "name='small'" in done.stdout and "threads=3" in done.stdout, done.stderr
    assert "partials: ModelSettings(name='tiny'" in done.stdout
    assert "wss://westeurope." in done.stdout


def test_the_documented_production_environment_passes_check_deploy(tmp_path):
    """deploy/production.env.example (plus a generated SECRET_KEY) gives no deployment warning."""
    env = production_environment()
    assert env.pop("SECRET_KEY", "") == ""  # the example must not ship a usable key
    done = manage(tmp_path, "check", "--deploy", "--fail-level", "WARNING", **env)
    assert done.returncode == 0, done.stderr
    assert "no issues" in done.stdout
    assert "WARNING" not in done.stderr


def test_the_default_environment_is_what_check_deploy_warns_about(tmp_path):
    """Without the production variables, check --deploy names HSTS, redirect and cookies."""
    done = manage(tmp_path, "check", "--deploy")
    for warning in ("W004", "W008", "W012", "W016"):
        assert warning in done.stderr


def test_tls_settings_come_from_the_environment(tmp_path):
    """HSTS, secure cookies, the SSL redirect and the trusted proxy's header are switchable."""
    code = (
        "import django; django.setup(); from django.conf import settings as s\n"
        "print(s.SECURE_HSTS_SECONDS, s.SECURE_HSTS_INCLUDE_SUBDOMAINS, s.SECURE_HSTS_PRELOAD,"
        " s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_SSL_REDIRECT,"
        " s.SECURE_PROXY_SSL_HEADER)"
    )
    done = run_python(
        code,
        tmp_path,
        SECURE_HSTS_SECONDS="63072000",
        SECURE_HSTS_INCLUDE_SUBDOMAINS="true",
        SECURE_HSTS_PRELOAD="true",
        SESSION_COOKIE_SECURE="true",
        CSRF_COOKIE_SECURE="true",
        SECURE_SSL_REDIRECT="true",
        SECURE_PROXY_SSL_HEADER="X-Forwarded-Proto",
    )
    assert done.stdout.split() == [
        "63072000", "True", "True", "True", "True", "True", "('HTTP_X_FORWARDED_PROTO',", "'https')"
    ], done.stderr  # fmt: skip
