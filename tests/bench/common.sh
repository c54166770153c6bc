# Helpers the benchmark scripts share (sourced by run.sh, instructions.sh and before_after.sh).

say() { printf '\n== %s\n' "$*"; }

# BENCH_SITE picks the pair (run.sh, instructions.sh): `crm` (the example CRM's dashboard,
# `manage` vs `axum_ref`) or `fortunes` (the TechEmpower fortunes test, `fortunes` vs
# `fortunes_axum`). Sets SITE, DJ_BIN, REF_BIN, DEFAULT_PAGE, PAGE (BENCH_PAGE or the default)
# and EXPECT, text the measured page must contain (not in a redirect's or the login page's body).
pick_site() {
    SITE="${BENCH_SITE:-crm}"
    case "$SITE" in
        crm) DJ_BIN=manage; REF_BIN=axum_ref; DEFAULT_PAGE=/; EXPECT="Open pipeline" ;;
        fortunes) DJ_BIN=fortunes; REF_BIN=fortunes_axum; DEFAULT_PAGE=/fortunes; EXPECT="Additional fortune added at request time." ;;
        *) echo "BENCH_SITE must be crm or fortunes" >&2; exit 2 ;;
    esac
    PAGE="${BENCH_PAGE:-$DEFAULT_PAGE}"
}

# Stops every process in PIDS (the scripts' EXIT trap): SIGTERM to all, then for each up to $1
# tenths of a second (default 50) before SIGKILL.
stop_pids() {
    local pid tries="${1:-50}"
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        for _ in $(seq "$tries"); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$pid" 2>/dev/null || true
    done
}

# Waits (bounded: 200 × 0.05 s) for a server to print its loopback URL in file $1 (pid $2);
# echoes it. On failure shows what the server printed (and $1's .err twin, if any).
wait_for_url() {
    local out="$1" pid="$2" url=""
    for _ in $(seq 200); do
        url="$(grep -o 'http://127\.0\.0\.1:[0-9]*/' "$out" 2>/dev/null | head -n1 || true)"
        [[ -n "$url" ]] && { echo "${url%/}"; return 0; }
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    echo "the server did not start; its output:" >&2
    cat "$out" >&2
    [[ -f "${out%.out}.err" ]] && cat "${out%.out}.err" >&2
    return 1
}

# Converts wrk's latency (850.00us, 1.23ms, 1.02s, 2.00m) to milliseconds.
to_ms() {
    awk -v v="$1" 'BEGIN {
        n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
        if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000
        printf "%.3f", n }'
}

CLK_TCK="$(getconf CLK_TCK)"
# CPU time (user + system, in clock ticks) process $1 has used so far.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# The median of column $2 of file $1.
median() { sort -g -k"$2","$2" "$1" | awk -v c="$2" '{v[NR] = $c} END {m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; print m}'; }

# Peak resident memory of process $1.
peak_rss() { awk '/^VmHWM:/ {printf "%.1f MiB", $2 / 1024}' "/proc/$1/status" 2>/dev/null || echo "?"; }

# wrk's "12.34MB read" → bytes.
to_bytes() {
    awk -v v="$1" 'BEGIN {
        n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
        if (u == "KB") n *= 1024; else if (u == "MB") n *= 1048576; else if (u == "GB") n *= 1073741824; else if (u == "TB") n *= 1099511627776
        printf "%.0f", n }'
}
