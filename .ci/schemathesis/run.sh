#!/usr/bin/env bash
# Schemathesis (pinned, from PyPI) against `keygate serve` with an admin key: every
# operation of /v1/openapi.json, all checks, stateful links included. Fails on any
# failure or schema error. Usage: .ci/schemathesis/run.sh [path/to/keygate]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
version="4.32.5"
venv="${KEYGATE_ST_VENV:-${CARGO_TARGET_DIR:-$root/target}/schemathesis-$version}"
if [ ! -x "$venv/bin/st" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet "schemathesis==$version"
fi
keygate="${1:-${CARGO_TARGET_DIR:-$root/target}/debug/keygate}"
[ -x "$keygate" ] || { echo "no keygate binary at $keygate: cargo build -p keygate-cli" >&2; exit 1; }

work="$(mktemp -d)"
server=""
cleanup() { [ -n "$server" ] && kill "$server" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
export KEYGATE_DATABASE_URL="sqlite://$work/keygate.db"
export KEYGATE_ST_ROLE="st-viewer"
"$keygate" roles create "$KEYGATE_ST_ROLE" --scopes read:things >/dev/null
created="$("$keygate" keys create --name schemathesis-admin --scopes '*' --json)"
admin="$(printf '%s' "$created" | python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])')"
export KEYGATE_ST_ADMIN_ID="$(printf '%s' "$created" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')"

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
# The failure throttle (60 failed verifications a minute per IP by default) would turn
# schemathesis' bad-credential probes into 429s; its own tests are elsewhere.
"$keygate" serve --addr "127.0.0.1:$port" --failure-throttle 100000/m >"$work/serve.log" 2>&1 &
server=$!
for _ in $(seq 1 50); do
  curl -fsS "http://127.0.0.1:$port/v1/openapi.json" >/dev/null 2>&1 && break
  sleep 0.2
done

export KEYGATE_ST_ADMIN="$admin"
export SCHEMATHESIS_HOOKS=hooks
export PYTHONPATH="$here"
cd "$work"
"$venv/bin/st" --config-file "$here/schemathesis.toml" run "http://127.0.0.1:$port/v1/openapi.json" \
  --checks all \
  --max-examples "${KEYGATE_ST_EXAMPLES:-40}" \
  --workers 1 \
  --seed "${KEYGATE_ST_SEED:-$RANDOM$RANDOM}" \
  --no-color
