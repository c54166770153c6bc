#!/usr/bin/env bash
# Instructions per request: the steady figure beside run.sh's throughput. On a shared 2-core
# machine wrk's req/s and even CPU µs per request move by ±10–30% between rounds; an instruction
# count does not. Prints figures, asserts nothing.
#
#   bash tests/bench/instructions.sh                      # the CRM's dashboard, logged in
#   BENCH_SITE=fortunes bash tests/bench/instructions.sh  # the TechEmpower fortunes page
#
# Each server runs under valgrind's callgrind (Debian's valgrind, installed if missing), on one
# SQLite file made as run.sh makes it: djambda's `manage runserver` (or `fortunes`) and the
# hand-written axum reference (`axum_ref`, or `fortunes_axum`), the same release build. After
# BENCH_WARMUP (50) requests, the counters are zeroed (`callgrind_control --zero`), BENCH_REQUESTS
# (300) more go over one keep-alive connection (curl), and the count is dumped: instructions per
# request is that count divided by the requests, every thread of the server included (the sqlx
# SQLite worker and the runtime's). The CRM page carries the demo user's session cookie, from one
# login through djambda's form; the reference checks the same cookie.
#
# Knobs: BENCH_SITE, BENCH_PAGE, BENCH_WARMUP, BENCH_REQUESTS, BENCH_SKIP_BUILD=1 to reuse
# the release binaries already built. Only 127.0.0.1 is targeted; every process started here is
# stopped on exit.

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
# shellcheck source=tests/bench/common.sh
source "$ROOT/tests/bench/common.sh"

pick_site
WARMUP="${BENCH_WARMUP:-50}"
REQUESTS="${BENCH_REQUESTS:-300}"
for n in "$WARMUP" "$REQUESTS"; do
    if ! [[ "$n" =~ ^[0-9]+$ ]] || ((n < 1 || n > 100000)); then
        echo "BENCH_WARMUP and BENCH_REQUESTS must be 1..100000" >&2
        exit 2
    fi
done
case "$PAGE" in /*) ;; *) echo "BENCH_PAGE must start with /" >&2; exit 2 ;; esac
SECRET_KEY_VALUE="bench-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz-not-for-production"
REL="${CARGO_TARGET_DIR:-$ROOT/target}/release"

TMP="$(mktemp -d)"
PIDS=()
cleanup() {
    # Valgrind writes its output file on the way out: up to 10 s each.
    stop_pids 100
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [[ "${BENCH_SKIP_BUILD:-}" != 1 ]]; then
    say "building release binaries (cargo build --release -p example_site -p bench)"
    cargo build --release -p example_site -p bench
fi
for bin in "$DJ_BIN" "$REF_BIN"; do
    [[ -x "$REL/$bin" ]] || { echo "missing $REL/$bin: build first" >&2; exit 1; }
done
if ! command -v callgrind_control >/dev/null 2>&1; then
    say "installing valgrind (Debian package)"
    SUDO=""
    [[ "$(id -u)" == 0 ]] || SUDO="sudo"
    $SUDO timeout 300 apt-get install -y -qq valgrind >/dev/null 2>&1 ||
        { $SUDO timeout 300 apt-get update -qq && $SUDO timeout 300 apt-get install -y -qq valgrind; }
fi

export DATABASE_URL="sqlite://$TMP/bench.sqlite3?mode=rwc"
export DATABASE_POOL_SIZE=4
if [[ "$SITE" == crm ]]; then
    DEBUG=false SECRET_KEY="$SECRET_KEY_VALUE" "$REL/manage" migrate >/dev/null
    DEBUG=false SECRET_KEY="$SECRET_KEY_VALUE" "$REL/manage" loaddata demo >/dev/null
else
    DEBUG=false SECRET_KEY="$SECRET_KEY_VALUE" "$REL/fortunes" init >/dev/null
fi

# Starts $2 (a binary, then its arguments) under callgrind, its output in $TMP/$1.out; sets URL
# and PID. Valgrind runs the program as the same process, so the PID is the server's.
start() {
    local name="$1"
    shift
    DEBUG=false SECRET_KEY="$SECRET_KEY_VALUE" ALLOWED_HOSTS=127.0.0.1 \
        valgrind --tool=callgrind --callgrind-out-file="$TMP/$name.cg" "$@" >"$TMP/$name.out" 2>"$TMP/$name.err" &
    PID=$!
    PIDS+=("$PID")
    # Valgrind starts slowly: up to 60 s for the URL.
    local url=""
    for _ in $(seq 600); do
        url="$(grep -o 'http://127\.0\.0\.1:[0-9]*/' "$TMP/$name.out" 2>/dev/null | head -n1 || true)"
        [[ -n "$url" ]] && break
        kill -0 "$PID" 2>/dev/null || break
        sleep 0.1
    done
    if [[ -z "$url" ]]; then
        echo "$name did not start under valgrind:" >&2
        cat "$TMP/$name.out" "$TMP/$name.err" >&2
        exit 1
    fi
    URL="${url%/}"
}

