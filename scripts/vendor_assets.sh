#!/usr/bin/env bash
# Rebuild twin/static/vendor/ from the npm registry.
#
# Our pygeoapi HTML templates (twin/pygeoapi/templates/) load every third-party
# script, stylesheet and font from {{ config['server']['url'] }}/static/vendor/
# instead of public CDNs, so the HTML pages work without internet access.
# This script fetches the pinned package versions with `npm pack`, copies only
# the dist files the templates use, strips source-map references and writes
# licence files next to them. See twin/static/vendor/VENDOR.md.
#
# Usage: scripts/vendor_assets.sh        (needs node/npm and tar)
#
# When changing a version here, also update the paths in twin/pygeoapi/templates/ and
# twin/static/vendor/VENDOR.md.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="$ROOT/twin/static/vendor"

# Pinned versions (the ones pygeoapi 0.24.0's stock templates reference; for
# unversioned/@latest references the version current when vendored, except
# redoc, which is held at 2.x: redoc 3 sends telemetry to a Redocly host and
# loads icons from a Redocly CDN, so it does not work offline).
BOOTSTRAP=5.1.3
LEAFLET=1.3.1
MARKERCLUSTER=1.5.3
LEAFLET_DRAW=1.0.4
LEAFLET_COVERAGE=0.7.2
C3=0.7.20
D3=5.16.0
COVUTILS=0.6.1
COVJSON_READER=0.16.3
SWAGGER_UI=5.35.0
REDOC=2.5.4
FONTSOURCE=5.3.0

command -v npm >/dev/null || { echo "npm is required" >&2; exit 1; }

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

