#!/usr/bin/env bash
# Install, prepare the database, and serve on the embedded offline engine.
#   bash scripts/run.sh            HTTP on :8000 (PORT); the microphone works on localhost only
#   HTTPS=1 bash scripts/run.sh    HTTPS on :8443 (HTTPS_PORT) with a self-signed certificate
#                                  made on first run, so a presenter on another laptop gets it
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh run
# Phones in the room reach this machine by its LAN address: allow it as a host.
LAN_ADDRESS="$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.connect(("192.0.2.1", 9)); print(s.getsockname()[0])' 2>/dev/null || echo 127.0.0.1)"
export ALLOWED_HOSTS="${ALLOWED_HOSTS:-localhost,127.0.0.1,[::1],${LAN_ADDRESS}}"
.venv/bin/python manage.py migrate --noinput
# Metrics (README, "Metrics"): server processes started from here share this directory, so
# that /metrics on any of them sums them all; the figures of earlier runs are removed first.
export PROMETHEUS_MULTIPROC_DIR="${PROMETHEUS_MULTIPROC_DIR:-$PWD/var/prometheus}"
mkdir -p -m 0700 "$PROMETHEUS_MULTIPROC_DIR"
find "$PROMETHEUS_MULTIPROC_DIR" -maxdepth 1 -name '*.db' -delete

# Daphne serves pages and both sockets here: frames of up to 64 KiB (the presenter's limit;
# listeners' 4 KiB is the application's check, or uvicorn's --ws-max-size where it serves them).
# It never negotiates permessage-deflate.
DAPHNE=(.venv/bin/daphne --websocket-max-message-size 65536 --websocket-max-frame-size 65536)
# A hall joining at once waits in the accept queue instead of being dropped (Twisted's default
# is 50; the kernel caps it at net.core.somaxconn). Colons of an IPv6 BIND escaped for Twisted.
BACKLOG="${BACKLOG:-4096}"
INTERFACE="$(echo "${BIND:-0.0.0.0}" | tr -d '[]' | sed 's/:/\\:/g')"
if [ "${HTTPS:-0}" = "1" ]; then
  export PORT="${HTTPS_PORT:-8443}"
  scripts/make-cert.sh var/tls "$LAN_ADDRESS"
  .venv/bin/python manage.py demo_event --port "$PORT" --host "$LAN_ADDRESS" --scheme https
  echo "The certificate is self-signed: each browser asks once to accept it (README, \"Serving HTTPS in the room\")."
  ENDPOINT="ssl:${PORT}:interface=${INTERFACE}:backlog=${BACKLOG}:privateKey=var/tls/key.pem:certKey=var/tls/cert.pem"
  exec "${DAPHNE[@]}" -e "$ENDPOINT" presenter_site.asgi:application
fi
export PORT="${PORT:-8000}"
.venv/bin/python manage.py demo_event --port "$PORT" --host "$LAN_ADDRESS"
exec "${DAPHNE[@]}" -e "tcp:port=${PORT}:interface=${INTERFACE}:backlog=${BACKLOG}" presenter_site.asgi:application
