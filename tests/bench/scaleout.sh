#!/usr/bin/env bash
# Scale out on one PostgreSQL (issue 16's simulation): BENCH_FUNCTIONS (40) function processes
# of the release `manage`, each under a Runtime API emulator of its own with a pool of one
# connection, driven together for BENCH_SECONDS (60) with logged-in reads and writes
# (tests/bench/src/bin/scaleout.rs), three times:
#
#   1. through PgBouncer in transaction mode with a server pool of 8 (DATABASE_POOLER set);
#   2. the same functions straight to PostgreSQL;
#   3. straight to PostgreSQL with more functions than its max_connections leaves free, for
#      BENCH_PAST_SECONDS (20): where the connection limit is met, and what a user sees then.
#
#   bash tests/bench/scaleout.sh
#
# Each run prints invocations per second, median and p99 latency, errors, acknowledged writes
# missing from the table (always 0, or the run fails), and the most server connections seen.
# Debian's pgbouncer (`apt-get install pgbouncer`) is started on a port of its own and stopped
# at the end; a database of its own is made on BENCH_POSTGRES_URL
# (postgres://postgres@127.0.0.1:5432) and dropped. BENCH_SKIP_BUILD=1 uses the built binaries
# (CARGO_TARGET_DIR is honoured). Only 127.0.0.1 is used; every process stops on exit.

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
# shellcheck source=tests/bench/common.sh
source tests/bench/common.sh

FUNCTIONS="${BENCH_FUNCTIONS:-40}"
RUN_SECONDS="${BENCH_SECONDS:-60}"
PAST_SECONDS="${BENCH_PAST_SECONDS:-20}"
PG_SERVER="${BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432}"
PG_DB="djambda_bench_scaleout_$$"
PGB_PORT="${BENCH_PGBOUNCER_PORT:-6499}"
TMP="$(mktemp -d)"
cleanup() {
    [[ -f "$TMP/pgbouncer.pid" ]] && kill "$(cat "$TMP/pgbouncer.pid")" 2>/dev/null || true
    psql "$PG_SERVER/postgres" -q -c "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null 2>&1 || true
    rm -rf "$TMP"
}
trap cleanup EXIT

