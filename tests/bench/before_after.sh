#!/usr/bin/env bash
# What the middleware every site now runs (sessions, CSRF, authentication, messages) costs a page
# without login: the TechEmpower fortunes page (GET /fortunes, no cookie) through `fortunes
# runserver`, built from this tree and from an earlier commit, measured in the same run with the
# same wrk settings, rounds alternating between the two servers. Prints figures, asserts nothing.
#
#   bash tests/bench/before_after.sh             # 0cb5bd8 (before the middleware) vs this tree
#   BENCH_BEFORE=<commit> bash tests/bench/before_after.sh
#
# The earlier commit is checked out with `git worktree add` into /tmp/djambda-before (removed on
# exit with `git worktree remove --force`) and its release `fortunes` binary built there with its
# own target directory (BENCH_BEFORE_TARGET, default /tmp/djambda-before-target, kept between
# runs as a build cache). Each binary makes its own SQLite file with its own `fortunes init`
# (the same rows); the pages must be 200 and byte-identical before anything is timed.
#
# Reported (median of the rounds): requests per second, p50 and p99 latency, and each server's
# CPU time per request (user + system from /proc/<pid>/stat around each wrk run: wrk and the
# servers share the machine's cores, so CPU per request is the steadier figure).
#
# Knobs (environment): BENCH_BEFORE (0cb5bd8), BENCH_ROUNDS (3, alternating), BENCH_DURATION
# (10s), BENCH_CONNECTIONS (32), BENCH_THREADS (2), BENCH_POOL_SIZE (4), BENCH_SKIP_BUILD=1 to
# reuse this tree's release `fortunes` (the earlier one is always built; cargo makes that quick
# once its target directory is warm).
#
# Only 127.0.0.1 is ever targeted. Every process started here is stopped on exit (trap), and
# every loop is bounded in count and time.

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
# shellcheck source=tests/bench/common.sh
source "$ROOT/tests/bench/common.sh"

BEFORE="${BENCH_BEFORE:-0cb5bd8}"
ROUNDS="${BENCH_ROUNDS:-3}"
DURATION="${BENCH_DURATION:-10s}"
CONNECTIONS="${BENCH_CONNECTIONS:-32}"
THREADS="${BENCH_THREADS:-2}"
SECRET_KEY_VALUE="bench-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz-not-for-production"
REL="${CARGO_TARGET_DIR:-$ROOT/target}/release"
WORKTREE=/tmp/djambda-before
BEFORE_TARGET="${BENCH_BEFORE_TARGET:-/tmp/djambda-before-target}"
PAGE=/fortunes
EXPECT="Additional fortune added at request time."

if ! [[ "$ROUNDS" =~ ^[0-9]+$ ]] || ((ROUNDS < 1 || ROUNDS > 10)); then
    echo "BENCH_ROUNDS must be 1..10" >&2
    exit 2
fi
if ! [[ "$DURATION" =~ ^[0-9]+s$ ]]; then
    echo "BENCH_DURATION must be seconds, e.g. 10s" >&2
    exit 2
fi
BEFORE_SHA="$(git rev-parse --verify --quiet "$BEFORE^{commit}")" || { echo "no commit $BEFORE" >&2; exit 2; }
command -v wrk >/dev/null || { echo "wrk is not installed (tests/bench/run.sh installs it)" >&2; exit 1; }

TMP="$(mktemp -d)"
PIDS=()
WORKTREE_ADDED=0

