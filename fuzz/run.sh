#!/usr/bin/env bash
# Runs every fuzz target under cargo-fuzz for SECONDS each (default 60) and prints, per target,
# the inputs run and whether it crashed. Needs a nightly toolchain and cargo-fuzz
# (`cargo install cargo-fuzz`). The Lambda target starts from AWS's sample events, which the
# aws_lambda_events crate ships in its fixtures.
set -uo pipefail
cd "$(dirname "$0")"
seconds="${SECONDS_PER_TARGET:-${1:-60}}"
fixtures="$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/aws_lambda_events-*/src/fixtures 2>/dev/null | tail -1)"
mkdir -p corpus/lambda_event
if [ -n "$fixtures" ]; then
  cp "$fixtures"/example-apigw-*.json "$fixtures"/example-alb-*.json corpus/lambda_event/ 2>/dev/null || true
fi
status=0
for target in querydict resolve signing multipart form lambda_event; do
  mkdir -p "corpus/$target"
  log="$(mktemp)"
  cargo +nightly fuzz run "$target" "corpus/$target" -- -max_total_time="$seconds" -max_len=4096 >"$log" 2>&1
  rc=$?
  runs="$(grep -o 'Done [0-9]* runs' "$log" | tail -1 | awk '{print $2}')"
  if [ "$rc" -eq 0 ]; then
    echo "$target: ${runs:-?} inputs in ${seconds} s, no crash"
  else
    status=1
    echo "$target: CRASHED (exit $rc); the input is under fuzz/artifacts/$target/"
    grep -A5 -m1 'panicked\|ERROR' "$log" || tail -20 "$log"
  fi
  rm -f "$log"
done
exit "$status"
