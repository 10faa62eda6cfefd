#!/usr/bin/env bash
# Install, prepare the database, and serve on the embedded offline engine.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh run
export PORT="${PORT:-8000}"
# Phones in the room reach this machine by its LAN address: allow it as a host.
LAN_ADDRESS="$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.connect(("192.0.2.1", 9)); print(s.getsockname()[0])' 2>/dev/null || echo 127.0.0.1)"
export ALLOWED_HOSTS="${ALLOWED_HOSTS:-localhost,127.0.0.1,[::1],${LAN_ADDRESS}}"
.venv/bin/python manage.py migrate --noinput
.venv/bin/python manage.py demo_event --port "$PORT" --host "$LAN_ADDRESS"
exec .venv/bin/daphne -b "${BIND:-0.0.0.0}" -p "$PORT" presenter_site.asgi:application
