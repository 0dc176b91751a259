#!/usr/bin/env bash
# Builds the workspace and runs every test. What CI runs (through .ci/run).
# Installs nothing yet: the tests so far need only the Rust toolchain.
set -euo pipefail
cd "$(dirname "$0")/.."

export PROPTEST_CASES="${PROPTEST_CASES:-1000}"

if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --workspace --no-fail-fast
    # nextest does not run doc tests.
    cargo test --workspace --doc
else
    cargo test --workspace --no-fail-fast
fi
