#!/usr/bin/env bash
# The admin's change list over 10,000 contacts (issue 13's benchmark): queries per page and
# page time, on SQLite and on PostgreSQL. Prints figures, asserts only that each page shows the
# rows it should (the `admin_bench` program).
#
#   bash tests/bench/admin.sh [CONTACTS] [RUNS]
#
# In process (Site::handle: the middleware, the admin's views and templates, no sockets), on a
# release build. SQLite: a file in a temporary folder. PostgreSQL: a scratch database of its own
# on BENCH_POSTGRES_URL's server (default postgres://postgres@127.0.0.1:5432/test), dropped
# afterwards; set BENCH_POSTGRES_URL= (empty) to skip it.
set -euo pipefail
cd "$(dirname "$0")/../.."
contacts="${1:-10000}"
runs="${2:-30}"
cargo build --release -p bench --bin admin_bench 2>&1 | tail -1
bin=target/release/admin_bench

dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT
echo
# The request log (a line per request on stderr) goes to a file, shown if the program fails.
run() { "$bin" "$contacts" "$runs" 2>"$dir/stderr.log" || { tail -20 "$dir/stderr.log" >&2; return 1; }; }
DATABASE_URL="sqlite://$dir/bench.sqlite3?mode=rwc" run

pg="${BENCH_POSTGRES_URL-postgres://postgres@127.0.0.1:5432/test}"
if [ -n "$pg" ]; then
  name="djambda_admin_bench_$$"
  server="${pg%/*}"
  # The scratch database is made and dropped with psql (postgresql-client).
  if command -v psql >/dev/null; then
    psql "$pg" -q -c "DROP DATABASE IF EXISTS $name" -c "CREATE DATABASE $name"
    echo
    DATABASE_URL="$server/$name" run || status=$?
    psql "$pg" -q -c "DROP DATABASE IF EXISTS $name"
    exit "${status:-0}"
  else
    echo "psql is not installed: skipping PostgreSQL (install postgresql-client, or set BENCH_POSTGRES_URL=)" >&2
  fi
fi
