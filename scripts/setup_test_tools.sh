#!/usr/bin/env bash
# System tools the test suite drives as real clients: GDAL's command line (ogrinfo, ogr2ogr).
set -euo pipefail
need=()
command -v ogrinfo >/dev/null || need+=(gdal-bin)
if [ ${#need[@]} -gt 0 ]; then
  [ "$(id -u)" -eq 0 ] || { echo "error: need root to install ${need[*]}" >&2; exit 1; }
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
echo "setup: test tools present ($(ogrinfo --version))"
