"""Live interop: Python Pyro4 (Debian's) and, when present, Python Pyro5 clients calling the C++
pyro-echoserver over loopback, with every serializer: values, exceptions with their class and
remote traceback, oneway calls, attributes, remote iterators, metadata and private names."""
import math
import re
import subprocess
import time

import pytest

import Pyro4
import Pyro4.errors
import Pyro4.util

from conftest import HAVE_PYRO5, build_program

VALUES = [None, True, 42, -2**70, 3.25, "h\u00e9llo \U0001F600", [1, [2, "three"]], {"a": 1, "b": [None]}]


@pytest.fixture(scope="module")
def echoserver():
    program = build_program("tools/pyro-echoserver")
    proc = subprocess.Popen([str(program), "-H", "127.0.0.1", "-p", "0"], stdout=subprocess.PIPE, text=True)
    uri = None
    lines = []
    deadline = time.time() + 10
    while time.time() < deadline:
        line = proc.stdout.readline()
        lines.append(line)
        m = re.match(r"echo uri: (\S+)", line)
        if m:
            uri = m.group(1)
        if line.strip() == "echoserver running.":
            break
    assert lines[0].strip() == "Starting Pyro's built-in test echo server."
    assert lines[1].strip() == "object name: test.echoserver"
    assert uri and uri.startswith("PYRO:test.echoserver@127.0.0.1:")
    yield uri
    proc.kill()
    proc.wait()


@pytest.mark.parametrize("serializer", ["serpent", "json", "marshal", "msgpack"])
def test_pyro4_client_calls_the_cpp_echoserver(echoserver, serializer):
    Pyro4.config.SERIALIZER = serializer
    Pyro4.config.SERIALIZERS_ACCEPTED.add(serializer)
    with Pyro4.Proxy(echoserver) as p:
        for v in VALUES:
            assert p.echo(v) == v
        if serializer in ("serpent", "marshal"):
            assert p.echo((1, 2)) == (1, 2)
        assert math.isnan(p.nan())
        assert p.inf() == float("inf")
        assert list(p.generator()) == ["one", "two", "three"]
        if serializer != "marshal":  # Pyro4's marshal cannot send attribute access (kwargs None)
            assert p.verbose is False
        p.oneway_echo("ignored")
        assert p.__dunder__() == "should be allowed (dunder)"
        assert "echo" in p._pyroMethods and "oneway_echo" in p._pyroOneway and p._pyroAttrs == {"verbose"}
        with pytest.raises(AttributeError):
            p._private()


def test_pyro4_client_sees_the_exception_class_and_the_remote_traceback(echoserver):
    Pyro4.config.SERIALIZER = "serpent"
    with Pyro4.Proxy(echoserver) as p:
        with pytest.raises(ValueError) as excinfo:
            p.error_with_text()
        assert str(excinfo.value) == "the message of the error"
        tb = "".join(Pyro4.util.getPyroTraceback(excinfo.type, excinfo.value, excinfo.tb))
        assert "Remote traceback" in tb and "ValueError: the message of the error" in tb


def test_pyro4_client_sets_a_remote_attribute(echoserver):
    Pyro4.config.SERIALIZER = "serpent"
    with Pyro4.Proxy(echoserver) as p:
        p.verbose = True
        assert p.verbose is True
        p.verbose = False
        assert p.verbose is False


def test_pyro4_client_sends_correlation_ids_and_annotations(echoserver):
    import uuid
    Pyro4.config.SERIALIZER = "serpent"
    with Pyro4.Proxy(echoserver) as p:
        Pyro4.current_context.correlation_id = uuid.uuid4()
        Pyro4.current_context.annotations = {"XYZZ": b"payload"}
        assert p.echo("with context") == "with context"
        Pyro4.current_context.correlation_id = None
        Pyro4.current_context.annotations = {}


@pytest.mark.skipif(not HAVE_PYRO5, reason="no Python Pyro5 on this machine (set PYRO5_PATH to a checkout)")
@pytest.mark.parametrize("serializer", ["serpent", "json", "marshal", "msgpack"])
def test_pyro5_client_calls_the_cpp_echoserver(echoserver, serializer):
    import Pyro5.api
    import Pyro5.errors
    Pyro5.config.SERIALIZER = serializer
    with Pyro5.api.Proxy(echoserver) as p:
        for v in VALUES:
            assert p.echo(v) == v
        assert list(p.generator()) == ["one", "two", "three"]
        with pytest.raises(ValueError, match="the message of the error"):
            p.error_with_text()
        assert "".join(Pyro5.errors.get_pyro_traceback()) != ""
        if serializer != "marshal":  # Pyro5's marshal cannot send attribute access (kwargs None)
            assert p.verbose is False
        p.oneway_echo("x")
        with pytest.raises(AttributeError):
            p._private()


def test_garbage_gets_pyros_connectfail_and_the_server_keeps_serving(echoserver):
    import socket
    host, port = echoserver.split("@")[1].split(":")
    with socket.create_connection((host, int(port))) as s:
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
        reply = s.recv(1000)
        assert reply[:6] == b"PYRO\x01\xf6" and reply[6] == 3  # CONNECTFAIL of protocol 502
        assert reply.endswith(b"invalid data")
    with Pyro4.Proxy(echoserver) as p:
        assert p.echo(1) == 1


def test_shutdown_stops_the_server(echoserver_process_for_shutdown):
    uri, proc = echoserver_process_for_shutdown
    with Pyro4.Proxy(uri) as p:
        p.shutdown()
    assert proc.wait(timeout=10) == 0


@pytest.fixture
def echoserver_process_for_shutdown():
    program = build_program("tools/pyro-echoserver")
    proc = subprocess.Popen([str(program), "-H", "127.0.0.1"], stdout=subprocess.PIPE, text=True)
    uri = None
    while uri is None:
        line = proc.stdout.readline()
        if not line:
            break
        m = re.match(r"echo uri: (\S+)", line)
        if m:
            uri = m.group(1)
    yield uri, proc
    if proc.poll() is None:
        proc.kill()
        proc.wait()
