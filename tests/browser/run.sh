#!/usr/bin/env bash
# Browser tests of the extension pages: Debian's Chromium (installed with apt when missing),
# playwright-core from npm (pinned; never downloads a browser), the local server on a free port.
# Screenshots of the panel and the modal end up in artifacts/browser/.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
here="$root/tests/browser"
cd "$root"

if [ ! -x /usr/bin/chromium ]; then
  echo "installing Debian's chromium"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y chromium
fi

export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
(cd "$here" && npm ci --no-audit --no-fund --ignore-scripts)

cargo build -p local
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
export BASE_URL="http://127.0.0.1:$port"
export ARTIFACTS_DIR="$root/artifacts/browser"
mkdir -p "$ARTIFACTS_DIR"
log="$ARTIFACTS_DIR/local-server.log"
PORT="$port" RUST_LOG="${RUST_LOG:-warn}" "$root/target/debug/local" >"$log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  if curl -fsS "$BASE_URL/healthz" >/dev/null 2>&1; then break; fi
  if ! kill -0 "$server" 2>/dev/null; then echo "the local server stopped:"; cat "$log"; exit 1; fi
  sleep 0.2
done
curl -fsS "$BASE_URL/healthz" >/dev/null

cd "$here"
node --test --test-concurrency=1 --test-reporter=spec "$@" ./*.test.mjs
