#!/usr/bin/env bash
# Makes sure a copy of hls.js is in the local cache for the browser tests
# (node/tests/browser/playback.rs serves it from the test's nginx, so the
# room page's hls.js player is exercised without a CDN). Downloads the
# release the node's default `[web] hls_js_url` pins, from the npm
# registry, and checks it against the registry's published sha512 before
# unpacking `dist/hls.min.js` to
#   ${LIVESHOP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/liveshop}/hls.js-<version>/hls.min.js
# Starts nothing.
set -euo pipefail

VERSION=1.7.4
# `dist.integrity` of hls.js@1.7.4 in the npm registry.
INTEGRITY=sha512-3GlxGdPvT2YHvQYOt+yOzT/DEior/qJVNIylHA77kgeoBTdQQqi70GwefNEUmHQeNGyjC8U62+bruqW/Tpm+tg==

CACHE="${LIVESHOP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/liveshop}"
DEST="$CACHE/hls.js-$VERSION"
[ -s "$DEST/hls.min.js" ] && exit 0

if ! command -v curl >/dev/null 2>&1 || ! command -v openssl >/dev/null 2>&1; then
    bash "$(dirname "$0")/apt-install.sh" curl ca-certificates openssl
fi

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
curl -fsSL --retry 3 -o "$TMP/hls.tgz" \
    "https://registry.npmjs.org/hls.js/-/hls.js-$VERSION.tgz"
GOT="sha512-$(openssl dgst -sha512 -binary "$TMP/hls.tgz" | base64 -w0)"
if [ "$GOT" != "$INTEGRITY" ]; then
    echo "hls.js $VERSION from the npm registry does not match its integrity ($GOT)" >&2
    exit 1
fi
tar -xzf "$TMP/hls.tgz" -C "$TMP" package/dist/hls.min.js
mkdir -p "$DEST"
mv "$TMP/package/dist/hls.min.js" "$DEST/hls.min.js.part"
mv "$DEST/hls.min.js.part" "$DEST/hls.min.js"
