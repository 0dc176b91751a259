#!/usr/bin/env bash
# Installs Debian packages non-interactively, through sudo only when not
# root: `scripts/apt-install.sh PACKAGE...`. The scripts that make sure a
# test's tools are present (redis.sh, video.sh, browser.sh) call it only
# when something is missing, so a machine that has everything never runs
# apt at all.
set -euo pipefail

if [ "$(id -u)" -eq 0 ]; then
    SUDO=()
else
    SUDO=(sudo)
fi

"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"
