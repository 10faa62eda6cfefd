#!/usr/bin/env bash
# Install, prepare the database, and serve on the embedded offline engine.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh run
export PORT="${PORT:-8000}"
.venv/bin/python manage.py migrate --noinput
.venv/bin/python manage.py demo_event --port "$PORT"
exec .venv/bin/daphne -b "${BIND:-0.0.0.0}" -p "$PORT" presenter_site.asgi:application
