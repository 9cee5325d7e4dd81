#!/usr/bin/env bash
# The conformance tools the test suite runs against a real server, each in a virtualenv of its
# own (their dependencies clash with the project's: ogctests pins httpx<0.28 and pytest<9):
#   .venv-schemathesis  schemathesis (OpenAPI fuzzing, tests/test_schemathesis.py, make fuzz)
#   .venv-ogctests      ogctests (OGC API Features core suite, tests/test_ogctests.py)
# Every package is pinned (scripts/conformance/NAME.txt, from `pip freeze`), installed from PyPI.
# A venv is rebuilt only when its pin file changed since it was installed.
set -euo pipefail
cd "$(dirname "$0")/.."
py=$(scripts/find_python.sh)
for tool in schemathesis ogctests; do
  venv=".venv-$tool"
  pins="scripts/conformance/$tool.txt"
  stamp="$venv/.pins"
  if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && cmp -s "$pins" "$stamp"; then
    continue
  fi
  echo "setup: creating $venv ($(grep -i "^$tool==" "$pins"))"
  rm -rf "$venv"
  "$py" -m venv "$venv"
  "$venv/bin/python" -m pip install -q --upgrade pip
  "$venv/bin/python" -m pip install -q -r "$pins"
  cp "$pins" "$stamp"
done
echo "setup: conformance tools present ($(.venv-schemathesis/bin/schemathesis --version)," \
  "ogctests $(.venv-ogctests/bin/python -c 'from importlib.metadata import version; print(version("ogctests"))'))"
