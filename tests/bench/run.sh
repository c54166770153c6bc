#!/usr/bin/env bash
# djambda's benchmark: prints figures, asserts nothing (targets belong here, not in timed tests).
#
#   bash tests/bench/run.sh                      # the example CRM's dashboard
#   BENCH_SITE=fortunes bash tests/bench/run.sh  # the TechEmpower fortunes test
#
# Warm: requests per second and latency of one template-rendered page of the example site (the
# dashboard, GET /) through `manage runserver`, side by side with `axum_ref`, a hand-written
# axum + Tera server rendering the same page from the same templates. wrk on loopback, the same
# settings for both, rounds alternating between the servers; the figures reported are the
# median of the rounds. Aim: djambda ≥ 0.95× axum's throughput. Each server's CPU time per
# request (user + system, from /proc/<pid>/stat around each wrk run) is shown too: wrk and the
# servers share this machine's cores, so CPU per request is the steadier figure.
#
# Logged in: the example CRM requires login for every page (anonymous requests are redirected to
# /accounts/login/), so the script logs in once as the demo user (demo/demo, from `manage
# loaddata demo`) through the runserver it started, with curl: GET the login page for its CSRF
# token and cookie, POST the form, keep the cookies (the signed `sessionid` and the `csrftoken`).
# Sessions are signed cookies, valid in any process with the same SECRET_KEY, so the same Cookie
# header goes with every wrk request, every invocation of the cold-start runs and, for
# `inproc`, the test client logs in itself. Before any timing the page must answer 200 and be
# the dashboard (it must contain "Open pipeline"), and every wrk run must have read about a
# dashboard's worth of bytes per response, so a redirect is never what gets measured.
# axum_ref gets the same Cookie header and authenticates like djambda, as a hand-written axum
# CRM would: per request it checks the signed `sessionid` cookie (signature and age, with the
# same SECRET_KEY, given to it here), loads the user it names with one query (`SELECT … FROM
# auth_user WHERE id = ?`), checks the session's password digest, and renders the page with that
# user's name; without a valid session it redirects to the login page. For the demo user, a
# superuser, djambda runs no permission query either, so both do one user query per request:
# the comparison is like for like. What axum_ref still leaves out is the per-request CSRF token
# (its log-out form carries a fixed one). The bodies are compared byte for byte with the CSRF
# token's value blanked out.
#
# Cold start: the release `manage` binary as a Lambda function under the Runtime API emulator
# (the `coldstart` program, sending the session cookie with each invocation for the CRM, and
# checking the first answer is the page), beside a bare lambda_http "hello" function measured in
# the same run:
# spawn → first /invocation/next, the first invocation's latency, peak RSS, binary size; medians
# of 10 runs; then BENCH_WARM (200) more invocations per instance for the warm latency. Aim:
# manage's cold start ≤ 1.5× the bare function's. With BENCH_SITE=fortunes the baseline is
# `fortunes_lambda`, the same page hand-written with lambda_http + sea-orm + Tera, and the same
# page from a Django site behind apig-wsgi run by awslambdaric (tests/bench/django_fortunes,
# Django, apig-wsgi and awslambdaric installed from PyPI into target/bench-django-venv; set
# BENCH_DJANGO=0 to leave it out) runs in the same emulator, from the same SQLite file. Deployment
# zip sizes are reported too.
#
# Knobs (environment): BENCH_PAGE (default /), BENCH_ROUNDS (3), BENCH_DURATION (10s),
# BENCH_CONNECTIONS (32), BENCH_THREADS (2), BENCH_COLD_RUNS (10), BENCH_SKIP_BUILD=1 to reuse
# the release binaries already built.
#
# Only 127.0.0.1 is ever targeted. Every process started here is stopped on exit (trap), and
# every loop is bounded in count and time.
#
# The cost of the middleware every site now runs (sessions, CSRF, authentication, messages) on a
# page without login is measured by tests/bench/before_after.sh (fortunes, before and after).

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
# shellcheck source=tests/bench/common.sh
source "$ROOT/tests/bench/common.sh"

pick_site
ROUNDS="${BENCH_ROUNDS:-3}"
DURATION="${BENCH_DURATION:-10s}"
CONNECTIONS="${BENCH_CONNECTIONS:-32}"
THREADS="${BENCH_THREADS:-2}"
COLD_RUNS="${BENCH_COLD_RUNS:-10}"
WARM_INVOCATIONS="${BENCH_WARM:-200}"
SECRET_KEY_VALUE="bench-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz-not-for-production"
REL="${CARGO_TARGET_DIR:-$ROOT/target}/release"

