#!/usr/bin/env bash
# scripts/fuzz.sh: builds the fuzz preset (clang 14, libFuzzer, ASan + UBSan)
# and runs every fuzz target of fuzz/ for FUZZ_SECONDS each (docs/fuzzing.md).
#   make fuzz          FUZZ_SECONDS=600 (the default): >= 10^6 executions of
#                      the cheap targets (fuzz_quantize, fuzz_codebook)
#   make fuzz-smoke    FUZZ_SECONDS=60, CI's run
# Environment:
#   FUZZ_SECONDS   seconds per target (default 600)
#   FUZZ_TARGETS   the targets to run, space separated (default: all five)
#   FUZZ_SELFTEST  1 (default): first check that each target aborts when one
#                  output byte of one ISA is flipped (QKERN_FUZZ_TAMPER), once
#                  per ISA, on its seed corpus; 0 skips it
# Each target works on build/fuzz/corpus/<target>/, seeded from
# fuzz/corpus/<target>/ (never written to); crash, timeout and leak inputs go
# to build/fuzz/artifacts/, logs to build/fuzz/logs/. Prints one line per
# target (status, executions, executions per second) and exits nonzero if any
# target found a crash, a mismatch or a sanitizer report, or failed its self-test.
set -euo pipefail
cd "$(dirname "$0")/.."

FUZZ_SECONDS=${FUZZ_SECONDS:-600}
FUZZ_TARGETS=${FUZZ_TARGETS:-"fuzz_quantize fuzz_codebook fuzz_gemm fuzz_lut_gemm fuzz_conv"}
FUZZ_SELFTEST=${FUZZ_SELFTEST:-1}
build=build/fuzz

cmake --preset fuzz
cmake --build --preset fuzz

mkdir -p "$build/artifacts" "$build/logs" "$build/corpus" "$build/selftest"
# Halt on the first report (the library is built with -fno-sanitize-recover=all
# too), with stacks; leaks are reported by libFuzzer's own -detect_leaks.
export ASAN_OPTIONS="halt_on_error=1:abort_on_error=1:detect_leaks=1:print_stacktrace=1:symbolize=1"
export UBSAN_OPTIONS="halt_on_error=1:abort_on_error=1:print_stacktrace=1:symbolize=1"
unset QKERN_MAX_ISA QKERN_VERBOSE QKERN_FUZZ_TAMPER QKERN_FUZZ_QUIET QKERN_JIT QKERN_JIT_DUMP
# JIT kernels: no perf map files in /tmp from fuzzing.
export QKERN_JIT_PERF_MAP=0

for t in $FUZZ_TARGETS; do
  if [ ! -x "$build/fuzz/$t" ]; then
    echo "fuzz.sh: no target $t (known: fuzz_quantize fuzz_codebook fuzz_gemm fuzz_lut_gemm fuzz_conv)" >&2
    exit 2
  fi
done

failed=0
summary=()

# The self-test: a target that does not abort when one ISA's output is wrong
# cannot detect a wrong answer. Every ISA the machine has, on the seed corpus.
if [ "$FUZZ_SELFTEST" = 1 ]; then
  for t in $FUZZ_TARGETS; do
    seeds=fuzz/corpus/$t
    first=$(find "$seeds" -type f | sort | head -n 1)
    isas=$("$build/fuzz/$t" "$first" 2>&1 | sed -n 's/^fuzz: comparing ISAs //p' | tr -d ',')
    for isa in $isas; do
      log=$build/selftest/$t.$isa.log
      if QKERN_FUZZ_TAMPER=$isa "$build/fuzz/$t" -runs=0 -artifact_prefix="$build/selftest/$t.$isa." \
           "$seeds" > "$log" 2>&1; then
        echo "fuzz.sh: SELF-TEST FAILED: $t did not notice a wrong $isa output ($log)" >&2
        failed=1
      elif ! grep -qE "MISMATCH on isa $isa( |$)" "$log"; then
        echo "fuzz.sh: SELF-TEST FAILED: $t aborted for another reason with $isa tampered ($log)" >&2
        failed=1
      fi
    done
    echo "fuzz.sh: self-test $t: a flipped output byte aborts on each of: ${isas:-none}"
  done
  [ "$failed" = 0 ] || exit 1
fi

for t in $FUZZ_TARGETS; do
  corpus=$build/corpus/$t
  log=$build/logs/$t.log
  mkdir -p "$corpus"
  cp -n fuzz/corpus/"$t"/* "$corpus"/ 2>/dev/null || true
  echo "fuzz.sh: $t for ${FUZZ_SECONDS}s (log: $log)"
  rc=0
  "$build/fuzz/$t" "$corpus" -max_total_time="$FUZZ_SECONDS" -print_final_stats=1 -timeout=60 \
    -max_len=4096 -artifact_prefix="$build/artifacts/$t-" > "$log" 2>&1 || rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
  files=$(find "$corpus" -type f | wc -l)
  if [ "$rc" = 0 ]; then
    line=$(printf '%-14s ok      %10s executions  %6s/s  corpus %s' "$t" "${execs:-?}" "${rate:-?}" "$files")
  else
    failed=1
    artifact=$(sed -n 's/^.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
    line=$(printf '%-14s FAILED  %10s executions  %6s/s  rc %s  %s' "$t" "${execs:-?}" "${rate:-?}" "$rc" \
           "${artifact:-(see $log)}")
    grep -m 1 -A 2 -E "MISMATCH|runtime error|ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)" "$log" |
      sed 's/^/    /' >&2 || true
  fi
  echo "$line"
  summary+=("$line")
done

echo "fuzz.sh: summary (${FUZZ_SECONDS}s per target)"
printf '  %s\n' "${summary[@]}"
exit "$failed"
