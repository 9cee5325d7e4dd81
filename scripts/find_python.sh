#!/usr/bin/env bash
# Print the path of a Python >= 3.12 (pygeoapi 0.24 needs it), or fail saying where we looked.
set -euo pipefail
candidates=()
[ -n "${PYTHON:-}" ] && candidates+=("$PYTHON")
candidates+=(python3.13 python3.12 python3)
for dir in /root/.pyenv/versions/3.1[2-9]* "$HOME"/.pyenv/versions/3.1[2-9]* /usr/local/bin /usr/bin; do
  for exe in "$dir"/bin/python3 "$dir"/python3.13 "$dir"/python3.12; do
    [ -x "$exe" ] && candidates+=("$exe")
  done
done
for exe in "${candidates[@]}"; do
  path=$(command -v "$exe" 2>/dev/null) || continue
  if "$path" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' 2>/dev/null; then
    echo "$path"
    exit 0
  fi
done
echo "error: no Python 3.12 or newer found (pygeoapi 0.24 needs it)." >&2
echo "Looked at: \$PYTHON, python3.13, python3.12, python3, ~/.pyenv/versions/3.12+." >&2
echo "Install one (e.g. 'pyenv install 3.12' or Debian 13's python3) or set PYTHON=/path/to/python3.12." >&2
exit 1
