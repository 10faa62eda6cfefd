"""Files holding secrets (the secret key, the SQLite database of presenter keys) are private."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.timeout(60)


def start(code: str, var: Path, **env: str) -> subprocess.Popen:
    """Start ``code`` as a fresh process with a umask of 022, as a shell usually has."""
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in {"SECRET_KEY", "DATABASE_URL", "DJANGO_SETTINGS_MODULE"}
    }
    environment.update(DJANGO_SETTINGS_MODULE="presenter_site.settings", CAPTIONS_VAR_DIR=str(var))
    environment.update(env)
    return subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: os.umask(0o022),
    )


def run(code: str, var: Path, **env: str) -> str:
    process = start(code, var, **env)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    return out


PRINT_SECRET_KEY = (
    "import django; django.setup(); from django.conf import settings; print(settings.SECRET_KEY)"
)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_secret_key_is_never_readable_by_others_not_even_before_a_chmod(tmp_path):
    """With every chmod disabled, the key file still is 0600: it was created so, not fixed later."""
    code = (
        "import os, pathlib\n"
        "os.chmod = os.fchmod = pathlib.Path.chmod = lambda *args, **kwargs: None\n"
        "import django; django.setup()\n"
    )
    run(code, tmp_path / "var")
    assert mode(tmp_path / "var" / "secret-key") == 0o600


def test_a_first_run_makes_var_0700_and_the_database_and_key_0600(tmp_path):
    """manage.py migrate on a fresh machine: nothing under var/ is readable by other users."""
    var = tmp_path / "var"
    run("from django.core.management import call_command as c; import django; django.setup(); "
        "c('migrate', verbosity=0)", var)  # fmt: skip
    assert mode(var) == 0o700
    assert (var / "db.sqlite3").stat().st_size > 0
    assert mode(var / "db.sqlite3") == 0o600
    assert mode(var / "secret-key") == 0o600


def test_a_database_and_key_left_readable_by_an_older_version_are_made_private(tmp_path):
    """An upgrade closes what an earlier version left open."""
    var = tmp_path / "var"
    var.mkdir()
    for name in ("db.sqlite3", "secret-key"):
        (var / name).write_text("" if name == "db.sqlite3" else "x" * 50)
        (var / name).chmod(0o644)
    run("import django; django.setup()", var)
    assert mode(var / "db.sqlite3") == 0o600
    assert mode(var / "secret-key") == 0o600
    assert (var / "secret-key").read_text() == "x" * 50


def test_processes_starting_together_agree_on_one_generated_key(tmp_path):
    """Several servers started at once on a fresh machine all sign with the same key."""
    code = PRINT_SECRET_KEY
    processes = [start(code, tmp_path / "var") for _ in range(6)]
    keys = {process.communicate(timeout=60)[0].strip() for process in processes}
    assert len(keys) == 1 and len(keys.pop()) >= 50
    assert [p.name for p in (tmp_path / "var").iterdir() if p.name.startswith(".")] == []
