#!/usr/bin/env bash
# test.sh [--quick] — sets up a fresh Debian machine, builds pyrocpp and runs the whole test suite:
# unit and golden-vector tests (ctest), live interop with Python (pytest), the benchmark smoke
# run, the same tests under ASan+UBSan, and every fuzz target for 60 s. --quick skips the
# sanitizer build and the fuzzing.
set -euo pipefail
cd "$(dirname "$0")/.."
quick=0
[[ ${1:-} == --quick ]] && quick=1

step() { printf '\n== %s\n' "$*"; }

step "setup"
scripts/setup.sh

step "format (clang-format)"
scripts/check-format.sh

step "build"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPYRO_BENCH=ON -DPYRO_SANITIZE=OFF >/dev/null
cmake --build build -j2

step "unit and golden-vector tests"
ctest --test-dir build --output-on-failure -j2

step "live interop with Python (pytest)"
PYROCPP_BUILD_DIR=build /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/interop
PYROCPP_BUILD_DIR=build /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/examples

step "benchmark smoke run"
PYROCPP_BUILD_DIR=build /usr/bin/python3 bench/serializers.py --quick
bench/run --quick --build build --output "$(mktemp --suffix=.json)"

if ((quick)); then
  step "quick mode: sanitizers and fuzzing skipped"
  exit 0
fi

step "sanitizer build (ASan + UBSan)"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DPYRO_SANITIZE=ON -DPYRO_BENCH=OFF >/dev/null
cmake --build build-asan -j2
ctest --test-dir build-asan --output-on-failure -j2
PYROCPP_BUILD_DIR=build-asan /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/interop
PYROCPP_BUILD_DIR=build-asan /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/examples

step "fuzzing (60 s per target)"
scripts/fuzz.sh 60

step "all tests passed"
