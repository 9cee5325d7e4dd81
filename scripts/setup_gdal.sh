#!/usr/bin/env bash
# GDAL's command line (Debian's gdal-bin): `twin load parcels` reads NAS-XML deliveries of ALKIS
# through ogr2ogr, whose GDAL has the NAS driver (the GDAL inside pyogrio's wheel lacks it).
set -euo pipefail
if ! command -v ogr2ogr >/dev/null; then
  [ "$(id -u)" -eq 0 ] || { echo "error: need root to install gdal-bin (for NAS files)" >&2; exit 1; }
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends gdal-bin >/dev/null
fi
ogr2ogr --formats | grep -q '^ *NAS ' \
  || { echo "error: $(ogr2ogr --version) has no NAS driver; NAS files cannot be loaded" >&2; exit 1; }
echo "setup: $(ogr2ogr --version) with the NAS driver (NAS-XML parcels)"
