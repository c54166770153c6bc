#!/usr/bin/env bash
# Load with writes: prints figures and checks that nothing acknowledged was lost.
#
#   bash tests/bench/writes.sh                       # SQLite, then PostgreSQL if it answers
#   BENCH_DATABASES=sqlite bash tests/bench/writes.sh
#
# The release `manage runserver` of the example CRM, logged in as the demo user, takes wrk's
# mixed load for BENCH_DURATION (60s) at BENCH_CONNECTIONS (64): four in five requests read the
# contact list, one in five creates a company through its form (a unique name and slug per
# request). wrk's Lua script records the slug of every create it sent and of every one the
# server acknowledged (a 302 to the new company's page). Afterwards the database is read
# directly (sqlite3 or psql): every acknowledged company must be there, once, and a company
# written without an acknowledgement may only be one whose answer was still in flight when wrk
# stopped (at most one per connection). Figures: requests/s, p50/p99 latency, the 5xx
# count and the server's CPU per request. A 503 (busy database, with Retry-After) is counted
# apart from other 5xx: it is the honest answer under contention, never a lie.
#
# Knobs: BENCH_DURATION, BENCH_CONNECTIONS (as many wrk threads), BENCH_POOL_SIZE (8),
# BENCH_POSTGRES_URL (postgres://postgres@127.0.0.1:5432; a database of its own is made there),
# BENCH_SKIP_BUILD=1, BENCH_MANAGE (a release `manage` built elsewhere, such as cargo lambda's
# bootstrap; implies BENCH_SKIP_BUILD). Only 127.0.0.1 is targeted; every process is stopped on exit.

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
# shellcheck source=tests/bench/common.sh
source tests/bench/common.sh

DURATION="${BENCH_DURATION:-60s}"
CONNECTIONS="${BENCH_CONNECTIONS:-64}"
# One connection per wrk thread: a thread pairs each response with the request it sent, in
# order, which holds only when the thread has one connection.
THREADS="$CONNECTIONS"
POOL="${BENCH_POOL_SIZE:-8}"
DATABASES="${BENCH_DATABASES:-sqlite postgres}"
PG_SERVER="${BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432}"
SECRET_KEY_VALUE="bench-writes-secret-key-0123456789abcdefghijklmnopqrstuvwxyz"
MANAGE="${BENCH_MANAGE:-$ROOT/target/release/manage}"
[[ -n "${BENCH_MANAGE:-}" ]] && BENCH_SKIP_BUILD=1
TMP="$(mktemp -d)"
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT

if [[ "${BENCH_SKIP_BUILD:-0}" != 1 ]]; then
    say "building the release manage"
    cargo build --release -p example_site --bin manage
fi
command -v wrk >/dev/null || { echo "wrk is not available (apt-get install wrk)" >&2; exit 1; }