cleanup() {
    stop_pids
    if ((WORKTREE_ADDED)); then
        git -C "$ROOT" worktree remove --force "$WORKTREE" || echo "could not remove the worktree $WORKTREE" >&2
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM


# --- build --------------------------------------------------------------------------------------
if [[ "${BENCH_SKIP_BUILD:-}" != 1 ]]; then
    say "building this tree's release fortunes (cargo build --release -p bench --bin fortunes)"
    cargo build --release -p bench --bin fortunes
fi
[[ -x "$REL/fortunes" ]] || { echo "missing $REL/fortunes: build first" >&2; exit 1; }

say "checking out $BEFORE ($BEFORE_SHA) into $WORKTREE"
if git worktree list --porcelain | grep -qx "worktree $WORKTREE"; then
    # A worktree of this repository left there by an interrupted run of this script.
    git worktree remove --force "$WORKTREE"
fi
if [[ -e "$WORKTREE" ]]; then
    echo "$WORKTREE exists and is not a worktree of this repository: move it away first" >&2
    exit 1
fi
git worktree add --detach "$WORKTREE" "$BEFORE_SHA" >/dev/null
WORKTREE_ADDED=1
say "building $BEFORE's release fortunes in $WORKTREE (target directory $BEFORE_TARGET)"
(cd "$WORKTREE" && CARGO_TARGET_DIR="$BEFORE_TARGET" cargo build --release -p bench --bin fortunes)
# Copied out, so the worktree can go whenever this script ends.
cp "$BEFORE_TARGET/release/fortunes" "$TMP/fortunes-before"
cp "$REL/fortunes" "$TMP/fortunes-now"

# --- servers ------------------------------------------------------------------------------------

say "starting both servers on 127.0.0.1"
export DATABASE_POOL_SIZE="${BENCH_POOL_SIZE:-4}"
declare -A URL PID
for which in before now; do
    db="sqlite://$TMP/$which.sqlite3?mode=rwc"
    DATABASE_URL="$db" DEBUG=false SECRET_KEY="$SECRET_KEY_VALUE" "$TMP/fortunes-$which" init
    # The request log goes to /dev/null, as in run.sh (the write itself still happens).
    DATABASE_URL="$db" DEBUG=false SECRET_KEY="$SECRET_KEY_VALUE" ALLOWED_HOSTS=127.0.0.1 \
        "$TMP/fortunes-$which" runserver 127.0.0.1:0 >"$TMP/$which.out" 2>/dev/null &
    PID[$which]=$!
    PIDS+=("$!")
done
for which in before now; do
    URL[$which]="$(wait_for_url "$TMP/$which.out" "${PID[$which]}")"
done
echo "before ($BEFORE): ${URL[before]} (pid ${PID[before]})   now: ${URL[now]} (pid ${PID[now]})"

say "checking both answer the same page for GET $PAGE"
for which in before now; do
    code="$(curl -sS --max-time 10 -D "$TMP/$which.headers" -o "$TMP/$which.html" -w '%{http_code}' "${URL[$which]}$PAGE")"
    if [[ "$code" != 200 ]] || ! grep -qF "$EXPECT" "$TMP/$which.html"; then
        echo "$which: GET $PAGE answered $code without \"$EXPECT\":" >&2
        tr -d '\r' <"$TMP/$which.headers" >&2
        head -c 2000 "$TMP/$which.html" >&2
        exit 1
    fi
done
if ! cmp -s "$TMP/before.html" "$TMP/now.html"; then
    echo "the bodies differ; the comparison would be meaningless:" >&2
    diff "$TMP/before.html" "$TMP/now.html" | head -n 40 >&2
    exit 1
fi
PAGE_LEN="$(wc -c <"$TMP/now.html")"
echo "both HTTP 200, byte-identical bodies of $PAGE_LEN bytes; response heads (Date differs):"
sed 's/^/  before | /' "$TMP/before.headers" | tr -d '\r'
sed 's/^/  now    | /' "$TMP/now.headers" | tr -d '\r'

# --- load ---------------------------------------------------------------------------------------
WRK=(wrk "-t$THREADS" "-c$CONNECTIONS" "-d$DURATION" --latency)
WRK_TIMEOUT=$((${DURATION%s} + 60))
# Least bytes (head + body) a response must average under load: 90% of the page's body. wrk
# counts a 3xx as success, and a redirect is a few hundred bytes.
MIN_BYTES="$(awk -v n="$PAGE_LEN" 'BEGIN {printf "%d", n * 0.9}')"



# Runs wrk against server $1 (before or now); appends "rps p50_ms p99_ms cpu_us_per_request" to
# $TMP/$1.results.
load() {
    local which="$1" out="$TMP/$1.wrk" before after
    before="$(cpu_ticks "${PID[$which]}")"
    timeout "$WRK_TIMEOUT" "${WRK[@]}" "${URL[$which]}$PAGE" >"$out"
    after="$(cpu_ticks "${PID[$which]}")"
    if grep -q 'Non-2xx or 3xx' "$out"; then
        echo "$which answered errors under load:" >&2
        cat "$out" >&2
        exit 1
    fi
    local rps p50 p99 requests cpu errors read_bytes
    rps="$(awk '/^Requests\/sec:/ {print $2}' "$out")"
    requests="$(awk '/requests in/ {print $1}' "$out")"
    read_bytes="$(to_bytes "$(awk '/requests in/ {print $5}' "$out")")"
    if ((requests == 0 || read_bytes / requests < MIN_BYTES)); then
        echo "$which: $requests responses averaging $((requests ? read_bytes / requests : 0)) bytes, less than the page's $PAGE_LEN body bytes: not the page (a redirect?)" >&2
        cat "$out" >&2
        exit 1
    fi
    cpu="$(awk -v t="$((after - before))" -v hz="$CLK_TCK" -v n="$requests" 'BEGIN {printf "%.1f", t / hz * 1e6 / n}')"
    p50="$(to_ms "$(awk '$1 == "50%" {print $2}' "$out")")"
    p99="$(to_ms "$(awk '$1 == "99%" {print $2}' "$out")")"
    errors="$(grep 'Socket errors' "$out" || true)"
    echo "$rps $p50 $p99 $cpu" >>"$TMP/$which.results"
    printf '  %-7s %10.1f req/s   p50 %7.3f ms   p99 %7.3f ms   server CPU %6.1f µs/request %s\n' \
        "$which" "$rps" "$p50" "$p99" "$cpu" "$errors"
}

say "warming up both servers (wrk -t$THREADS -c$CONNECTIONS -d3s, not counted)"
for which in before now; do
    timeout 60 wrk "-t$THREADS" "-c$CONNECTIONS" -d3s "${URL[$which]}$PAGE" >/dev/null
done

say "load: ${WRK[*]} GET $PAGE, $ROUNDS round(s), servers alternating"
for round in $(seq "$ROUNDS"); do
    echo " round $round"
    if ((round % 2)); then
        load before
        load now
    else
        load now
        load before
    fi
done

# Median of column $2 of file $1.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f", a / b}'; }

declare -A RPS P50 P99 CPU
for which in before now; do
    RPS[$which]="$(median "$TMP/$which.results" 1)"
    P50[$which]="$(median "$TMP/$which.results" 2)"
    P99[$which]="$(median "$TMP/$which.results" 3)"
    CPU[$which]="$(median "$TMP/$which.results" 4)"
done

say "results (GET $PAGE, no login)"
printf 'warm, %s, median of %s rounds:\n' "${WRK[*]}" "$ROUNDS"
printf '  %-24s %12s %10s %10s %12s %12s\n' "fortunes runserver" req/s "p50 ms" "p99 ms" "CPU µs/req" "peak RSS"
for which in before now; do
    label="now (this tree)"
    [[ "$which" == before ]] && label="before ($BEFORE)"
    printf '  %-24s %12.1f %10.3f %10.3f %12.1f %12s\n' "$label" "${RPS[$which]}" "${P50[$which]}" "${P99[$which]}" \
        "${CPU[$which]}" "$(peak_rss "${PID[$which]}")"
done
printf '  now / before: throughput %s×, p50 %s×, p99 %s×, CPU per request %s× (%+.1f µs)\n' \
    "$(ratio "${RPS[now]}" "${RPS[before]}")" "$(ratio "${P50[now]}" "${P50[before]}")" \
    "$(ratio "${P99[now]}" "${P99[before]}")" "$(ratio "${CPU[now]}" "${CPU[before]}")" \
    "$(awk -v a="${CPU[now]}" -v b="${CPU[before]}" 'BEGIN {print a - b}')"
printf '  every round (req/s p50_ms p99_ms cpu_us/req): before [%s]  now [%s]\n' \
    "$(paste -sd, "$TMP/before.results")" "$(paste -sd, "$TMP/now.results")"
