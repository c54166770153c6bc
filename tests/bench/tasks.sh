#!/usr/bin/env bash
# Background tasks: prints what enqueue costs per task on each backend, and how many tasks per
# second `manage runworker` drains from PostgreSQL.
#
#   bash tests/bench/tasks.sh
#
# The task is the example CRM's `crm.recalculate_pipeline` (it reads a company and its deals,
# and writes a note). Enqueue figures come from tests/bench/src/bin/tasks_enqueue.rs, one
# enqueue after the other on one thread: `immediate` (the task runs inside enqueue), `database`
# on SQLite and on PostgreSQL, and `sqs` against moto's server (when BENCH_MOTO_PYTHON names a
# python with moto[server]; it needs the bench built with --features sqs, which this script does
# then). moto is a Python server on this machine: its figure says what the SDK and a local queue
# cost, not what Amazon SQS's round trip does. The drain figure: BENCH_TASKS (5000) tasks queued
# in PostgreSQL, then `manage runworker --batch` with --concurrency 1 and 4, timed.
#
# Knobs: BENCH_ENQUEUES (2000), BENCH_TASKS (5000), BENCH_POSTGRES_URL
# (postgres://postgres@127.0.0.1:5432; a database of its own is made there and dropped),
# BENCH_MOTO_PYTHON, BENCH_SKIP_BUILD=1 (CARGO_TARGET_DIR is honoured). Only 127.0.0.1 is used; every process stops on exit.

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
# shellcheck source=tests/bench/common.sh
source tests/bench/common.sh

ENQUEUES="${BENCH_ENQUEUES:-2000}"
TASKS="${BENCH_TASKS:-5000}"
PG_SERVER="${BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432}"
PG_DB="djambda_bench_tasks_$$"
MOTO_PYTHON="${BENCH_MOTO_PYTHON:-}"
# The release manage runs with DEBUG off.
export SECRET_KEY="bench-tasks-secret-key-0123456789abcdefghijklmnopqrstuvwxyz"
TMP="$(mktemp -d)"
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    psql "$PG_SERVER/postgres" -q -c "DROP DATABASE IF EXISTS $PG_DB" >/dev/null 2>&1 || true
    rm -rf "$TMP"
}
trap cleanup EXIT

FEATURES=()
[[ -n "$MOTO_PYTHON" ]] && FEATURES=(--features example_site/sqs)
if [[ "${BENCH_SKIP_BUILD:-0}" != 1 ]]; then
    say "building the release manage and tasks_enqueue ${FEATURES[*]}"
    cargo build --release -p example_site -p bench "${FEATURES[@]}" --bin manage --bin tasks_enqueue 2>&1 | tail -n 3
fi
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
MANAGE="$TARGET/release/manage"
ENQUEUE="$TARGET/release/tasks_enqueue"

fresh_sqlite() {
    local url="sqlite://$TMP/$1.sqlite3?mode=rwc"
    DATABASE_URL="$url" "$MANAGE" migrate >/dev/null
    DATABASE_URL="$url" "$MANAGE" loaddata demo >/dev/null
    echo "$url"
}

say "enqueue cost per task ($ENQUEUES tasks each)"
url="$(fresh_sqlite immediate)"
DATABASE_URL="$url" TASKS_BACKEND=immediate "$ENQUEUE" "$ENQUEUES"
url="$(fresh_sqlite database)"
DATABASE_URL="$url" TASKS_BACKEND=database "$ENQUEUE" "$ENQUEUES"

psql "$PG_SERVER/postgres" -q -c "DROP DATABASE IF EXISTS $PG_DB" -c "CREATE DATABASE $PG_DB" >/dev/null
PG_URL="$PG_SERVER/$PG_DB"
DATABASE_URL="$PG_URL" "$MANAGE" migrate >/dev/null
DATABASE_URL="$PG_URL" "$MANAGE" loaddata demo >/dev/null
echo -n "(PostgreSQL) "
DATABASE_URL="$PG_URL" TASKS_BACKEND=database "$ENQUEUE" "$ENQUEUES"

if [[ -n "$MOTO_PYTHON" ]]; then
    port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    "$MOTO_PYTHON" -m moto.server -H 127.0.0.1 -p "$port" >"$TMP/moto.log" 2>&1 &
    PIDS+=($!)
    for _ in $(seq 100); do (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
    export AWS_ENDPOINT_URL_SQS="http://127.0.0.1:$port" AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=testing \
        AWS_SECRET_ACCESS_KEY=testing
    queue="$("$MOTO_PYTHON" -c 'import boto3, sys; print(boto3.client("sqs", endpoint_url=sys.argv[1], region_name="us-east-1").create_queue(QueueName="djambda-tasks")["QueueUrl"])' "$AWS_ENDPOINT_URL_SQS")"
    url="$(fresh_sqlite sqs)"
    echo -n "(moto's SQS, results in SQLite) "
    DATABASE_URL="$url" TASKS_BACKEND=sqs TASKS_QUEUE_URL="$queue" "$ENQUEUE" "$ENQUEUES"
else
    echo "(sqs: skipped; set BENCH_MOTO_PYTHON to a python with moto[server])"
fi

say "runworker drain rate on PostgreSQL ($TASKS tasks each)"
for concurrency in 1 4; do
    psql "$PG_URL" -q -c "DELETE FROM djambda_task" >/dev/null
    DATABASE_URL="$PG_URL" TASKS_BACKEND=database "$ENQUEUE" "$TASKS" >/dev/null
    start="$(date +%s.%N)"
    DATABASE_URL="$PG_URL" TASKS_BACKEND=database DATABASE_POOL_SIZE="$concurrency" \
        "$MANAGE" runworker --batch --concurrency "$concurrency" >"$TMP/worker.out" 2>"$TMP/worker.err"
    end="$(date +%s.%N)"
    ran="$(tail -n 1 "$TMP/worker.out")"
    done_count="$(psql "$PG_URL" -At -c "SELECT count(*) FROM djambda_task WHERE status = 'succeeded'")"
    [[ "$done_count" == "$((TASKS + 1))" ]] || { echo "only $done_count tasks succeeded: $ran" >&2; exit 1; }
    awk -v n="$TASKS" -v s="$start" -v e="$end" -v c="$concurrency" \
        'BEGIN { printf "runworker --concurrency %d: %d tasks in %.2f s: %.0f tasks/s\n", c, n, e - s, n / (e - s) }'
done
