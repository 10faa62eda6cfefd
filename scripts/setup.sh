#!/usr/bin/env bash
# Install what this project needs on a fresh Debian machine: system packages,
# a virtual environment with the pinned Python packages, and a running Redis.
# Usage: scripts/setup.sh [run|test]   (test adds the test-only tools)
set -euo pipefail
cd "$(dirname "$0")/.."
MODE="${1:-run}"

SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi

# openssl: the self-signed certificate of "HTTPS=1 scripts/run.sh".
APT_PACKAGES=(redis-server openssl espeak-ng sox ffmpeg apertium apertium-eng-spa apertium-eng-cat apertium-en-gl apertium-eo-en apertium-fr-es apertium-spa-ita apertium-es-pt apertium-es-ro)
# libssl3, libasound2, libuuid1 and ca-certificates: the Azure Speech SDK's native library.
if [ "$MODE" = "test" ]; then APT_PACKAGES+=(chromium libssl3 libasound2 libuuid1 ca-certificates); fi

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "Installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
  .venv/bin/pip install -q --upgrade pip
fi
EXTRAS="offline"
if [ "$MODE" = "test" ]; then EXTRAS="offline,test"; fi
.venv/bin/pip install -q -e ".[${EXTRAS}]"

scripts/ensure-redis.sh
