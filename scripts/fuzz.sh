#!/usr/bin/env bash
# fuzz.sh [seconds] — builds the libFuzzer targets with clang (ASan + UBSan) and runs each for the
# given time (default 60 s), two at a time, with corpora seeded from the recorded vectors.
# Fails if any target finds a crash. Findings are left in build-fuzz/findings/.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}

CC=clang CXX=clang++ cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPYRO_FUZZ=ON >/dev/null
cmake --build build-fuzz -j2

corpora=build-fuzz/corpus
/usr/bin/python3 scripts/seed-fuzz-corpus.py "$corpora"
mkdir -p build-fuzz/findings

run() {
  local target=$1
  mkdir -p "$corpora/$target"
  echo "fuzz: $target for ${seconds}s"
  if ! build-fuzz/tests/fuzz/$target -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 \
      -artifact_prefix=build-fuzz/findings/$target- -print_final_stats=1 "$corpora/$target" \
      >build-fuzz/$target.log 2>&1; then
    echo "fuzz: $target FAILED"; tail -n 40 build-fuzz/$target.log; return 1
  fi
  grep -E "stat::number_of_executed_units|Done" build-fuzz/$target.log | tail -n 2 | sed "s/^/fuzz: $target: /"
}

targets=(fuzz_serpent fuzz_json fuzz_marshal fuzz_msgpack fuzz_uri fuzz_header fuzz_annotations)
status=0
for ((i = 0; i < ${#targets[@]}; i += 2)); do
  pids=()
  for t in "${targets[@]:i:2}"; do run "$t" & pids+=($!); done
  for p in "${pids[@]}"; do wait "$p" || status=1; done
done
exit $status
