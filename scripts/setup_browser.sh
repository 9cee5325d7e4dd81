#!/usr/bin/env bash
# The browser the viewer's test (tests/test_viewer.py) and benchmark (bench/viewer.py) drive:
# Debian's chromium, started by Playwright (a Python dev dependency) with
# executable_path=/usr/bin/chromium. Playwright's own browser download is never used.
# Idempotent: installs only what is missing.
set -euo pipefail
need=()
command -v chromium >/dev/null || need+=(chromium)
command -v chromedriver >/dev/null || need+=(chromium-driver)
if [ ${#need[@]} -gt 0 ]; then
  [ "$(id -u)" -eq 0 ] || { echo "error: need root to install ${need[*]}" >&2; exit 1; }
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
echo "setup: browser present ($(chromium --version 2>/dev/null | head -1))"