# PgBouncer speaks to the same server, as the same user (trusted, as on this machine's server).
if [[ ! "$PG_SERVER" =~ ^postgres(ql)?://([^@/:]+)@([^/:]+)(:([0-9]+))?/?$ ]]; then
    echo "BENCH_POSTGRES_URL must be postgres://user@host[:port] (got $PG_SERVER)" >&2
    exit 1
fi
PG_USER="${BASH_REMATCH[2]}"
PG_HOST="${BASH_REMATCH[3]}"
PG_PORT="${BASH_REMATCH[5]:-5432}"
PGBOUNCER="$(command -v pgbouncer || echo /usr/sbin/pgbouncer)"
[[ -x "$PGBOUNCER" ]] || { echo "pgbouncer is not installed: apt-get install pgbouncer" >&2; exit 1; }

if [[ "${BENCH_SKIP_BUILD:-0}" != 1 ]]; then
    say "building the release manage and scaleout"
    cargo build --release -p example_site -p bench --bin manage --bin scaleout 2>&1 | tail -n 3
fi
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
MANAGE="$TARGET/release/manage"
SCALEOUT="$TARGET/release/scaleout"

say "a database of its own: $PG_SERVER/$PG_DB, migrated, with the demo data"
psql "$PG_SERVER/postgres" -q -c "CREATE DATABASE $PG_DB"
DIRECT="$PG_SERVER/$PG_DB"
DATABASE_URL="$DIRECT" DEBUG=false SECRET_KEY=x "$MANAGE" migrate >/dev/null
DATABASE_URL="$DIRECT" DEBUG=false SECRET_KEY=x "$MANAGE" loaddata demo

say "PgBouncer on 127.0.0.1:$PGB_PORT: transaction mode, a server pool of 8"
cat > "$TMP/pgbouncer.ini" <<EOF
[databases]
* = host=$PG_HOST port=$PG_PORT pool_size=8
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $PGB_PORT
unix_socket_dir =
auth_type = trust
auth_file = $TMP/users.txt
pool_mode = transaction
default_pool_size = 8
max_client_conn = 2000
ignore_startup_parameters = extra_float_digits
logfile = $TMP/pgbouncer.log
pidfile = $TMP/pgbouncer.pid
EOF
# PgBouncer 1.21 and later can keep prepared statements per client themselves: off, so that the
# site's own relay (DATABASE_POOLER=transaction) is what is measured.
PGB_VERSION="$("$PGBOUNCER" --version | awk 'NR == 1 { print $2 }')"
if [[ "$(printf '%s\n' 1.21 "$PGB_VERSION" | sort -V | head -n1)" == 1.21 ]]; then
    echo "max_prepared_statements = 0" >> "$TMP/pgbouncer.ini"
fi
echo "\"$PG_USER\" \"\"" > "$TMP/users.txt"
chmod 755 "$TMP"
if [[ "$(id -u)" -eq 0 ]]; then
    # PgBouncer will not run as root: as the postgres user where there is one, else as nobody.
    run_as=postgres
    id "$run_as" >/dev/null 2>&1 || run_as=nobody
    chown -R "$run_as" "$TMP"
    "$PGBOUNCER" -d -u "$run_as" "$TMP/pgbouncer.ini"
else
    "$PGBOUNCER" -d "$TMP/pgbouncer.ini"
fi
POOLED="postgres://$PG_USER@127.0.0.1:$PGB_PORT/$PG_DB"

say "1. $FUNCTIONS functions through PgBouncer, ${RUN_SECONDS} s"
"$SCALEOUT" --label pgbouncer --manage "$MANAGE" --pooler --database-url "$POOLED" --server-url "$DIRECT" \
    --functions "$FUNCTIONS" --seconds "$RUN_SECONDS"

say "2. $FUNCTIONS functions straight to PostgreSQL, ${RUN_SECONDS} s"
"$SCALEOUT" --label direct --manage "$MANAGE" --database-url "$DIRECT" --server-url "$DIRECT" \
    --functions "$FUNCTIONS" --seconds "$RUN_SECONDS"

MAX="$(psql "$PG_SERVER/postgres" -Atc "SHOW max_connections")"
RESERVED="$(psql "$PG_SERVER/postgres" -Atc "SHOW superuser_reserved_connections")"
SUPER="$(psql "$PG_SERVER/postgres" -Atc "SELECT rolsuper FROM pg_roles WHERE rolname = current_user")"
# Run 2's functions have gone: wait until their connections have closed before counting.
for _ in $(seq 50); do
    LEFT="$(psql "$PG_SERVER/postgres" -Atc "SELECT count(*) FROM pg_stat_activity WHERE datname = '$PG_DB'")"
    [[ "$LEFT" -eq 0 ]] && break
    sleep 0.2
done
# In use by others (this psql's own connection not counted).
USED="$(psql "$PG_SERVER/postgres" -Atc "SELECT count(*) - 1 FROM pg_stat_activity WHERE backend_type = 'client backend'")"
FREE=$((MAX - USED))
# A superuser may take the slots kept for superusers too; anyone else may not.
[[ "$SUPER" == t ]] || FREE=$((FREE - RESERVED))
# 20 past what is free (the meter and the login hold a connection each as well), at most 400.
PAST=$((FREE + 20))
((PAST > 400)) && PAST=400
say "3. past the limit: max_connections $MAX, $USED in use by others, $FREE free to $PG_USER; $PAST functions straight to PostgreSQL, ${PAST_SECONDS} s"
"$SCALEOUT" --label past-limit --manage "$MANAGE" --database-url "$DIRECT" --server-url "$DIRECT" \
    --functions "$PAST" --seconds "$PAST_SECONDS" --allow-errors

say "4. the same $PAST functions through PgBouncer, ${PAST_SECONDS} s"
"$SCALEOUT" --label past-limit-pgbouncer --manage "$MANAGE" --pooler --database-url "$POOLED" --server-url "$DIRECT" \
    --functions "$PAST" --seconds "$PAST_SECONDS"
