#!/usr/bin/env bash
# demo.sh — sets up a fresh Debian machine, builds pyrocpp and runs the main demo: C++ values
# crossing every Pyro serializer, read by Python and answered by Python.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPYRO_BENCH=ON -DPYRO_SANITIZE=OFF >/dev/null
cmake --build build -j2 --target values
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
build/examples/values "$dir"
/usr/bin/python3 examples/values/read_with_python.py "$dir"
echo
build/examples/values "$dir" | sed -n '/^from Python/,$p'
