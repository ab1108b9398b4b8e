#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for tests and development, run as an
# unprivileged user on a free loopback port.
#
#   infra/postgres/test-cluster.sh start DIR   # prints the admin URL (postgres://postgres@127.0.0.1:PORT)
#   infra/postgres/test-cluster.sh stop DIR
#   infra/postgres/test-cluster.sh createdb DIR NAME   # prints the owner URL of a new database
#
# Roles: `enclave_owner` owns the schema and runs migrations; `enclave_gateway`
# may read and write every table but cannot UPDATE, DELETE or TRUNCATE audit
# events (see infra/migrations/postgres). Authentication is `trust` on
# loopback: for tests only.
set -euo pipefail

command=${1:?usage: test-cluster.sh start|stop|createdb DIR [NAME]}
dir=${2:?usage: test-cluster.sh start|stop|createdb DIR [NAME]}
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
if [[ -z "$bin" ]]; then
  echo "error: PostgreSQL server binaries not found; apt-get install postgresql" >&2
  exit 1
fi

as_postgres() {
  if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

port_of() { cat "$dir/port"; }

psql_admin() {
  as_postgres "$bin/psql" -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$(port_of)" -U postgres "$@"
}

case "$command" in
  start)
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    if [[ $(id -u) -eq 0 ]]; then chown postgres "$dir"; fi
    as_postgres "$bin/initdb" -D "$dir/data" -A trust -U postgres --no-instructions >/dev/null
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    echo "$port" > "$dir/port"
    as_postgres "$bin/pg_ctl" -D "$dir/data" -w -l "$dir/data/server.log" start \
      -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=300" >/dev/null
    psql_admin -d postgres <<'SQL'
CREATE ROLE enclave_owner LOGIN CREATEDB;
CREATE ROLE enclave_gateway LOGIN;
SQL
    echo "postgres://postgres@127.0.0.1:$port"
    ;;
  createdb)
    name=${3:?usage: test-cluster.sh createdb DIR NAME}
    psql_admin -d postgres -c "CREATE DATABASE \"$name\" OWNER enclave_owner"
    psql_admin -d "$name" <<'SQL'
ALTER DEFAULT PRIVILEGES FOR ROLE enclave_owner GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO enclave_gateway;
ALTER DEFAULT PRIVILEGES FOR ROLE enclave_owner GRANT USAGE, SELECT ON SEQUENCES TO enclave_gateway;
SQL
    echo "postgres://enclave_owner@127.0.0.1:$(port_of)/$name"
    ;;
  stop)
    if [[ -d "$dir/data" ]]; then
      as_postgres "$bin/pg_ctl" -D "$dir/data" -w -m fast stop >/dev/null || true
    fi
    ;;
  *)
    echo "usage: test-cluster.sh start|stop|createdb DIR [NAME]" >&2
    exit 64
    ;;
esac
