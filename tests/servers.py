"""Real server processes for tests: Daphne on a free port, a file database, the real Redis."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class ServerSet:
    """A shared database and environment, and the Daphne processes serving it."""

    workdir: Path
    env: dict[str, str]
    processes: list[tuple[subprocess.Popen, int]] = field(default_factory=list)

    def manage(self, *args: str) -> str:
        """Run a manage.py command against this set's database and return its output."""
        done = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if done.returncode:
            raise RuntimeError(f"manage.py {args} failed: {done.stderr}")
        return done.stdout

    def shell(self, code: str) -> str:
        return self.manage("shell", "-c", code)

    def start(self, port: int | None = None, server: str = "daphne") -> int:
        """Start one server process (Daphne, or uvicorn); return its port once it answers."""
        port = port or free_port()
        log = open(self.workdir / f"daphne-{port}.log", "ab")
        process = subprocess.Popen(
            SERVER_COMMANDS[server](port),
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.processes.append((process, port))
        wait_for_http(f"http://127.0.0.1:{port}/healthz", process)
        return port

    def stop(self, port: int) -> None:
        for process, their_port in list(self.processes):
            if their_port == port:
                process.terminate()
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:  # e.g. stuck on an unreachable Redis
                    process.kill()
                    process.wait(timeout=15)
                self.processes.remove((process, their_port))

    def kill(self, port: int) -> None:
        """SIGKILL the process on ``port``: no shutdown, no goodbye to its clients."""
        for process, their_port in list(self.processes):
            if their_port == port:
                process.kill()
                process.wait(timeout=15)
                self.processes.remove((process, their_port))

    def stop_all(self) -> None:
        """Stop every process and remove this set's Redis keys (if that Redis still answers)."""
        for _, port in list(self.processes):
            self.stop(port)
        import redis

        client = redis.Redis.from_url(
            self.env.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
            socket_timeout=5,
            socket_connect_timeout=5,
        )
        run = self.env["CAPTIONS_TEST_RUN"]
        try:
            for pattern in (f"test-captions-{run}:*", f"test-{run}*"):
                for name in client.scan_iter(match=pattern, count=1000):
                    client.delete(name)
        except (redis.ConnectionError, redis.TimeoutError):
            pass  # a test's own Redis that it stopped: nothing left to clean

    def log(self, port: int) -> str:
        return (self.workdir / f"daphne-{port}.log").read_text(errors="replace")


# The frame limits of docker-compose.yml and scripts/run.sh: Daphne (presenters) 64 KiB;
# uvicorn (listeners only) 4 KiB without permessage-deflate.
DAPHNE_LIMITS = ["--websocket-max-message-size", "65536", "--websocket-max-frame-size", "65536"]
UVICORN_LIMITS = ["--ws-max-size", "4096", "--ws-per-message-deflate", "false"]
# As docker-compose.yml's audience service: a join storm must not overflow the accept queue
# (README, "Join storms"; the kernel caps it at net.core.somaxconn).
UVICORN_BACKLOG = ["--backlog", "8192"]
SERVER_COMMANDS = {
    "daphne": lambda port: [
        sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), *DAPHNE_LIMITS,
        "presenter_site.asgi:application",
    ],
    "uvicorn": lambda port: [
        sys.executable, "-m", "uvicorn", "presenter_site.asgi:application", "--host", "127.0.0.1",
        "--port", str(port), "--ws", "websockets", "--lifespan", "off", "--no-access-log",
        *UVICORN_LIMITS, *UVICORN_BACKLOG,
    ],
    "uvicorn-sansio": lambda port: [
        sys.executable, "-m", "uvicorn", "presenter_site.asgi:application", "--host", "127.0.0.1",
        "--port", str(port), "--ws", "websockets-sansio", "--lifespan", "off", "--no-access-log",
        *UVICORN_LIMITS, *UVICORN_BACKLOG,
    ],
}  # fmt: skip


def wait_for_http(url: str, process: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {seconds} s")


def server_set(workdir: Path, **env: str) -> ServerSet:
    """Prepare a migrated file database in ``workdir``; extra env vars override settings."""
    run = "srv" + uuid.uuid4().hex[:8]  # own Redis keys: event ids restart in each new database
    environment = {
        **os.environ,
        "CAPTIONS_TEST_RUN": run,
        "CHANNEL_LAYER_PREFIX": f"test-{run}",
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "CAPTIONS_VAR_DIR": str(workdir),
        "DATABASE_URL": f"sqlite:///{workdir / 'db.sqlite3'}",
        "ALLOWED_HOSTS": "localhost,127.0.0.1",
        **env,
    }
    servers = ServerSet(workdir, environment)
    servers.manage("migrate", "--noinput")
    return servers
