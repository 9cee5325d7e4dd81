#!/usr/bin/env bash
# Debian's MQTT broker and its command-line clients (issue 12: sensors over LoRaWAN/MQTT).
# The twin starts its own mosquitto on a port of its own (twin/broker.py); a system service
# the package may start on 1883 is left as it is and never used by the twin or its tests.
set -euo pipefail
need=()
[ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
command -v mosquitto_pub >/dev/null || need+=(mosquitto-clients)
if [ ${#need[@]} -gt 0 ]; then
  [ "$(id -u)" -eq 0 ] || { echo "error: need root to install ${need[*]}" >&2; exit 1; }
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" \
    >/dev/null
fi
echo "setup: mosquitto present ($(/usr/sbin/mosquitto -h 2>/dev/null | head -1))"
