#!/usr/bin/env bash
# setup.sh — installs every Debian package pyrocpp needs to build, test, fuzz and benchmark.
# Idempotent: packages already present are skipped by apt-get; safe to run on every build.
# Runs apt-get as root, or through sudo when not root.
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake pkg-config git clang clang-format
  # libraries (DESIGN.md "Dependencies"); Boost 1.74 is Debian 12's default, do not mix 1.81
  libboost-dev rapidjson-dev libmsgpack-cxx-dev zlib1g-dev libssl-dev libsqlite3-dev
  libspdlog-dev libfmt-dev libcli11-dev
  # tests and benchmarks
  libgtest-dev libgmock-dev googletest libbenchmark-dev
  # live interop peers and the pytest runner (installed for /usr/bin/python3)
  python3 python3-pytest python3-pyro4 python3-serpent python3-msgpack
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "setup: all ${#packages[@]} packages present"
  exit 0
fi

sudo=()
if [[ $(id -u) -ne 0 ]]; then sudo=(sudo); fi
echo "setup: installing ${missing[*]}"
"${sudo[@]}" apt-get update -q
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