# fetch NAME VERSION -> prints the path of the unpacked package/ directory
fetch() {
  local name=$1 version=$2 dir
  dir="$TMP/$(printf '%s' "$name" | tr '/@' '__')-$version"
  mkdir -p "$dir"
  npm pack --silent --pack-destination "$dir" "$name@$version" >/dev/null
  tar -xzf "$dir"/*.tgz -C "$dir"
  printf '%s\n' "$dir/package"
}

# put SRC_DIR DEST_SUBDIR FILE... : copy files (paths relative to SRC_DIR),
# flattening them into DEST/DEST_SUBDIR
put() {
  local src=$1 sub=$2 f
  shift 2
  mkdir -p "$DEST/$sub"
  for f in "$@"; do
    cp "$src/$f" "$DEST/$sub/"
  done
}

mkdir -p "$DEST"
find "$DEST" -mindepth 1 -maxdepth 1 ! -name VENDOR.md -exec rm -rf {} +

# --- Bootstrap (CSS only; the templates use no Bootstrap JS) ---------------
p=$(fetch bootstrap "$BOOTSTRAP")
put "$p" "bootstrap-$BOOTSTRAP" dist/css/bootstrap.min.css LICENSE

# --- Leaflet ---------------------------------------------------------------
p=$(fetch leaflet "$LEAFLET")
put "$p" "leaflet-$LEAFLET" dist/leaflet.js dist/leaflet.css LICENSE
put "$p" "leaflet-$LEAFLET/images" dist/images/layers.png dist/images/layers-2x.png \
  dist/images/marker-icon.png dist/images/marker-icon-2x.png dist/images/marker-shadow.png

# --- Leaflet.markercluster -------------------------------------------------
p=$(fetch leaflet.markercluster "$MARKERCLUSTER")
put "$p" "leaflet.markercluster-$MARKERCLUSTER" dist/leaflet.markercluster.js \
  dist/MarkerCluster.css dist/MarkerCluster.Default.css MIT-LICENCE.txt

# --- Leaflet.draw (records collections) ------------------------------------
p=$(fetch leaflet-draw "$LEAFLET_DRAW")
put "$p" "leaflet-draw-$LEAFLET_DRAW" dist/leaflet.draw.js dist/leaflet.draw.css
put "$p" "leaflet-draw-$LEAFLET_DRAW/images" dist/images/spritesheet.png \
  dist/images/spritesheet-2x.png dist/images/spritesheet.svg

# --- coverage page: leaflet-coverage, c3, d3, covutils, covjson-reader -----
p=$(fetch leaflet-coverage "$LEAFLET_COVERAGE")
put "$p" "leaflet-coverage-$LEAFLET_COVERAGE" leaflet-coverage.min.js leaflet-coverage.css LICENSE
p=$(fetch c3 "$C3")
put "$p" "c3-$C3" c3.min.js c3.min.css LICENSE
p=$(fetch d3 "$D3")
put "$p" "d3-$D3" dist/d3.min.js LICENSE
p=$(fetch covutils "$COVUTILS")
put "$p" "covutils-$COVUTILS" covutils.min.js LICENSE
p=$(fetch covjson-reader "$COVJSON_READER")
put "$p" "covjson-reader-$COVJSON_READER" covjson-reader.min.js LICENSE

# --- OpenAPI UIs -----------------------------------------------------------
p=$(fetch swagger-ui-dist "$SWAGGER_UI")
put "$p" "swagger-ui-dist-$SWAGGER_UI" swagger-ui.css swagger-ui-bundle.js \
  swagger-ui-bundle.js.LICENSE.txt swagger-ui-standalone-preset.js \
  swagger-ui-standalone-preset.js.LICENSE.txt favicon-16x16.png favicon-32x32.png \
  LICENSE NOTICE
p=$(fetch redoc "$REDOC")
put "$p" "redoc-$REDOC" bundles/redoc.standalone.js bundles/redoc.standalone.js.LICENSE.txt LICENSE

# --- Fonts for ReDoc (replaces the Google Fonts stylesheet) ----------------
# Montserrat and Roboto 300/400/700, latin + latin-ext subsets (German and
# Lower Sorbian), woff2 only.
for font in roboto montserrat; do
  p=$(fetch "@fontsource/$font" "$FONTSOURCE")
  sub="fontsource-$font-$FONTSOURCE"
  mkdir -p "$DEST/$sub/files"
  cp "$p/LICENSE" "$DEST/$sub/"
  css="$DEST/$sub/$font.css"
  printf '/* @fontsource/%s %s (SIL OFL 1.1): latin, latin-ext; 300, 400, 700 */\n' \
    "$font" "$FONTSOURCE" > "$css"
  for weight in 300 400 700; do
    for subset in latin-ext latin; do
      name="$font-$subset-$weight-normal"
      cp "$p/files/$name.woff2" "$DEST/$sub/files/"
      # the @font-face block for this subset (with its unicode-range)
      awk -v want="/* $name */" '
        index($0, want) == 1 { p = 1 }
        p { print }
        p && /^}/ { p = 0 }
      ' "$p/$weight.css" |
        sed -E "s#src: url\(\./files/([^)]*)\.woff2\) format\('woff2'\).*;#src: url(files/\1.woff2) format('woff2');#" \
        >> "$css"
    done
  done
  grep -q "$font-latin-700-normal.woff2" "$css" || { echo "font css extraction failed: $css" >&2; exit 1; }
done

# --- post-processing -------------------------------------------------------
# drop source-map references (the .map files are not vendored)
find "$DEST" -type f \( -name '*.js' -o -name '*.css' \) -print0 |
  xargs -0 sed -i -E \
    -e '/^\/\/[#@] sourceMappingURL=[^ ]*$/d' \
    -e '/^\/\*[#@] sourceMappingURL=[^*]*\*\/$/d'

# nothing vendored or templated may name an online host (list: twin/pygeoapi/compat.py)
"$(dirname "$0")/../.venv/bin/pytest" -q "$(dirname "$0")/../tests/test_offline_assets.py"

echo "vendored into $DEST:"
(cd "$DEST" && find . -type f ! -name VENDOR.md | sort)
