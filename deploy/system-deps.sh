#!/usr/bin/env bash
# Installs what the system must provide for the server, through apt when we may:
#   - python3-venv (Debian ships venv separately),
#   - a CJK TrueType font for PDFs (WenQuanYi Micro Hei; reportlab cannot embed Noto CJK .otf/.ttc),
#   - poppler-utils (pdftoppm), with which the tests read pass and certificate PDFs back,
#   - Node.js and npm for the web view's build when NEED_NODE is set and there is no node (Makefile),
#   - EXTRA_DEBS: more packages for a target (make test: chromium for the browser tests, nginx and
#     docker-compose to check deploy/; make bench: wrk).
# Idempotent: does nothing when everything is already there. Without root or apt it
# says what is missing and carries on (the server starts; PDFs need the font).
set -euo pipefail

PY="${1:-python3}"
need=()
"$PY" -c 'import ensurepip, venv' 2>/dev/null || need+=("python3-venv")
[ -f /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || need+=("fonts-wqy-microhei")
# The tests render pass and certificate PDFs to images and read their QR codes.
command -v pdftoppm >/dev/null 2>&1 || need+=("poppler-utils")
# The web view's build (make run/test/web set NEED_NODE): Debian's nodejs and npm where there is no node at all
# (a node that is too old is reported by the Makefile with the version needed).
if [ -n "${NEED_NODE:-}" ] && ! command -v node >/dev/null 2>&1; then need+=("nodejs" "npm"); fi
for pkg in ${EXTRA_DEBS:-}; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
[ ${#need[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
    echo "system-deps: please install: ${need[*]} (no apt-get here)" >&2
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
        echo "system-deps: run as root or install: ${need[*]}" >&2
        exit 0
    fi
fi
echo "system-deps: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
