#!/usr/bin/env bash
# Start a local Redis server unless one already answers at REDIS_URL (default 127.0.0.1:6379).
set -euo pipefail
HOST=127.0.0.1
PORT=6379
if [ -n "${REDIS_URL:-}" ]; then
  hostport="${REDIS_URL#*://}"; hostport="${hostport#*@}"; hostport="${hostport%%/*}"
  if [ "${REDIS_URL%%://*}" != "${REDIS_URL%%+cluster://*}" ]; then
    # A Redis Cluster (README, "Redis Cluster") is the operator's to run: check a seed node.
    hostport="${hostport%%,*}"; hostport="${hostport%%\?*}"
    redis-cli -h "${hostport%:*}" -p "${hostport##*:}" ping >/dev/null 2>&1 && exit 0
    echo "Redis Cluster node $hostport does not answer" >&2
    exit 1
  fi
  HOST="${hostport%%:*}"; PORT="${hostport##*:}"
fi
if redis-cli -h "$HOST" -p "$PORT" ping >/dev/null 2>&1; then
  exit 0
fi
if [ "$HOST" != "127.0.0.1" ] && [ "$HOST" != "localhost" ]; then
  echo "Redis at $HOST:$PORT does not answer" >&2
  exit 1
fi
echo "Starting redis-server on port $PORT"
mkdir -p -m 0700 var  # it also holds the secret key and the database: this user only
redis-server --daemonize yes --bind 127.0.0.1 --port "$PORT" --save "" --appendonly no \
  --dir "$(pwd)/var" --logfile "$(pwd)/var/redis.log"
for _ in $(seq 50); do
  redis-cli -h "$HOST" -p "$PORT" ping >/dev/null 2>&1 && exit 0
  sleep 0.1
done
echo "redis-server did not start" >&2
exit 1
