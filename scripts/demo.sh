#!/usr/bin/env bash
# demo.sh — sets up a fresh Debian machine, builds pyrocpp and runs the main demo: the C++ echo
# server, called by a C++ client and by a Python Pyro4 client (and Pyro5's when PYRO5_PATH
# points at a checkout), then C++ values crossing every serializer to Python and back.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPYRO_BENCH=ON -DPYRO_SANITIZE=OFF >/dev/null
cmake --build build -j2 --target pyro-echoserver echo_client values

log=$(mktemp)
dir=$(mktemp -d)
build/tools/pyro-echoserver -H localhost -p 0 >"$log" &
server=$!
trap 'kill $server 2>/dev/null; rm -rf "$log" "$dir"' EXIT
for _ in $(seq 100); do grep -q "echoserver running" "$log" && break; sleep 0.1; done
cat "$log"
uri=$(sed -n 's/^echo uri: //p' "$log")
echo
build/examples/echo_client "$uri"
echo
/usr/bin/python3 examples/echo/client.py "$uri"
if [[ -n ${PYRO5_PATH:-} ]]; then
  echo
  PYTHONPATH=$PYRO5_PATH /usr/bin/python3 examples/echo/client.py "$uri" --pyro5
fi

echo
echo "== values crossing every serializer"
build/examples/values "$dir" >/dev/null
/usr/bin/python3 examples/values/read_with_python.py "$dir"
build/examples/values "$dir" | sed -n '/^from Python/,$p'
