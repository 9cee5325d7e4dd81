#!/usr/bin/env bash
# The peers `make bench` compares the twin with, and the load generator:
#   wrk          Debian's package (HTTP load, `wrk -t1 -c4`)
#   .venv-tipg   tipg from PyPI in a virtualenv of its own (its FastAPI/asyncpg stack is not ours),
#                pinned in scripts/bench/tipg.txt; rebuilt only when that file changed
#   ogr2ogr      Debian's gdal-bin (scripts/setup_gdal.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v wrk >/dev/null; then
  [ "$(id -u)" -eq 0 ] || { echo "error: need root to install wrk (apt-get install wrk)" >&2; exit 1; }
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk >/dev/null
fi
scripts/setup_gdal.sh >/dev/null
py=$(scripts/find_python.sh)
venv=.venv-tipg
pins=scripts/bench/tipg.txt
stamp="$venv/.pins"
if ! { [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && cmp -s "$pins" "$stamp"; }; then
  echo "setup: creating $venv ($(grep -i '^tipg' "$pins"))"
  rm -rf "$venv"
  "$py" -m venv "$venv"
  "$venv/bin/python" -m pip install -q --upgrade pip
  "$venv/bin/python" -m pip install -q -r "$pins"
  cp "$pins" "$stamp"
fi
echo "setup: bench tools present ($(wrk --version 2>&1 | head -1 | cut -d' ' -f1-2)," \
  "tipg $("$venv/bin/python" -c 'from importlib.metadata import version; print(version("tipg"))')," \
  "$(ogr2ogr --version | cut -d, -f1))"
