"""Live interop: our C++ Proxy (tests/interop/interop_client.cpp) calling a Python Pyro daemon
(pyro4_server.py) over loopback. Debian's Pyro4 over protocol 48 with serpent, json, marshal and
msgpack (when installed), with and without an HMAC key; and, when PYRO5_PATH names a Pyro5
checkout, Pyro5 over 502.

interop_client prints one JSON line per check; every check must be there and pass (or be
skipped where it does not apply: HMAC needs protocol 48 and a key)."""
import json
import pathlib
import re
import subprocess
import tempfile
import threading
from importlib.util import find_spec

import pytest

from conftest import HAVE_PYRO5, build_program

HERE = pathlib.Path(__file__).resolve().parent
PYTHON = "/usr/bin/python3"  # Debian's Pyro4/serpent are installed for this interpreter

CHECKS = [
    "scalars", "bigints", "floats", "unicode", "containers", "tuples", "bytes", "typed_calls",
    "kwargs", "exception_builtin", "exception_custom", "oneway", "attributes", "batch",
    "streaming", "metadata", "handshake_reject", "handshake_accept", "other_protocol",
    "annotations", "correlation", "compression", "hmac_right_key", "hmac_wrong_key", "autoproxy",
]
HMAC_CHECKS = {"hmac_right_key", "hmac_wrong_key"}
# msgpack is optional in Pyro: tested when Python has it.
SERIALIZERS = ["serpent", "json", "marshal"] + (["msgpack"] if find_spec("msgpack") else [])
KEY = "interop-secret-\u00e9"


class Server:
    """pyro4_server.py in a child process; killed when the test is done."""

    def __init__(self, *args):
        # stderr goes to a file: a pipe nobody reads could fill up and stall the daemon.
        self.errors = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen([PYTHON, str(HERE / "pyro4_server.py"), *args],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.errors, text=True)
        self.uris = {}
        watchdog = threading.Timer(20, self.proc.kill)  # a daemon that never gets ready
        watchdog.start()
        try:
            for line in self.proc.stdout:
                m = re.match(r"(service|guarded) uri: (\S+)$", line.strip())
                if m:
                    self.uris[m.group(1)] = m.group(2)
                if line.strip() == "ready.":
                    break
            if set(self.uris) != {"service", "guarded"}:
                self.errors.seek(0)
                raise RuntimeError("pyro4_server.py did not start: " + self.errors.read())
        except BaseException:
            self.stop()
            raise
        finally:
            watchdog.cancel()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)
        for stream in (self.proc.stdin, self.proc.stdout, self.errors):
            stream.close()


def serve(*args):
    server = Server(*args)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def pyro4_daemon():
    yield from serve()


@pytest.fixture(scope="module")
def pyro4_keyed_daemon():
    yield from serve("--key", KEY)


@pytest.fixture(scope="module")
def pyro5_daemon():
    if not HAVE_PYRO5:
        pytest.skip("no Python Pyro5 on this machine (set PYRO5_PATH to a checkout)")
    yield from serve("--pyro5")


def run_client(server, serializer, protocol, key=None, check="all"):
    """Runs interop_client and returns {check: result dict}."""
    args = [str(build_program("tests/interop_client")), "--uri", server.uris["service"],
            "--guarded-uri", server.uris["guarded"], "--serializer", serializer,
            "--protocol", str(protocol), "--check", check]
    if key is not None:
        args += ["--key", key]
    proc = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          timeout=60)
    results = {}
    for line in proc.stdout.splitlines():
        record = json.loads(line)
        assert set(record) <= {"check", "ok", "detail", "skipped"}, record
        results[record["check"]] = record
    all_ok = all(r["ok"] for r in results.values())
    assert proc.returncode == (0 if all_ok else 1), proc.stderr
    return results


def assert_checks(results, skipped=()):
    assert list(results) == CHECKS
    failed = {name: r["detail"] for name, r in results.items() if not r["ok"]}
    assert not failed
    assert {name for name, r in results.items() if r.get("skipped")} == set(skipped)


@pytest.mark.parametrize("serializer", SERIALIZERS)
def test_cpp_proxy_against_pyro4_daemon(pyro4_daemon, serializer):
    assert_checks(run_client(pyro4_daemon, serializer, 48), skipped=HMAC_CHECKS)


@pytest.mark.parametrize("serializer", SERIALIZERS)
def test_cpp_proxy_against_pyro4_daemon_with_hmac_key(pyro4_keyed_daemon, serializer):
    assert_checks(run_client(pyro4_keyed_daemon, serializer, 48, key=KEY))


def test_a_failing_check_is_reported(pyro4_keyed_daemon):
    # Without the key every call fails: the client must say so rather than pass.
    results = run_client(pyro4_keyed_daemon, "serpent", 48, check="scalars")
    assert results["scalars"]["ok"] is False
    assert "hmac key config not symmetric" in results["scalars"]["detail"]


def test_each_check_runs_alone(pyro4_daemon):
    results = run_client(pyro4_daemon, "serpent", 48, check="correlation")
    assert list(results) == ["correlation"] and results["correlation"]["ok"]


@pytest.mark.parametrize("serializer", SERIALIZERS)
def test_cpp_proxy_against_pyro5_daemon(pyro5_daemon, serializer):
    assert_checks(run_client(pyro5_daemon, serializer, 502), skipped=HMAC_CHECKS)
