"""Shared fixtures for the live interop tests: where the C++ build is, and how to talk to the
C++ helper programs. Run with /usr/bin/python3 -m pytest (Debian's Pyro4, serpent and msgpack
are installed for that interpreter)."""
import os
import pathlib
import struct
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("PYROCPP_BUILD_DIR", ROOT / "build"))

# A Python Pyro5 checkout, when the machine has one (PYRO5_PATH), is a second live peer.
PYRO5_PATH = os.environ.get("PYRO5_PATH")
if PYRO5_PATH and PYRO5_PATH not in sys.path:
    sys.path.insert(0, PYRO5_PATH)
try:
    import Pyro5.serializers  # noqa: F401
    HAVE_PYRO5 = True
except ImportError:
    HAVE_PYRO5 = False


def build_program(relative):
    path = BUILD / relative
    if not path.exists():
        pytest.fail("%s is not built: build the project first (scripts/test.sh does)" % path)
    return path


def run_codec(serializer, dialect, payloads, *flags):
    """Sends payloads through tests/codec_tool: decode + (reconstruct) + encode in C++.
    Returns a list of ("O", bytes) or ("E", message) pairs, one per payload."""
    tool = build_program("tests/codec_tool")
    data = b"".join(struct.pack(">I", len(p)) + p for p in payloads)
    proc = subprocess.run([str(tool), serializer, dialect, *flags], input=data,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120, check=True)
    out, results, pos = proc.stdout, [], 0
    while pos < len(out):
        status = chr(out[pos])
        (n,) = struct.unpack(">I", out[pos + 1:pos + 5])
        body = out[pos + 5:pos + 5 + n]
        results.append((status, body if status == "O" else body.decode("utf-8", "replace")))
        pos += 5 + n
    assert len(results) == len(payloads)
    return results
