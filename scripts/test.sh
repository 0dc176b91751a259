#!/usr/bin/env bash
# Builds the workspace and runs every test. What CI runs (through .ci/run).
# Installs redis-server when missing: the Redis store backend's tests start
# their own servers (free loopback port, temp dir, killed when done) and never
# use a system Redis; the one the Debian package may start on 6379 is left
# alone and unused.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/redis.sh
# nginx with the RTMP module and ffmpeg, for the video end-to-end test
# (node/tests/video.rs starts its own nginx on free loopback ports; the
# package's own nginx service is not used).
bash scripts/video.sh
bash scripts/browser.sh
# hls.js for the room page's hls.js player in the browser tests.
bash scripts/hls-js.sh

export PROPTEST_CASES="${PROPTEST_CASES:-1000}"

if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --workspace --no-fail-fast
    # nextest does not run doc tests.
    cargo test --workspace --doc
else
    cargo test --workspace --no-fail-fast
fi
