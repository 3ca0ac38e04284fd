#!/usr/bin/env bash
# demo.sh — sets up a fresh Debian machine, builds pyrocpp and runs the main demo: the C++ name
# server, the C++ echo server registered in it, and a C++ client and a Python Pyro4 client (and
# Pyro5's when PYRO5_PATH points at a checkout) finding it by name and calling it; then C++ values
# crossing every serializer to Python and back.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPYRO_BENCH=ON -DPYRO_SANITIZE=OFF >/dev/null
cmake --build build -j2 --target pyro-ns pyro-nsc pyro-echoserver echo_client values

dir=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; rm -rf "$dir"' EXIT
wait_for() {  # wait_for FILE TEXT: until the server's log shows TEXT (at most 10 s)
  for _ in $(seq 100); do grep -q "$2" "$1" && return 0; sleep 0.1; done
  cat "$1"
  return 1
}

echo "== the name server (pyro-ns)"
build/tools/pyro-ns -n localhost -p 0 >"$dir/ns.log" &
pids+=($!)
wait_for "$dir/ns.log" "^URI = "
cat "$dir/ns.log"
ns_port=$(sed -n 's/^NS running on localhost:\([0-9]*\).*/\1/p' "$dir/ns.log")

echo
echo "== the C++ echo server, registered in the name server"
PYRO_NS_HOST=localhost PYRO_NS_PORT=$ns_port build/tools/pyro-echoserver -H localhost -p 0 -n \
  >"$dir/echo.log" &
pids+=($!)
wait_for "$dir/echo.log" "echoserver running"
cat "$dir/echo.log"
build/tools/pyro-nsc -n localhost -p "$ns_port" list

name="PYRONAME:test.echoserver@localhost:$ns_port"
echo
echo "== clients calling $name"
build/examples/echo_client "$name"
echo
/usr/bin/python3 examples/echo/client.py "$name"
if [[ -n ${PYRO5_PATH:-} ]]; then
  echo
  PYTHONPATH=$PYRO5_PATH /usr/bin/python3 examples/echo/client.py "$name" --pyro5
fi

echo
echo "== values crossing every serializer"
build/examples/values "$dir" >/dev/null
/usr/bin/python3 examples/values/read_with_python.py "$dir"
build/examples/values "$dir" | sed -n '/^from Python/,$p'
