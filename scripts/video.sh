#!/usr/bin/env bash
# Makes sure nginx with the RTMP module and ffmpeg are installed (the video
# end-to-end test, node/tests/video.rs, starts its own nginx on free loopback
# ports and pushes a stream with ffmpeg). Installs Debian's packages when
# missing, through sudo only when not root. Starts nothing itself: the
# package may start a system nginx on :80, which the test neither uses nor
# needs, so it is stopped again only if this script installed it.
set -euo pipefail

RTMP_MODULE=/usr/lib/nginx/modules/ngx_rtmp_module.so

if command -v nginx >/dev/null 2>&1 && command -v ffmpeg >/dev/null 2>&1 \
    && [ -f "$RTMP_MODULE" ]; then
    exit 0
fi

SUDO=()
[ "$(id -u)" -eq 0 ] || SUDO=(sudo)

bash "$(dirname "$0")/apt-install.sh" nginx libnginx-mod-rtmp ffmpeg
# The package's own service (port 80) is of no use to the tests.
if command -v systemctl >/dev/null 2>&1; then
    "${SUDO[@]}" systemctl stop nginx >/dev/null 2>&1 || true
fi

for tool in nginx ffmpeg; do
    command -v "$tool" >/dev/null 2>&1 || {
        echo "$tool is still not on PATH after installing it" >&2
        exit 1
    }
done
[ -f "$RTMP_MODULE" ] || {
    echo "$RTMP_MODULE is missing after installing libnginx-mod-rtmp" >&2
    exit 1
}
