#!/usr/bin/env bash
# check-format.sh — fails when a C++ file is not as clang-format (.clang-format) writes it.
set -euo pipefail
cd "$(dirname "$0")/.."
files=$(git ls-files '*.cpp' '*.hpp' '*.h')
if ! clang-format --dry-run --Werror $files 2>/tmp/clang-format.$$; then
  head -n 40 /tmp/clang-format.$$
  rm -f /tmp/clang-format.$$
  echo "format: run clang-format -i on the files above" >&2
  exit 1
fi
rm -f /tmp/clang-format.$$
echo "format: $(echo $files | wc -w) files clean"
