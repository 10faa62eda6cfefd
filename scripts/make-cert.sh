#!/usr/bin/env bash
# Make a self-signed TLS certificate for serving HTTPS in the room (scripts/run.sh HTTPS=1).
# Usage: scripts/make-cert.sh DIR ADDRESS...   writes DIR/key.pem (0600) and DIR/cert.pem for
# the given IP addresses (or host names), 127.0.0.1 and localhost. A certificate that already
# covers every address is kept, so browsers that accepted it once are not asked again.
set -euo pipefail
DIR="$1"; shift
KEY="$DIR/key.pem"
CERT="$DIR/cert.pem"

names=(DNS:localhost IP:127.0.0.1)
for address in "$@"; do
  if [[ "$address" =~ ^[0-9.]+$ || "$address" == *:* ]]; then names+=("IP:$address"); else names+=("DNS:$address"); fi
done
SAN="$(IFS=,; echo "${names[*]}")"

covers_all() {
  [ -s "$KEY" ] && [ -s "$CERT" ] || return 1
  local present
  present="$(openssl x509 -in "$CERT" -noout -ext subjectAltName 2>/dev/null | tr -d ' ' | tr ',' '\n' | sed 's/^IPAddress:/IP:/')"
  for name in "${names[@]}"; do
    grep -qxF "$name" <<<"$present" || return 1
  done
  openssl x509 -in "$CERT" -noout -checkend 86400 >/dev/null
}

if covers_all; then exit 0; fi

# umask 077 before anything is written: the key is never readable by other users, not even
# for a moment.
umask 077
mkdir -p "$DIR"
rm -f "$KEY.new" "$CERT.new"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -sha256 \
  -days 825 -subj "/CN=Live captions (self-signed)" \
  -addext "subjectAltName=$SAN" \
  -addext "basicConstraints=critical,CA:FALSE" \
  -addext "keyUsage=critical,digitalSignature" \
  -addext "extendedKeyUsage=serverAuth" \
  -keyout "$KEY.new" -out "$CERT.new" 2>/dev/null
chmod 0600 "$KEY.new"
chmod 0644 "$CERT.new"
mv "$KEY.new" "$KEY"
mv "$CERT.new" "$CERT"
echo "Made a self-signed certificate for ${SAN//,/ } in $DIR (valid 825 days)"
