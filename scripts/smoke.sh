#!/usr/bin/env bash
# The README's run command, checked: builds the release binary, starts it on a
# free loopback port with a fresh data directory, asks /healthz, then stops it
# with SIGTERM and expects a clean exit (graceful shutdown).
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release -p liveshop-node
dir=$(mktemp -d)
"${CARGO_TARGET_DIR:-target}/release/liveshop" --listen 127.0.0.1:0 --data-dir "$dir/data" >"$dir/out" 2>"$dir/err" &
pid=$!
trap 'kill -9 "$pid" 2>/dev/null || true; rm -rf "$dir"' EXIT

for _ in $(seq 1 150); do
    grep -q "listening on http://" "$dir/out" && break
    kill -0 "$pid" 2>/dev/null || { echo "smoke: node exited early"; cat "$dir/err"; exit 1; }
    sleep 0.2
done
addr=$(grep -o "listening on http://[0-9.:]*" "$dir/out" | sed 's|listening on http://||')
[ -n "$addr" ] || { echo "smoke: node never said where it listens"; cat "$dir/err"; exit 1; }

exec 3<>"/dev/tcp/${addr%:*}/${addr##*:}"
printf 'GET /healthz HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n' "$addr" >&3
status=$(head -n 1 <&3)
exec 3<&-
case "$status" in
    *" 200 "*) ;;
    *) echo "smoke: /healthz answered: $status"; exit 1 ;;
esac

kill -TERM "$pid"
for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
done
if kill -0 "$pid" 2>/dev/null; then
    echo "smoke: node still running 10 s after SIGTERM"
    exit 1
fi
wait "$pid" || { echo "smoke: node exited with status $? after SIGTERM"; cat "$dir/err"; exit 1; }
echo "smoke: release node served /healthz on $addr and stopped cleanly on SIGTERM"
