#!/usr/bin/env bash
# System tools the test suite drives as real clients: GDAL's command line (ogrinfo, ogr2ogr)
# and QGIS 3.22 headless (Debian's python3-qgis, run by Debian's /usr/bin/python3; it pulls in
# qgis-providers with the OAPIF provider). No recommended packages: no desktop, no GUI apps.
set -euo pipefail
need=()
command -v ogrinfo >/dev/null || need+=(gdal-bin)
/usr/bin/python3 -c 'import qgis.core' 2>/dev/null || need+=(python3-qgis)
if [ ${#need[@]} -gt 0 ]; then
  [ "$(id -u)" -eq 0 ] || { echo "error: need root to install ${need[*]}" >&2; exit 1; }
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" \
    >/dev/null
fi
qgis=$(QT_QPA_PLATFORM=offscreen /usr/bin/python3 -c \
  'from qgis.core import Qgis; print(Qgis.QGIS_VERSION)' 2>/dev/null)
echo "setup: test tools present ($(ogrinfo --version); QGIS $qgis)"
