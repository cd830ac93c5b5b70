#!/usr/bin/env bash
# Installs what the system must provide for the server, through apt when we may:
#   - python3-venv (Debian ships venv separately),
#   - a CJK TrueType font for PDFs (WenQuanYi Micro Hei; reportlab cannot embed Noto CJK .otf/.ttc).
#   - EXTRA_DEBS: more packages for a target (make test: nginx and docker-compose, to check deploy/;
#     make bench: wrk).
# Idempotent: does nothing when everything is already there. Without root or apt it
# says what is missing and carries on (the server starts; PDFs need the font).
set -euo pipefail

PY="${1:-python3}"
need=()
"$PY" -c 'import ensurepip, venv' 2>/dev/null || need+=("python3-venv")
[ -f /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || need+=("fonts-wqy-microhei")
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