# $1 requests of $2 over one connection; every answer must be 200.
requests() {
    local n="$1" url="$2" args=() codes
    for _ in $(seq "$n"); do args+=("$url"); done
    codes="$(curl -sS --max-time 600 "${CURL_COOKIE[@]}" -o /dev/null -w '%{http_code}\n' "${args[@]}")"
    if [[ "$(grep -cx 200 <<<"$codes")" != "$n" ]]; then
        echo "not every request to $url answered 200: $(sort <<<"$codes" | uniq -c | tr '\n' ' ')" >&2
        exit 1
    fi
}

# The instructions counted in process $1 since the last zeroing, from a dump.
dump_count() {
    local pid="$1" name="$2"
    callgrind_control --dump=measured "$pid" >/dev/null 2>&1
    # The dump is a file of its own beside the output file: the newest one for this name.
    local file
    for _ in $(seq 100); do
        file="$(ls -t "$TMP/$name.cg".* 2>/dev/null | head -n1 || true)"
        [[ -n "$file" ]] && grep -q '^totals:' "$file" && break
        sleep 0.1
    done
    awk '/^totals:/ {print $2; exit}' "$file"
}

say "starting djambda's $DJ_BIN under callgrind"
start djambda "$REL/$DJ_BIN" runserver 127.0.0.1:0
DJ_URL="$URL"
DJ_PID="$PID"

CURL_COOKIE=()
if [[ "$SITE" == crm ]]; then
    say "logging in as demo/demo through djambda's form"
    JAR="$TMP/cookies.txt"
    LOGIN_URL="$DJ_URL/accounts/login/"
    curl -sS --max-time 60 -c "$JAR" -o "$TMP/login.html" "$LOGIN_URL"
    TOKEN="$(grep -o 'name="csrfmiddlewaretoken" value="[A-Za-z0-9]*"' "$TMP/login.html" | head -n1 | sed 's/.*value="//; s/"$//' || true)"
    [[ -n "$TOKEN" ]] || { echo "no CSRF token in the login form" >&2; exit 1; }
    CODE="$(curl -sS --max-time 120 -b "$JAR" -c "$JAR" -o /dev/null -w '%{http_code}' \
        -H "Origin: $DJ_URL" -H "Referer: $LOGIN_URL" --data-urlencode "csrfmiddlewaretoken=$TOKEN" \
        --data-urlencode username=demo --data-urlencode password=demo "$LOGIN_URL")"
    COOKIE="$(awk -F '\t' 'NF == 7 {printf "%s%s=%s", (n++ ? "; " : ""), $6, $7}' "$JAR")"
    [[ "$CODE" == 302 && "$COOKIE" == *sessionid=* ]] || { echo "logging in answered $CODE" >&2; exit 1; }
    CURL_COOKIE=(-H "Cookie: $COOKIE")
fi

# The measured page must be the page, not a redirect to the login form.
check_page() {
    curl -sS --max-time 60 "${CURL_COOKIE[@]}" -o "$TMP/page.html" "$1$PAGE"
    grep -qF "$EXPECT" "$TMP/page.html" || { echo "GET $1$PAGE is not the page (no \"$EXPECT\")" >&2; exit 1; }
}

measure() {
    local name="$1" url="$2" pid="$3"
    check_page "$url"
    requests "$WARMUP" "$url$PAGE"
    callgrind_control --zero "$pid" >/dev/null 2>&1
    requests "$REQUESTS" "$url$PAGE"
    local count
    count="$(dump_count "$pid" "$name")"
    kill "$pid" 2>/dev/null || true
    awk -v c="$count" -v n="$REQUESTS" 'BEGIN {printf "%.0f", c / n}'
}

say "measuring djambda: $WARMUP requests to warm up, then $REQUESTS counted"
DJ_IR="$(measure djambda "$DJ_URL" "$DJ_PID")"

say "starting the reference $REF_BIN under callgrind"
start reference "$REL/$REF_BIN" 127.0.0.1:0
AX_URL="$URL"
AX_PID="$PID"
say "measuring the reference"
AX_IR="$(measure reference "$AX_URL" "$AX_PID")"

say "results (GET $PAGE${CURL_COOKIE:+, logged in as demo}; every thread of the server counted)"
printf '  %-28s %14s\n' server "instructions/request"
printf '  %-28s %14s\n' "djambda $DJ_BIN" "$DJ_IR" "reference $REF_BIN" "$AX_IR"
awk -v d="$DJ_IR" -v a="$AX_IR" 'BEGIN {printf "  djambda / reference: %.3f× the instructions (aim ≤ 1.05×, the counterpart of ≥ 0.95× throughput)\n", d / a}'
echo "SUMMARY site=$SITE djambda_ir=$DJ_IR reference_ir=$AX_IR"
