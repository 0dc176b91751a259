#!/usr/bin/env bash
# Makes sure `redis-server` is on PATH (the store crate's Redis tests start
# their own instances with it). Installs the Debian package when missing,
# through sudo only when not root. Starts nothing itself.
set -euo pipefail

if command -v redis-server >/dev/null 2>&1; then
    exit 0
fi

bash "$(dirname "$0")/apt-install.sh" redis-server
command -v redis-server >/dev/null 2>&1 || {
    echo "redis-server is still not on PATH after installing it" >&2
    exit 1
}
