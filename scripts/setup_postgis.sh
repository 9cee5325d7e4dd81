#!/usr/bin/env bash
# Make a PostgreSQL server with PostGIS available on this machine (Debian), idempotently:
# - no server answering: install Debian's PostgreSQL and start a cluster;
# - server without PostGIS: install postgresql-<major>-postgis-3 for the running major version.
# The database itself and `CREATE EXTENSION` are done by `twin db init`.
set -euo pipefail
HOST=${PGHOST_SETUP:-127.0.0.1}
PORT=${PGPORT_SETUP:-5432}
PGUSER_SETUP=${PGUSER_SETUP:-postgres}

apt_updated=0
apt_install() {
  if [ "$(id -u)" -ne 0 ]; then
    echo "error: need root to install $* (run as root or install them yourself)" >&2
    exit 1
  fi
  if [ "$apt_updated" -eq 0 ]; then
    apt-get update -qq
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

psql_q() { psql -h "$HOST" -p "$PORT" -U "$PGUSER_SETUP" -d postgres -XAtq -c "$1"; }

if ! command -v psql >/dev/null || ! pg_isready -h "$HOST" -p "$PORT" -q; then
  if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
    echo "setup: no PostgreSQL server answers on $HOST:$PORT; installing Debian's PostgreSQL"
    apt_install postgresql
  fi
  echo "setup: starting the PostgreSQL cluster"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -1)" main start || true
  for _ in $(seq 1 30); do pg_isready -h "$HOST" -p "$PORT" -q && break; sleep 1; done
  pg_isready -h "$HOST" -p "$PORT" -q || { echo "error: PostgreSQL does not answer on $HOST:$PORT" >&2; exit 1; }
fi

major=$(psql_q "SELECT current_setting('server_version_num')::int / 10000")
have=$(psql_q "SELECT count(*) FROM pg_available_extensions WHERE name = 'postgis'")
if [ "$have" = "0" ]; then
  echo "setup: installing postgresql-${major}-postgis-3 for the running PostgreSQL ${major}"
  apt_install "postgresql-${major}-postgis-3"
fi
echo "setup: PostgreSQL ${major} with PostGIS available on $HOST:$PORT"
