#!/usr/bin/env bash
# The German word list free text is checked against (twin/vocabulary.py): Debian's wngerman,
# /usr/share/dict/ngerman. Without it nothing free-text is published, so setup installs it.
set -euo pipefail
DICT=${TWIN_DICTIONARY:-/usr/share/dict/ngerman}
if [ ! -s "$DICT" ]; then
  [ "$(id -u)" -eq 0 ] || { echo "error: need root to install wngerman (for $DICT)" >&2; exit 1; }
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wngerman >/dev/null
fi
echo "setup: German word list present ($DICT, $(wc -l <"$DICT") words)"