cat >"$TMP/mixed.lua" <<'LUA'
-- Four reads for each create; each create names its company uniquely (thread id, counter).
-- Each thread writes the slugs it sent to one file and, read from the Location of each 302,
-- the slugs the server acknowledged to another (pairing responses with requests by order is
-- not reliable in wrk).
local threads = {}
function setup(thread)
    thread:set("id", #threads + 1)
    table.insert(threads, thread)
end
function init(args)
    n = 0
    errors5xx = 0
    busy = 0
    acked = io.open(os.getenv("ACKED_FILE") .. "." .. id, "w")
    sent = io.open(os.getenv("SENT_FILE") .. "." .. id, "w")
end
function request()
    n = n + 1
    if n % 5 == 0 then
        local slug = string.format("load-%d-%d", id, n)
        sent:write(slug, "\n")
        sent:flush()
        local body = "name=Load+" .. slug .. "&slug=" .. slug .. "&city=Oslo"
        -- A table of its own replaces wrk's headers: the cookie and the CSRF token go in too.
        local h = { ["Content-Type"] = "application/x-www-form-urlencoded" }
        for k, v in pairs(wrk.headers) do if k ~= "Content-Length" then h[k] = v end end
        return wrk.format("POST", "/companies/new/", h, body)
    end
    return wrk.format("GET", "/contacts/")
end
function response(status, headers, body)
    if status == 503 then busy = busy + 1 elseif status >= 500 then errors5xx = errors5xx + 1 end
    if status == 302 then
        local slug = string.match(headers["Location"] or headers["location"] or "", "^/companies/(load%-[%d%-]+)/$")
        if slug then
            acked:write(slug, "\n")
            acked:flush()
        end
    end
end
function done(summary, latency, requests)
    local e5, b = 0, 0
    for _, t in ipairs(threads) do
        e5 = e5 + (t:get("errors5xx") or 0)
        b = b + (t:get("busy") or 0)
    end
    io.write(string.format("LUA 5xx=%d busy503=%d\n", e5, b))
    io.write(string.format("LATENCY p50=%.2fms p99=%.2fms\n", latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
LUA

run_one() {
    local kind="$1" url="$2"
    say "$kind: migrate, load the demo data, start runserver (pool $POOL)"
    export DATABASE_URL="$url" DATABASE_POOL_SIZE="$POOL" DEBUG=false SECRET_KEY="$SECRET_KEY_VALUE"
    "$MANAGE" migrate >/dev/null
    "$MANAGE" loaddata demo >/dev/null
    ALLOWED_HOSTS=127.0.0.1 "$MANAGE" runserver 127.0.0.1:0 >"$TMP/$kind.out" 2>"$TMP/$kind.err" &
    local pid=$!
    PIDS+=("$pid")
    local base
    base="$(wait_for_url "$TMP/$kind.out" "$pid")"
    local jar="$TMP/$kind.jar"
    curl -sS --max-time 10 -c "$jar" -o "$TMP/login.html" "$base/accounts/login/"
    local token
    token="$(grep -o 'name="csrfmiddlewaretoken" value="[A-Za-z0-9]*"' "$TMP/login.html" | head -n1 | sed 's/.*value="//; s/"$//')"
    local code
    code="$(curl -sS --max-time 30 -b "$jar" -c "$jar" -o /dev/null -w '%{http_code}' -H "Origin: $base" \
        --data-urlencode "csrfmiddlewaretoken=$token" --data-urlencode username=demo --data-urlencode password=demo \
        "$base/accounts/login/")"
    [[ "$code" == 302 ]] || { echo "$kind: login answered $code" >&2; exit 1; }
    local cookie csrf
    cookie="$(awk -F '\t' 'NF == 7 {printf "%s%s=%s", (n++ ? "; " : ""), $6, $7}' "$jar")"
    csrf="$(awk -F '\t' 'NF == 7 && $6 == "csrftoken" {print $7}' "$jar")"
    say "$kind: wrk -t$THREADS -c$CONNECTIONS -d$DURATION, 4 reads : 1 create"
    local before after
    before="$(cpu_ticks "$pid")"
    ACKED_FILE="$TMP/$kind.acked" SENT_FILE="$TMP/$kind.sent" \
        timeout 600 wrk "-t$THREADS" "-c$CONNECTIONS" "-d$DURATION" --latency -s "$TMP/mixed.lua" \
        -H "Cookie: $cookie" -H "X-CSRFToken: $csrf" "$base" >"$TMP/$kind.wrk"
    after="$(cpu_ticks "$pid")"
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    local requests rps acked sent
    requests="$(awk '/requests in/ {print $1}' "$TMP/$kind.wrk")"
    rps="$(awk '/Requests\/sec/ {print $2}' "$TMP/$kind.wrk")"
    cat "$TMP/$kind.acked".* >"$TMP/$kind.acked"
    cat "$TMP/$kind.sent".* >"$TMP/$kind.sent"
    acked="$(wc -l <"$TMP/$kind.acked")"
    sent="$(wc -l <"$TMP/$kind.sent")"
    # Every acknowledged create is in the database exactly once. A create written but not
    # acknowledged is one whose answer wrk never read (in flight when the run stopped): at
    # most one per connection; more would be saves the client was told failed.
    local query_file="$TMP/$kind.check.sql"
    {
        echo "CREATE TEMP TABLE acked (slug TEXT PRIMARY KEY);"
        while read -r s; do echo "INSERT INTO acked VALUES ('$s');"; done <"$TMP/$kind.acked"
        echo "SELECT (SELECT count(*) FROM acked a WHERE (SELECT count(*) FROM company c WHERE c.slug = a.slug) <> 1)," \
            "(SELECT count(*) FROM company c WHERE c.slug LIKE 'load-%' AND c.slug NOT IN (SELECT slug FROM acked));"
    } >"$query_file"
    local result
    if [[ "$kind" == sqlite ]]; then
        result="$(sqlite3 -separator ' ' "$(echo "${url#sqlite://}" | sed 's/?.*//')" <"$query_file" | tail -n1)"
    else
        result="$(psql -qAt -F ' ' "$url" <"$query_file" | tail -n1)"
    fi
    local missing="${result% *}" unacked="${result#* }"
    local cpu_ms
    cpu_ms="$(awk -v t=$((after - before)) -v k="$CLK_TCK" -v n="$requests" 'BEGIN {printf "%.3f", t / k * 1000 / n}')"
    echo "$kind: $requests requests, $rps req/s, $(grep '^LATENCY' "$TMP/$kind.wrk" | cut -d' ' -f2-)," \
        "$(grep '^LUA' "$TMP/$kind.wrk" | cut -d' ' -f2-), server CPU ${cpu_ms} ms/request"
    echo "$kind: creates sent $sent, acknowledged $acked; acknowledged but missing: $missing;" \
        "written but not acknowledged: $unacked (answers cut off at the end: at most $CONNECTIONS)"
    [[ "$missing" == 0 && "$unacked" -le "$CONNECTIONS" ]] || { echo "$kind: LOST OR UNACKNOWLEDGED ROWS" >&2; exit 1; }
}

for kind in $DATABASES; do
    case "$kind" in
        sqlite) run_one sqlite "sqlite://$TMP/writes.sqlite3?mode=rwc" ;;
        postgres)
            if ! psql -qAt "$PG_SERVER/postgres" -c 'SELECT 1' >/dev/null 2>&1; then
                echo "PostgreSQL at $PG_SERVER does not answer: skipped"
                continue
            fi
            db="djambda_bench_writes_$$"
            psql -qAt "$PG_SERVER/postgres" -c "CREATE DATABASE $db" >/dev/null
            run_one postgres "$PG_SERVER/$db"
            psql -qAt "$PG_SERVER/postgres" -c "DROP DATABASE $db" >/dev/null
            ;;
        *) echo "unknown database kind $kind" >&2; exit 2 ;;
    esac
done
