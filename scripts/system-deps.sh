#!/usr/bin/env bash
# Install the Debian packages a step needs, only when missing.
#   python: what `python3 -m venv` needs;  test: chromium for the browser tests.
set -euo pipefail
need=()
case "${1:-}" in
  python)
    python3 -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || {
      echo "error: this project needs Python 3.11 as python3 (found $(python3 --version 2>&1))" >&2; exit 1; }
    python3 -c 'import ensurepip, venv' 2>/dev/null || need+=(python3-venv)
    ;;
  test)
    command -v chromium >/dev/null || need+=(chromium)
    ;;
  *) echo "usage: $0 python|test" >&2; exit 2 ;;
esac
[ ${#need[@]} -eq 0 ] && exit 0
sudo=""
[ "$(id -u)" = 0 ] || sudo="sudo"
echo "installing Debian packages: ${need[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}"
