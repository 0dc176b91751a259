#!/usr/bin/env bash
# Makes sure headless Chromium and its WebDriver are installed (the browser
# tests, node/tests/browser.rs, start their own chromedriver on a free
# loopback port and drive the web client with it). Installs Debian's
# `chromium` and `chromium-driver` when missing, through sudo only when not
# root. Starts nothing itself.
set -euo pipefail

if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
    exit 0
fi

bash "$(dirname "$0")/apt-install.sh" chromium chromium-driver
for tool in chromium chromedriver; do
    command -v "$tool" >/dev/null 2>&1 || {
        echo "$tool is still not on PATH after installing chromium and chromium-driver" >&2
        exit 1
    }
done