case "$PAGE" in /*) ;; *) echo "BENCH_PAGE must start with /" >&2; exit 2 ;; esac
if ! [[ "$ROUNDS" =~ ^[0-9]+$ ]] || ((ROUNDS < 1 || ROUNDS > 10)); then
    echo "BENCH_ROUNDS must be 1..10" >&2
    exit 2
fi
if ! [[ "$COLD_RUNS" =~ ^[0-9]+$ ]] || ((COLD_RUNS < 1 || COLD_RUNS > 100)); then
    echo "BENCH_COLD_RUNS must be 1..100" >&2
    exit 2
fi

TMP="$(mktemp -d)"
PIDS=()

cleanup() {
    stop_pids
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM


# --- build --------------------------------------------------------------------------------------
if [[ "${BENCH_SKIP_BUILD:-}" != 1 ]]; then
    say "building release binaries (cargo build --release -p example_site -p bench)"
    cargo build --release -p example_site -p bench
fi
COLD_BASE=lambda_hello
[[ "$SITE" == fortunes ]] && COLD_BASE=fortunes_lambda
for bin in "$DJ_BIN" "$REF_BIN" lambda_hello "$COLD_BASE" coldstart; do
    [[ -x "$REL/$bin" ]] || { echo "missing $REL/$bin: build first" >&2; exit 1; }
done

# --- wrk ----------------------------------------------------------------------------------------
if ! command -v wrk >/dev/null 2>&1; then
    say "installing wrk (Debian package)"
    SUDO=""
    [[ "$(id -u)" == 0 ]] || SUDO="sudo"
    $SUDO timeout 300 apt-get install -y -qq wrk >/dev/null 2>&1 ||
        { $SUDO timeout 300 apt-get update -qq && $SUDO timeout 300 apt-get install -y -qq wrk; }
fi
command -v wrk >/dev/null || { echo "wrk is not available" >&2; exit 1; }

# --- servers ------------------------------------------------------------------------------------

say "starting the servers on 127.0.0.1"
# Both servers read one SQLite file, made here with the release binary (`manage migrate` and
# `manage loaddata demo`, or `fortunes init`), through connection pools of the same size.
export DATABASE_URL="sqlite://$TMP/bench.sqlite3?mode=rwc"
export DATABASE_POOL_SIZE="${BENCH_POOL_SIZE:-4}"
if [[ "$SITE" == crm ]]; then
    DEBUG=false SECRET_KEY="$SECRET_KEY_VALUE" "$REL/manage" migrate >/dev/null
    DEBUG=false SECRET_KEY="$SECRET_KEY_VALUE" "$REL/manage" loaddata demo
else
    DEBUG=false SECRET_KEY="$SECRET_KEY_VALUE" "$REL/fortunes" init
fi

# runserver's request-log middleware writes one line per request to stderr: sent to /dev/null
# during the load test, so the terminal is not the bottleneck (the write itself still happens).
DEBUG=false SECRET_KEY="$SECRET_KEY_VALUE" ALLOWED_HOSTS=127.0.0.1 \
    "$REL/$DJ_BIN" runserver 127.0.0.1:0 >"$TMP/djambda.out" 2>/dev/null &
DJ_PID=$!
PIDS+=("$DJ_PID")
# The reference gets the same SECRET_KEY: axum_ref checks djambda's signed session cookie with it.
SECRET_KEY="$SECRET_KEY_VALUE" "$REL/$REF_BIN" 127.0.0.1:0 >"$TMP/axum.out" 2>"$TMP/axum.err" &
AX_PID=$!
PIDS+=("$AX_PID")
DJ_URL="$(wait_for_url "$TMP/djambda.out" "$DJ_PID")"
AX_URL="$(wait_for_url "$TMP/axum.out" "$AX_PID")"
echo "djambda runserver: $DJ_URL (pid $DJ_PID)   axum_ref: $AX_URL (pid $AX_PID)"

# --- log in (crm) -------------------------------------------------------------------------------
# COOKIE: the Cookie header's value every measured request carries (empty for fortunes, which
# has no login). One login, through the login form as a browser does it.
COOKIE=""
if [[ "$SITE" == crm ]]; then
    say "logging in to djambda as demo/demo (once: the signed session cookie serves every process with this SECRET_KEY)"
    JAR="$TMP/cookies.txt"
    LOGIN_URL="$DJ_URL/accounts/login/"
    CODE="$(curl -sS --max-time 10 -c "$JAR" -o "$TMP/login.html" -w '%{http_code}' "$LOGIN_URL")"
    TOKEN="$(grep -o 'name="csrfmiddlewaretoken" value="[A-Za-z0-9]*"' "$TMP/login.html" | head -n1 | sed 's/.*value="//; s/"$//' || true)"
    if [[ "$CODE" != 200 || -z "$TOKEN" ]]; then
        echo "GET $LOGIN_URL answered $CODE without a CSRF token in its form" >&2
        head -c 2000 "$TMP/login.html" >&2
        exit 1
    fi
    CODE="$(curl -sS --max-time 30 -b "$JAR" -c "$JAR" -D "$TMP/login.post.headers" -o "$TMP/login.post.html" \
        -w '%{http_code}' -H "Origin: $DJ_URL" -H "Referer: $LOGIN_URL" \
        --data-urlencode "csrfmiddlewaretoken=$TOKEN" --data-urlencode username=demo --data-urlencode password=demo \
        "$LOGIN_URL")"
    # Every cookie the jar holds (sessionid, and the csrftoken login rotates), as one header value.
    COOKIE="$(awk -F '\t' 'NF == 7 {printf "%s%s=%s", (n++ ? "; " : ""), $6, $7}' "$JAR")"
    if [[ "$CODE" != 302 || "$COOKIE" != *sessionid=* ]]; then
        echo "logging in answered $CODE without a session cookie; its head and body:" >&2
        tr -d '\r' <"$TMP/login.post.headers" >&2
        head -c 2000 "$TMP/login.post.html" >&2
        exit 1
    fi
    echo "logged in: HTTP $CODE to $(awk 'tolower($1) == "location:" {print $2}' "$TMP/login.post.headers" | tr -d '\r');" \
        "cookies sent from now on: $(awk -F '\t' 'NF == 7 {printf "%s ", $6}' "$JAR")"
fi
CURL_COOKIE=()
WRK_COOKIE=()
if [[ -n "$COOKIE" ]]; then
    CURL_COOKIE=(-H "Cookie: $COOKIE")
    WRK_COOKIE=(-H "Cookie: $COOKIE")
fi

# --- same page? ---------------------------------------------------------------------------------
say "checking both servers return the same page for GET $PAGE${COOKIE:+ (with the session cookie)}"
fetch() { curl -sS --max-time 10 "${CURL_COOKIE[@]}" -D "$2.headers" -o "$2" -w '%{http_code}' "$1"; }
# The CSRF token's value, different in every djambda response, blanked out.
normalise() { sed -E 's/(name="csrfmiddlewaretoken" value=")[A-Za-z0-9]*"/\1…"/g' "$1"; }
# Checks $2 (a fetched body) is the measured page: its status $1 is 200 and it contains $EXPECT.
is_the_page() {
    if [[ "$1" != 200 ]] || ! grep -qF "$EXPECT" "$2"; then
        echo "GET $PAGE is not the page to measure (HTTP $1, \"$EXPECT\" $(grep -qF "$EXPECT" "$2" && echo found || echo missing)); head and body:" >&2
        tr -d '\r' <"$2.headers" >&2
        head -c 2000 "$2" >&2
        return 1
    fi
}
DJ_CODE="$(fetch "$DJ_URL$PAGE" "$TMP/djambda.html")"
AX_CODE="$(fetch "$AX_URL$PAGE" "$TMP/axum.html")"
DJ_LEN="$(wc -c <"$TMP/djambda.html")"
AX_LEN="$(wc -c <"$TMP/axum.html")"
echo "djambda: HTTP $DJ_CODE, $DJ_LEN body bytes; axum_ref: HTTP $AX_CODE, $AX_LEN body bytes"
if [[ "$DJ_CODE" != 200 || "$AX_CODE" != 200 ]]; then
    echo "both servers must answer 200" >&2
    tr -d '\r' <"$TMP/djambda.html.headers" >&2
    exit 1
fi
if [[ "$PAGE" == "$DEFAULT_PAGE" ]]; then
    is_the_page "$DJ_CODE" "$TMP/djambda.html"
    is_the_page "$AX_CODE" "$TMP/axum.html"
    echo "both are the page (\"$EXPECT\" is in both)"
fi
if cmp -s <(normalise "$TMP/djambda.html") <(normalise "$TMP/axum.html"); then
    if cmp -s "$TMP/djambda.html" "$TMP/axum.html"; then
        echo "bodies are byte-identical"
    else
        echo "bodies are byte-identical but for the CSRF token's value"
    fi
else
    echo "the bodies differ; the comparison would be meaningless:" >&2
    diff <(normalise "$TMP/djambda.html") <(normalise "$TMP/axum.html") | head -n 40 >&2
    exit 1
fi
echo "response heads (Date differs, so heads are shown rather than compared):"
sed 's/^/  djambda | /' "$TMP/djambda.html.headers" | tr -d '\r'
sed 's/^/  axum    | /' "$TMP/axum.html.headers" | tr -d '\r'
if grep -qi '^set-cookie:' "$TMP/djambda.html.headers"; then
    echo "note: djambda sets a cookie on this page even with the session cookie sent (a cost in every measured response)"
fi

# --- load ---------------------------------------------------------------------------------------
WRK=(wrk "-t$THREADS" "-c$CONNECTIONS" "-d$DURATION" --latency)
WRK_TIMEOUT=$((${DURATION%s} + 60))
# Least bytes (head + body) a response must average under load: 90% of the page's body. A 302
# to the login page is a few hundred bytes, and wrk counts 3xx as success.
MIN_BYTES="$(awk -v n="$DJ_LEN" 'BEGIN {printf "%d", n * 0.9}')"



# Runs wrk against $1 (label) at $2 (URL), server pid $3; appends
# "rps p50_ms p99_ms cpu_us_per_request" to $TMP/$1.results.
load() {
    local label="$1" url="$2" pid="$3" out="$TMP/$1.wrk"
    local before after
    before="$(cpu_ticks "$pid")"
    timeout "$WRK_TIMEOUT" "${WRK[@]}" "${WRK_COOKIE[@]}" "$url" >"$out"
    after="$(cpu_ticks "$pid")"
    if grep -q 'Non-2xx or 3xx' "$out"; then
        echo "$label answered errors under load:" >&2
        cat "$out" >&2
        exit 1
    fi
    local rps p50 p99 errors requests cpu read_bytes
    rps="$(awk '/^Requests\/sec:/ {print $2}' "$out")"
    requests="$(awk '/requests in/ {print $1}' "$out")"
    read_bytes="$(to_bytes "$(awk '/requests in/ {print $5}' "$out")")"
    if ((requests == 0 || read_bytes / requests < MIN_BYTES)); then
        echo "$label: $requests responses averaging $((requests ? read_bytes / requests : 0)) bytes, less than the page's $DJ_LEN body bytes: not the page (a redirect?)" >&2
        cat "$out" >&2
        exit 1
    fi
    cpu="$(awk -v t="$((after - before))" -v hz="$CLK_TCK" -v n="$requests" 'BEGIN {printf "%.1f", t / hz * 1e6 / n}')"
    p50="$(to_ms "$(awk '$1 == "50%" {print $2}' "$out")")"
    p99="$(to_ms "$(awk '$1 == "99%" {print $2}' "$out")")"
    errors="$(grep 'Socket errors' "$out" || true)"
    echo "$rps $p50 $p99 $cpu" >>"$TMP/$label.results"
    printf '  %-8s %10.1f req/s   p50 %7.3f ms   p99 %7.3f ms   server CPU %6.1f µs/request %s\n' \
        "$label" "$rps" "$p50" "$p99" "$cpu" "$errors"
}

say "warming up both servers (wrk ${WRK[*]:1:2} -d3s, not counted)"
timeout 60 wrk "-t$THREADS" "-c$CONNECTIONS" -d3s "${WRK_COOKIE[@]}" "$DJ_URL$PAGE" >/dev/null
timeout 60 wrk "-t$THREADS" "-c$CONNECTIONS" -d3s "${WRK_COOKIE[@]}" "$AX_URL$PAGE" >/dev/null

say "load: ${WRK[*]}${COOKIE:+ -H 'Cookie: …'} GET $PAGE, $ROUNDS round(s), servers alternating"
for round in $(seq "$ROUNDS"); do
    echo " round $round"
    if ((round % 2)); then
        load djambda "$DJ_URL$PAGE" "$DJ_PID"
        load axum "$AX_URL$PAGE" "$AX_PID"
    else
        load axum "$AX_URL$PAGE" "$AX_PID"
        load djambda "$DJ_URL$PAGE" "$DJ_PID"
    fi
done

# Still the page after the load (the session still valid).
DJ_CODE="$(fetch "$DJ_URL$PAGE" "$TMP/djambda.after.html")"
[[ "$PAGE" != "$DEFAULT_PAGE" ]] || is_the_page "$DJ_CODE" "$TMP/djambda.after.html"

# Median of column $2 of file $1.

DJ_RPS="$(median "$TMP/djambda.results" 1)"
AX_RPS="$(median "$TMP/axum.results" 1)"
DJ_P50="$(median "$TMP/djambda.results" 2)"
AX_P50="$(median "$TMP/axum.results" 2)"
DJ_P99="$(median "$TMP/djambda.results" 3)"
AX_P99="$(median "$TMP/axum.results" 3)"
DJ_CPU="$(median "$TMP/djambda.results" 4)"
AX_CPU="$(median "$TMP/axum.results" 4)"
DJ_RSS="$(peak_rss "$DJ_PID")"
AX_RSS="$(peak_rss "$AX_PID")"
WARM_RATIO="$(awk -v a="$DJ_RPS" -v b="$AX_RPS" 'BEGIN {printf "%.3f", a / b}')"

kill "$DJ_PID" "$AX_PID" 2>/dev/null || true

# --- cold start ---------------------------------------------------------------------------------
COLD_TARGETS=(manage="$REL/$DJ_BIN")
[[ "$COLD_BASE" != lambda_hello ]] && COLD_TARGETS+=(lambda_hello="$REL/lambda_hello")
DJANGO_DIR="$ROOT/tests/bench/django_fortunes"
DJANGO_VENV="${CARGO_TARGET_DIR:-$ROOT/target}/bench-django-venv"
WITH_DJANGO=0
if [[ "$SITE" == fortunes && "${BENCH_DJANGO:-1}" != 0 ]]; then
    if [[ ! -x "$DJANGO_VENV/bin/python" ]] || ! "$DJANGO_VENV/bin/python" -c 'import django, apig_wsgi, awslambdaric' 2>/dev/null; then
        say "installing Django, apig-wsgi and awslambdaric from PyPI into $DJANGO_VENV"
        python3 -m venv "$DJANGO_VENV"
        timeout 600 "$DJANGO_VENV/bin/pip" install --quiet django apig-wsgi awslambdaric
    fi
    COLD_TARGETS+=(django="$DJANGO_DIR/bootstrap")
    WITH_DJANGO=1
fi
COLD_TARGETS+=("$COLD_BASE=$REL/$COLD_BASE")
# The first invocation of djambda's site (and of the hand-written fortunes) must be the page;
# for the CRM every invocation carries the session cookie (the same SECRET_KEY signs it).
COLD_CHECKS=()
if [[ "$PAGE" == "$DEFAULT_PAGE" ]]; then
    COLD_CHECKS+=(--expect "manage=$EXPECT")
    [[ "$COLD_BASE" != lambda_hello ]] && COLD_CHECKS+=(--expect "$COLD_BASE=$EXPECT")
fi
[[ -n "$COOKIE" ]] && COLD_CHECKS+=(--cookie "$COOKIE")
say "cold start and warm invocations: $DJ_BIN (DEBUG=false, ALLOWED_HOSTS='*'${COOKIE:+, logged in}), lambda_hello and $COLD_BASE under the Runtime API emulator"
# Each function gets a pool of one connection, as on Lambda.
timeout 900 "$REL/coldstart" --runs "$COLD_RUNS" --warm "$WARM_INVOCATIONS" --path "$PAGE" "${COLD_CHECKS[@]}" \
    --env DEBUG=false --env SECRET_KEY="$SECRET_KEY_VALUE" --env 'ALLOWED_HOSTS=*' --env "DATABASE_URL=$DATABASE_URL" \
    --env DATABASE_POOL_SIZE=1 --env "DJANGO_PYTHON=$DJANGO_VENV/bin/python" "${COLD_TARGETS[@]}" | tee "$TMP/cold.out"

field() { awk -v n="$1" -v k="$2" '$1 == "SUMMARY" && $2 == "name=" n {for (i = 3; i <= NF; i++) {split($i, kv, "="); if (kv[1] == k) print kv[2]}}' "$TMP/cold.out"; }
M_INIT="$(field manage init_ms)"
H_INIT="$(field lambda_hello init_ms)"
M_FIRST="$(field manage first_ms)"
H_FIRST="$(field lambda_hello first_ms)"
M_TOTAL="$(field manage total_ms)"
H_TOTAL="$(field lambda_hello total_ms)"
M_HWM="$(field manage hwm_kib)"
H_HWM="$(field lambda_hello hwm_kib)"
M_WARM="$(field manage warm_ms)"
M_WARM99="$(field manage warm_p99_ms)"
B_INIT="$(field "$COLD_BASE" init_ms)"
B_TOTAL="$(field "$COLD_BASE" total_ms)"
B_WARM="$(field "$COLD_BASE" warm_ms)"
B_WARM99="$(field "$COLD_BASE" warm_p99_ms)"
B_HWM="$(field "$COLD_BASE" hwm_kib)"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
size_of() { stat -c %s "$REL/$1"; }
mib() { awk -v b="$1" 'BEGIN {printf "%.2f MiB", b / 1048576}'; }

# --- report -------------------------------------------------------------------------------------
say "results (GET $PAGE${COOKIE:+, logged in as demo: both servers check the session cookie and load the user per request})"
printf 'warm, %s, median of %s rounds:\n' "${WRK[*]}" "$ROUNDS"
printf '  %-26s %12s %10s %10s %12s %12s\n' server req/s "p50 ms" "p99 ms" "CPU µs/req" "peak RSS"
printf '  %-26s %12.1f %10.3f %10.3f %12.1f %12s\n' "djambda $DJ_BIN runserver" "$DJ_RPS" "$DJ_P50" "$DJ_P99" "$DJ_CPU" "$DJ_RSS"
printf '  %-26s %12.1f %10.3f %10.3f %12.1f %12s\n' "reference ($REF_BIN)" "$AX_RPS" "$AX_P50" "$AX_P99" "$AX_CPU" "$AX_RSS"
printf '  throughput djambda / axum: %s×  (aim ≥ 0.95×: %s)\n' "$WARM_RATIO" \
    "$(awk -v r="$WARM_RATIO" 'BEGIN {print (r >= 0.95) ? "met" : "missed"}')"
printf '  every round (req/s p50_ms p99_ms cpu_us/req): djambda [%s]  axum [%s]\n' \
    "$(paste -sd, "$TMP/djambda.results")" "$(paste -sd, "$TMP/axum.results")"
printf 'cold start under the Runtime API emulator, median of %s runs:\n' "$COLD_RUNS"
printf '  %-26s %10s %12s %12s %12s %12s\n' function "init ms" "1st inv ms" "total ms" "peak RSS" "binary"
printf '  %-26s %10.2f %12.2f %12.2f %12s %12s\n' "manage (djambda site)" "$M_INIT" "$M_FIRST" "$M_TOTAL" \
    "$(awk -v k="$M_HWM" 'BEGIN {printf "%.1f MiB", k / 1024}')" "$(mib "$(size_of "$DJ_BIN")")"
printf '  %-26s %10.2f %12.2f %12.2f %12s %12s\n' "lambda_hello (bare)" "$H_INIT" "$H_FIRST" "$H_TOTAL" \
    "$(awk -v k="$H_HWM" 'BEGIN {printf "%.1f MiB", k / 1024}')" "$(mib "$(size_of lambda_hello)")"
INIT_RATIO="$(ratio "$M_INIT" "$H_INIT")"
TOTAL_RATIO="$(ratio "$M_TOTAL" "$H_TOTAL")"
aim15() { awk -v r="$1" 'BEGIN {print (r <= 1.5) ? "met" : "missed"}'; }
printf '  cold start manage / hello: init %s× (aim ≤ 1.5×: %s), init + first invocation %s× (aim ≤ 1.5×: %s)\n' \
    "$INIT_RATIO" "$(aim15 "$INIT_RATIO")" "$TOTAL_RATIO" "$(aim15 "$TOTAL_RATIO")"
if [[ "$COLD_BASE" != lambda_hello ]]; then
    printf '  %-26s %10.2f %12s %12.2f %12s %12s\n' "$COLD_BASE (hand-written)" "$B_INIT" "" "$B_TOTAL" \
        "$(awk -v k="$B_HWM" 'BEGIN {printf "%.1f MiB", k / 1024}')" "$(mib "$(size_of "$COLD_BASE")")"
    printf '  manage / %s: init %s×, init + first invocation %s×, peak RSS %s×\n' "$COLD_BASE" \
        "$(ratio "$M_INIT" "$B_INIT")" "$(ratio "$M_TOTAL" "$B_TOTAL")" "$(ratio "$M_HWM" "$B_HWM")"
fi
if ((WITH_DJANGO)); then
    D_INIT="$(field django init_ms)"
    D_TOTAL="$(field django total_ms)"
    D_WARM="$(field django warm_ms)"
    D_WARM99="$(field django warm_p99_ms)"
    D_HWM="$(field django hwm_kib)"
    # Deployment packages as Lambda takes them: the bootstrap alone, or the Django project with
    # the packages it imports (Django, apig-wsgi, awslambdaric and their dependencies).
    zip_size() { python3 - "$@" <<'PY'
import os, sys, zipfile, io
buf = io.BytesIO()
with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
    for root in sys.argv[1:]:
        if os.path.isfile(root):
            z.write(root, os.path.basename(root))
            continue
        for d, _, files in os.walk(root):
            top = os.path.relpath(d, root).split(os.sep)[0]
            # The installer is not part of what the function imports.
            if top.startswith(("pip", "setuptools", "_distutils_hack", "wheel")):
                continue
            for f in files:
                if "__pycache__" not in d:
                    p = os.path.join(d, f)
                    z.write(p, os.path.relpath(p, root))
print(len(buf.getvalue()))
PY
    }
    SITE_PACKAGES="$("$DJANGO_VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
    M_ZIP="$(zip_size "$REL/$DJ_BIN")"
    B_ZIP="$(zip_size "$REL/$COLD_BASE")"
    D_ZIP="$(zip_size "$DJANGO_DIR" "$SITE_PACKAGES")"
    printf '  %-26s %10.2f %12s %12.2f %12s %12s\n' "django (apig-wsgi)" "$D_INIT" "" "$D_TOTAL" \
        "$(awk -v k="$D_HWM" 'BEGIN {printf "%.1f MiB", k / 1024}')" "zip $(mib "$D_ZIP")"
    printf '  zip sizes: manage %s, %s %s, django %s\n' "$(mib "$M_ZIP")" "$COLD_BASE" "$(mib "$B_ZIP")" "$(mib "$D_ZIP")"
    printf '  django / manage: init + first invocation %s× slower (aim ≥ 30×), warm median %s×, peak RSS %s×\n' \
        "$(ratio "$D_TOTAL" "$M_TOTAL")" "$(ratio "$D_WARM" "$M_WARM")" "$(ratio "$D_HWM" "$M_HWM")"
    printf '  manage / %s: init + first invocation %s× (aim ≤ 1.5×), warm median %s× (aim ≤ 1.2×), peak RSS %s× (aim ≤ 1.5×)\n' \
        "$COLD_BASE" "$(ratio "$M_TOTAL" "$B_TOTAL")" "$(ratio "$M_WARM" "$B_WARM")" "$(ratio "$M_HWM" "$B_HWM")"
    printf '  django warm median %.3f ms, p99 %.3f ms\n' "$D_WARM" "$D_WARM99"
fi
printf 'warm invocations through the Lambda door (%s per instance × %s instances):\n' "$WARM_INVOCATIONS" "$COLD_RUNS"
printf '  manage median %.3f ms, p99 %.3f ms; %s median %.3f ms, p99 %.3f ms; ratio median %s×, p99 %s×\n' \
    "$M_WARM" "$M_WARM99" "$COLD_BASE" "$B_WARM" "$B_WARM99" "$(ratio "$M_WARM" "$B_WARM")" "$(ratio "$M_WARM99" "$B_WARM99")"
printf 'binary sizes: %s %s bytes, lambda_hello %s bytes, %s %s bytes\n' \
    "$DJ_BIN" "$(size_of "$DJ_BIN")" "$(size_of lambda_hello)" "$REF_BIN" "$(size_of "$REF_BIN")"

echo
echo "== in-process: the whole request path without sockets (Site::handle, one thread)"
if [[ "$SITE" == crm ]]; then
    "$REL/inproc" "$PAGE" 20000 2>/dev/null
fi
