"""Live interop: Python Pyro5 proxies (protocol 502, the checkout named by PYRO5_PATH) calling the
C++ Daemon serving the interop service (tests/interop/interop_server), with serpent, json, marshal
and msgpack. Every test also runs against a real Pyro5 daemon serving the same service in this
process (pyro4_server.py's service, built with Pyro5), so an expectation written here is one
Pyro5's own daemon meets; where the two daemons differ, the test says so and pins both behaviours.

The Pyro5 counterpart of test_pyro4_to_cpp.py. Without Pyro5 (conftest.HAVE_PYRO5) the module
skips."""
import contextlib
import os
import re
import select
import socket
import struct
import subprocess
import time
import uuid
import zlib

import pytest

from conftest import HAVE_PYRO5, build_program

if not HAVE_PYRO5:
    pytest.skip("Pyro5 not available: set PYRO5_PATH to a Pyro5 checkout", allow_module_level=True)

import Pyro5.api  # noqa: E402
import Pyro5.client  # noqa: E402
import Pyro5.core  # noqa: E402
import Pyro5.errors  # noqa: E402
import Pyro5.protocol  # noqa: E402
import Pyro5.serializers  # noqa: E402

from pyro4_server import build_service  # noqa: E402
from pyro4_service import python_daemon  # noqa: E402

Service, Sub = build_service(Pyro5.api, Pyro5.api.current_context)
context = Pyro5.api.current_context
config = Pyro5.api.config

# msgpack is a Pyro5 serializer only when the msgpack module is installed
SERIALIZERS = [s for s in ["serpent", "json", "marshal", "msgpack"] if s in Pyro5.serializers.serializers]
PEERS = ["cpp", "pyro5"]
SERVICE_METHODS = {"add", "annotated", "calc", "correlation", "count", "echo", "fail_custom",
                   "fail_value", "fire", "kwcall", "last", "make_sub", "upper"}
UUID_TEXT = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
TIMEOUT = 10


@contextlib.contextmanager
def cpp_daemon(*args):
    """Runs tests/interop_server with args; yields {object id: uri text}; kills it afterwards."""
    program = build_program("tests/interop_server")
    proc = subprocess.Popen([str(program), *args], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        output = b""
        deadline = time.monotonic() + TIMEOUT
        while not output.endswith(b"running.\n"):
            ready, _, _ = select.select([proc.stdout], [], [], max(deadline - time.monotonic(), 0))
            if not ready:
                pytest.fail("interop_server did not start in time")
            chunk = os.read(proc.stdout.fileno(), 4096)
            if not chunk:
                pytest.fail("interop_server exited: " + proc.stderr.read().decode())
            output += chunk
        yield dict(line.split() for line in output.decode().splitlines()[:-1])
    finally:
        proc.kill()
        proc.wait(timeout=TIMEOUT)
        proc.stdout.close()
        proc.stderr.close()


def pyro5_daemon(kind):
    """The same service in a Python Pyro5 daemon (pyro4_service.python_daemon)."""
    return python_daemon(Pyro5.api, Service, Sub, kind)


class Daemons(object):
    """Daemons of one kind, started on first use (one per peer) and stopped with the module."""

    def __init__(self, stack, kind):
        self.stack, self.kind, self.uris = stack, kind, {}

    def __getitem__(self, peer):
        if peer not in self.uris:
            started = cpp_daemon("--kind", self.kind) if peer == "cpp" else pyro5_daemon(self.kind)
            self.uris[peer] = self.stack.enter_context(started)
        return self.uris[peer]


@pytest.fixture(scope="module")
def daemons():
    with contextlib.ExitStack() as stack:
        yield Daemons(stack, "service")


@pytest.fixture(scope="module")
def guarded_daemons():
    with contextlib.ExitStack() as stack:
        yield Daemons(stack, "guarded")


def reset_context():
    context.correlation_id = None
    context.annotations = {}
    context.response_annotations = {}


@pytest.fixture(autouse=True)
def clean_pyro5_state():
    """Pyro5.api.config is per process and the call context per thread and sticky: every test
    starts with the default serializer and no context, and leaves the config as it found it."""
    saved = config.as_dict()
    config.SERIALIZER = "serpent"
    reset_context()
    yield
    reset_context()
    for name, value in saved.items():
        setattr(config, name, value)


def proxy(uri, serializer, cls=Pyro5.api.Proxy):
    p = cls(uri)
    p._pyroSerializer = serializer
    p._pyroTimeout = TIMEOUT
    return p


def last_becomes(p, value, timeout=5):
    """Whether the service's last() returns value within the timeout (oneway calls run later)."""
    deadline = time.monotonic() + timeout
    while p.last() != value:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def location_free(text):
    """An error text without the daemon's address, which differs between the two daemons."""
    return re.sub(r"\('127\.0\.0\.1', \d+\)", "<location>", text)


# ---------------------------------------------------------------------------------------------
# Calls and values
# ---------------------------------------------------------------------------------------------

def every(value):
    return {s: value for s in SERIALIZERS}


# (argument, what comes back) per serializer; None as result: the proxy refuses to send it.
RICH = {
    "big int": (-2**70, every(-2**70)),
    "float": (3.25, every(3.25)),
    "unicode": ("h\u00e9llo \U0001F600 \u4e16", every("h\u00e9llo \U0001F600 \u4e16")),
    "nested": ([1, [2.5, "three", None], {"k": [True, False]}],
               every([1, [2.5, "three", None], {"k": [True, False]}])),
    "dict": ({"a": {"b": [1, 2]}, "c": "d"}, every({"a": {"b": [1, 2]}, "c": "d"})),
    "tuple": ((1, "two"), {"serpent": (1, "two"), "json": [1, "two"], "marshal": (1, "two"),
                           "msgpack": [1, "two"]}),
    "set": ({3}, {"serpent": {3}, "json": [3], "marshal": {3}, "msgpack": [3]}),
    "bytes": (b"\x00\xffab", {"serpent": {"data": "AP9hYg==", "encoding": "base64"},
                              "json": None,
                              "marshal": b"\x00\xffab", "msgpack": b"\x00\xffab"}),
}


@pytest.mark.parametrize("peer", PEERS)
@pytest.mark.parametrize("serializer", SERIALIZERS)
def test_rich_values_come_back_as_pyro5s_daemon_returns_them(daemons, peer, serializer):
    with proxy(daemons[peer]["example.service"], serializer) as p:
        for name, (value, expected) in RICH.items():
            want = expected[serializer]
            if want is None:
                with pytest.raises(Pyro5.errors.SerializeError,
                                   match="don't know how to serialize class <class 'bytes'>"):
                    p.echo(value)
                continue
            got = p.echo(value)
            assert got == want and type(got) is type(want), name
        assert p.calc(21, "abc", 1.25) == [42, "ABC", 2.5]
        assert p.add(2**40, 2) == 2**40 + 2
        assert p.upper("mixed Case") == "MIXED CASE"


# Serializer-specific values: (argument, {serializer: result}); an exception class as result: the
# daemon answers with that exception (raised while it decodes the request).
EDGES = {
    "empty set": (set(), {"serpent": (), "json": [], "marshal": set(), "msgpack": []}),
    "complex": (1 + 2j, {"serpent": 1 + 2j, "marshal": 1 + 2j, "msgpack": 1 + 2j}),
    "infinity": (float("inf"), every(float("inf"))),
    "int keys": ({1: "a", 2: "b"}, {"serpent": {1: "a", 2: "b"}, "json": {"1": "a", "2": "b"},
                                    "marshal": {1: "a", 2: "b"}, "msgpack": ValueError}),
    "uuid": (uuid.UUID(int=5), every("00000000-0000-0000-0000-000000000005")),
    "bytearray": (bytearray(b"ab"), {"serpent": {"data": "YWI=", "encoding": "base64"},
                                     "marshal": b"ab", "msgpack": b"ab"}),
}


@pytest.mark.parametrize("peer", PEERS)
@pytest.mark.parametrize("serializer", SERIALIZERS)
def test_serializer_specific_values_come_back_alike(daemons, peer, serializer):
    with proxy(daemons[peer]["example.service"], serializer) as p:
        for name, (value, expected) in EDGES.items():
            if serializer not in expected:
                continue
            want = expected[serializer]
            if isinstance(want, type):
                with pytest.raises(want) as excinfo:
                    p.echo(value)
                assert str(excinfo.value) == "int is not allowed for map key when strict_map_key=True"
                assert excinfo.value._pyroTraceback, name  # raised by the daemon
                continue
            got = p.echo(value)
            assert got == want and type(got) is type(want), name
        assert p.add(1, 1) == 2


@pytest.mark.parametrize("peer", PEERS)
@pytest.mark.parametrize("serializer", SERIALIZERS)
def test_keyword_arguments_bind_as_in_python(daemons, peer, serializer):
    with proxy(daemons[peer]["example.service"], serializer) as p:
        assert p.kwcall(1, c=3, z=9) == {"a": 1, "b": None, "c": 3, "extra": {"z": 9}}
        assert p.kwcall(a="x", b=[1]) == {"a": "x", "b": [1], "c": None, "extra": {}}
        with pytest.raises(TypeError, match=r"kwcall\(\) got multiple values for argument 'a'"):
            p.kwcall(1, a=2)
        with pytest.raises(TypeError) as excinfo:
            p.kwcall(b=1)
        assert str(excinfo.value) == "Service.kwcall() missing 1 required positional argument: 'a'"
        with pytest.raises(TypeError) as excinfo:
            p.add(1)
        assert str(excinfo.value) == "Service.add() missing 1 required positional argument: 'b'"
        with pytest.raises(TypeError) as excinfo:
            p.add(1, 2, c=3)
        assert str(excinfo.value) == "Service.add() got an unexpected keyword argument 'c'"
        assert excinfo.value._pyroTraceback


@pytest.mark.parametrize("peer", PEERS)
def test_argument_type_errors_are_type_errors_with_different_texts(daemons, peer):
    # Known difference: the C++ service's add() takes typed integers and says which argument is
    # wrong; Python's add() fails at the "+". Both are remote TypeErrors.
    with proxy(daemons[peer]["example.service"], "serpent") as p:
        with pytest.raises(TypeError) as excinfo:
            p.add(1, "x")
        assert excinfo.value._pyroTraceback
        if peer == "cpp":
            assert str(excinfo.value) == "Service.add() argument 'b': expected int, got str"
        else:
            assert str(excinfo.value) == "unsupported operand type(s) for +: 'int' and 'str'"


@pytest.mark.parametrize("peer", PEERS)
@pytest.mark.parametrize("serializer", SERIALIZERS)
def test_compressed_requests_and_replies(daemons, peer, serializer):
    config.COMPRESSION = True  # the proxy compresses large requests (and Pyro5's daemon its replies)
    with proxy(daemons[peer]["example.service"], serializer) as p:
        assert p.echo("x" * 5000) == "x" * 5000
        assert p.echo(list(range(1000))) == list(range(1000))


def raw_exchange(uri, messages):
    """Sends protocol 502 messages on one plain socket; returns the (type, flags, seq, payload) of
    the reply to each (payload decompressed)."""
    location = Pyro5.core.URI(uri)
    replies = []
    with socket.create_connection((location.host, location.port), timeout=TIMEOUT) as sock:
        for message in messages:
            sock.sendall(message.data)
            head = read_exactly(sock, 40)
            # type (B) at 6, serializer (B) at 7, flags and seq (H) at 8 and 10, data and
            # annotation sizes (I) at 12 and 16
            magic, version, mtype, _ser, flags, seq, size, ann_size = struct.unpack(">4sHBBHHII", head[:20])
            assert (magic, version) == (b"PYRO", 502)
            body = read_exactly(sock, ann_size + size)[ann_size:]
            if flags & Pyro5.protocol.FLAGS_COMPRESSED:
                body = zlib.decompress(body)
            replies.append((mtype, flags, seq, body))
    return replies


def read_exactly(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("the daemon closed the connection")
        data += chunk
    return data


@pytest.mark.parametrize("peer", PEERS)
def test_a_compressed_request_is_answered_compressed_only_by_a_compressing_daemon(daemons, peer):
    # Known difference in configuration, not protocol: Pyro5's daemon here shares this process's
    # config (COMPRESSION on), so it compresses its CONNECTOK and large replies; interop_server
    # runs with Pyro's defaults (COMPRESSION off) and answers uncompressed. Both read the
    # compressed request.
    config.COMPRESSION = True
    uri = daemons[peer]["example.service"]
    serializer = Pyro5.serializers.serializers["serpent"]
    connect = Pyro5.protocol.SendingMessage(
        Pyro5.protocol.MSG_CONNECT, 0, 0, serializer.serializer_id,
        serializer.dumps({"handshake": "hello", "object": "example.service"}))
    invoke = Pyro5.protocol.SendingMessage(
        Pyro5.protocol.MSG_INVOKE, 0, 1, serializer.serializer_id,
        serializer.dumpsCall("example.service", "echo", ["x" * 5000], {}))
    assert invoke.flags & Pyro5.protocol.FLAGS_COMPRESSED
    (ctype, cflags, cseq, _), (rtype, rflags, rseq, body) = raw_exchange(uri, [connect, invoke])
    assert (ctype, cseq, rtype, rseq) == (Pyro5.protocol.MSG_CONNECTOK, 0, Pyro5.protocol.MSG_RESULT, 1)
    assert serializer.loads(body) == "x" * 5000
    compressed = peer == "pyro5"
    assert bool(cflags & Pyro5.protocol.FLAGS_COMPRESSED) == compressed
    assert bool(rflags & Pyro5.protocol.FLAGS_COMPRESSED) == compressed


SUB_METADATA = {
    "serpent": {"methods": {"whoami"}, "oneway": (), "attrs": ()},
    "json": {"methods": ["whoami"], "oneway": [], "attrs": []},
    "marshal": {"methods": {"whoami"}, "oneway": set(), "attrs": set()},
    "msgpack": {"methods": ["whoami"], "oneway": [], "attrs": []},
}


@pytest.mark.parametrize("peer", PEERS)
@pytest.mark.parametrize("serializer", SERIALIZERS)
def test_the_daemon_object_answers(daemons, peer, serializer):
    uri = daemons[peer]["example.service"].replace("example.service", "Pyro.Daemon")
    with proxy(uri, serializer) as d:
        assert d.ping() is None
        # Pyro5 lists the ids in registration order (a dict's keys); ours in no particular order
        assert sorted(d.registered()) == ["Pyro.Daemon", "example.service", "example.sub"]
        info = d.info()
        assert re.match(r"^Pyro\.Daemon bound on 127\.0\.0\.1:\d+, NAT None, 3 objects registered\. "
                        r"Servertype: ", info)
        # sets as each serializer writes them: serpent an empty one as (), json and msgpack as lists
        meta = d.get_metadata("example.sub")
        assert meta == SUB_METADATA[serializer]
        assert all(type(meta[k]) is type(SUB_METADATA[serializer][k]) for k in meta)
        meta = d.get_metadata("example.service")
        assert set(meta["methods"]) == SERVICE_METHODS
        assert set(meta["oneway"]) == {"fire"} and set(meta["attrs"]) == {"value"}
        with pytest.raises(Pyro5.errors.DaemonError) as excinfo:
            d.get_metadata("nosuch")
        assert str(excinfo.value) == "unknown object" and excinfo.value._pyroTraceback
        with pytest.raises(Pyro5.errors.PyroError) as excinfo:
            d.get_next_stream_item("no-such-stream")
        assert str(excinfo.value) == "item stream terminated"
        assert d.close_stream("no-such-stream") is None


@pytest.mark.parametrize("peer", PEERS)
@pytest.mark.parametrize("serializer", SERIALIZERS)
def test_the_daemon_objects_differences(daemons, peer, serializer):
    uri = daemons[peer]["example.service"].replace("example.service", "Pyro.Daemon")
    with proxy(uri, serializer) as d:
        registered = d.registered()
        info = d.info()
        # registration order (Pyro5: a dict's keys; ours keeps it too)
        assert registered == ["Pyro.Daemon", "example.sub", "example.service"]
        # Pyro5's get_metadata takes only the object id (ours too, for protocol 502 clients;
        # Pyro4's as_lists argument is accepted from protocol 48 clients only)
        with pytest.raises(TypeError, match=r"get_metadata\(\) takes 2 positional arguments but 3"):
            d.get_metadata("example.sub", True)
        if peer == "pyro5":
            # a thread pool server
            assert re.search(r"Servertype: <SocketServer_Threadpool on 127\.0\.0\.1:\d+; \d+ workers>$", info)
        else:
            # a known difference: ours describes its own server
            assert re.search(r"Servertype: <pyrocpp thread server on 127\.0\.0\.1:\d+; \d+ connections>$", info)


# ---------------------------------------------------------------------------------------------
# Exceptions
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("peer", PEERS)
@pytest.mark.parametrize("serializer", SERIALIZERS)
def test_a_builtin_exception_arrives_as_its_class_with_the_remote_traceback(daemons, peer, serializer):
    with proxy(daemons[peer]["example.service"], serializer) as p:
        with pytest.raises(ValueError) as excinfo:
            try:
                p.fail_value("x")
            except ValueError:
                tb = "".join(Pyro5.errors.get_pyro_traceback())
                raise
        assert type(excinfo.value) is ValueError
        assert excinfo.value.args == ("invalid value: x",)
        remote = excinfo.value._pyroTraceback
        assert isinstance(remote, list) and remote
        # the traceback's lines differ (ours names no Python files); both end with the exception
        assert "".join(remote).rstrip().endswith("ValueError: invalid value: x")
        assert " +--- This exception occurred remotely (Pyro) - Remote traceback:" in tb  # Pyro5 spelling
        assert tb.rstrip().endswith(" +--- End of remote traceback")
        assert "ValueError: invalid value: x" in tb
        assert p.add(1, 2) == 3  # the connection carries on


@pytest.mark.parametrize("peer", PEERS)
@pytest.mark.parametrize("serializer", SERIALIZERS)
def test_an_unknown_exception_class_is_pyro5s_serialize_error_and_the_connection_survives(
        daemons, peer, serializer):
    with proxy(daemons[peer]["example.service"], serializer) as p:
        with pytest.raises(Pyro5.errors.SerializeError) as excinfo:
            p.fail_custom(7)
        assert str(excinfo.value) == "unsupported serialized class: interop_service.InteropError"
        assert not hasattr(excinfo.value, "_pyroTraceback")  # raised by the proxy while decoding
        assert p.add(1, 2) == 3


@pytest.mark.parametrize("peer", PEERS)
def test_a_method_that_is_not_exposed_is_refused_by_the_proxy(daemons, peer):
    with proxy(daemons[peer]["example.service"], "serpent") as p:
        with pytest.raises(AttributeError, match="has no exposed attribute or method 'hidden'"):
            p.hidden()


@pytest.mark.parametrize("peer", PEERS)
@pytest.mark.parametrize("serializer", SERIALIZERS)
def test_the_daemon_refuses_what_the_proxy_would_not_send(daemons, peer, serializer):
    with proxy(daemons[peer]["example.service"], serializer) as p:
        p._pyroBind()
        p._pyroMethods.update({"hidden", "nosuch"})  # past the proxy's own check
        with pytest.raises(AttributeError) as excinfo:
            p.hidden()
        assert str(excinfo.value) == "attempt to access unexposed attribute 'hidden'"
        assert excinfo.value._pyroTraceback
        with pytest.raises(AttributeError) as excinfo:
            p.nosuch()
        assert str(excinfo.value) == "'Service' object has no attribute 'nosuch'"
        for name in ("_private", "__init__"):
            with pytest.raises(AttributeError) as excinfo:
                p._pyroInvoke(name, (), {})
            assert str(excinfo.value) == "attempt to access private attribute '%s'" % name
        # attribute access past the proxy: methods and unexposed names are not attributes
        for name in ("hidden", "add"):
            with pytest.raises(AttributeError) as excinfo:
                p._pyroInvoke("__getattr__", (name,), {})
            assert str(excinfo.value) == "attempt to access unexposed or unknown remote attribute '%s'" % name
        for method, args in (("__getattr__", ("nosuch",)), ("__setattr__", ("nosuch", 1))):
            with pytest.raises(AttributeError) as excinfo:
                p._pyroInvoke(method, args, {})
            assert str(excinfo.value) == "type object 'Service' has no attribute 'nosuch'"
        # a oneway call of an unknown method fails silently
        assert p._pyroInvoke("nosuch", (), {}, flags=Pyro5.protocol.FLAGS_ONEWAY) is None
        assert p.add(1, 2) == 3
    with proxy(daemons[peer]["example.service"].replace("example.service", "nosuch"), serializer) as p:
        with pytest.raises(Pyro5.errors.CommunicationError) as excinfo:
            p.add(1, 2)
        assert location_free(str(excinfo.value)) == "connection to <location> rejected: unknown object"


# ---------------------------------------------------------------------------------------------
# Oneway, attributes, batches, streams, metadata, autoproxy
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("peer", PEERS)
@pytest.mark.parametrize("serializer", SERIALIZERS)
def test_a_oneway_call_returns_none_at_once_and_runs(daemons, peer, serializer):
    token = ["fired", serializer, uuid.uuid4().hex]
    with proxy(daemons[peer]["example.service"], serializer) as p:
        assert p.fire(token) is None
        assert last_becomes(p, token)


ATTRIBUTE_SERIALIZERS = [s for s in SERIALIZERS if s != "marshal"]


@pytest.mark.parametrize("peer", PEERS)
@pytest.mark.parametrize("serializer", ATTRIBUTE_SERIALIZERS)
def test_a_remote_attribute_is_read_and_written(daemons, peer, serializer):
    with proxy(daemons[peer]["example.service"], serializer) as p:
        try:
            assert p.value == 42
            p.value = {"set by": serializer}
            assert p.value == {"set by": serializer}
        finally:
            p.value = 42


@pytest.mark.parametrize("peer", PEERS)
def test_pyro5s_marshal_cannot_access_attributes_nor_batch(daemons, peer):
    # Pyro5's MarshalSerializer.dumpsCall iterates the kwargs, which are None for attribute access
    # and the batch call: the proxy fails before anything is sent, whatever the daemon.
    with proxy(daemons[peer]["example.service"], "marshal") as p:
        with pytest.raises(AttributeError, match="'NoneType' object has no attribute 'items'"):
            p.value
        with pytest.raises(AttributeError, match="'NoneType' object has no attribute 'items'"):
            p.value = 1
        batch = Pyro5.api.BatchProxy(p)
        batch.add(1, 2)
        with pytest.raises(AttributeError, match="'NoneType' object has no attribute 'items'"):
            batch()
        assert p.add(1, 2) == 3


@pytest.mark.parametrize("peer", PEERS)
@pytest.mark.parametrize("serializer", ATTRIBUTE_SERIALIZERS)
def test_a_batch_returns_results_in_order_and_raises_at_the_failed_call(daemons, peer, serializer):
    with proxy(daemons[peer]["example.service"], serializer) as p:
        batch = Pyro5.api.BatchProxy(p)
        batch.add(1, 2)
        batch.upper("abc")
        batch.kwcall(1, z=2)
        assert list(batch()) == [3, "ABC", {"a": 1, "b": None, "c": None, "extra": {"z": 2}}]
        batch = Pyro5.api.BatchProxy(p)
        batch.add(1, 2)
        batch.fail_value("q")
        batch.upper("never")
        results = batch()
        assert next(results) == 3
        with pytest.raises(ValueError, match="invalid value: q"):
            next(results)
        assert p.add(2, 2) == 4
        # a oneway batch returns None at once and still runs
        token = "batched " + uuid.uuid4().hex
        batch = Pyro5.api.BatchProxy(p)
        batch.fire(token)
        assert batch(oneway=True) is None
        assert last_becomes(p, token)


@pytest.mark.parametrize("peer", PEERS)
@pytest.mark.parametrize("serializer", SERIALIZERS)
def test_a_generator_streams_its_items(daemons, peer, serializer):
    with proxy(daemons[peer]["example.service"], serializer) as p:
        items = p.count(3)
        assert isinstance(items, Pyro5.client._StreamResultIterator)
        assert list(items) == ["item-0", "item-1", "item-2"]
        assert list(p.count(0)) == []
        partial = p.count(100)
        assert next(partial) == "item-0"
        assert next(partial) == "item-1"
        daemon_uri = daemons[peer]["example.service"].replace("example.service", "Pyro.Daemon")
        with proxy(daemon_uri, serializer) as d:
            # a stream is not tied to its connection: another one can pull its items
            assert d.get_next_stream_item(partial.streamId) == "item-2"
            assert next(partial) == "item-3"
            stream_id = partial.streamId
            partial.close()
            assert p.add(1, 1) == 2
            # the closed stream is gone from the daemon
            with pytest.raises(Pyro5.errors.PyroError, match="item stream terminated"):
                d.get_next_stream_item(stream_id)
            # so is an exhausted one
            done = p.count(1)
            done_id = done.streamId
            assert list(done) == ["item-0"]
            with pytest.raises(Pyro5.errors.PyroError, match="item stream terminated"):
                d.get_next_stream_item(done_id)


@pytest.mark.parametrize("peer", PEERS)
@pytest.mark.parametrize("serializer", SERIALIZERS)
def test_binding_fetches_the_metadata(daemons, peer, serializer):
    with proxy(daemons[peer]["example.service"], serializer) as p:
        p._pyroBind()
        assert p._pyroMethods == SERVICE_METHODS
        assert p._pyroAttrs == {"value"}
        assert p._pyroOneway == {"fire"}
    with proxy(daemons[peer]["example.sub"], serializer) as p:
        p._pyroBind()
        assert (p._pyroMethods, p._pyroAttrs, p._pyroOneway) == ({"whoami"}, set(), set())


@pytest.mark.parametrize("peer", PEERS)
@pytest.mark.parametrize("serializer", ATTRIBUTE_SERIALIZERS)
def test_a_registered_object_comes_back_as_a_proxy(daemons, peer, serializer):
    with proxy(daemons[peer]["example.service"], serializer) as p:
        sub = p.make_sub()
        assert isinstance(sub, Pyro5.api.Proxy)
        assert str(sub._pyroUri) == daemons[peer]["example.sub"]
        # the proxy state that travels: metadata, no serializer nor timeout of its own
        assert (sub._pyroMethods, sub._pyroAttrs, sub._pyroOneway) == ({"whoami"}, set(), set())
        assert (sub._pyroSerializer, sub._pyroTimeout, sub._pyroHandshake) == (None, 0.0, "hello")
        with sub:
            assert sub.whoami() == "sub:one"


@pytest.mark.parametrize("peer", PEERS)
def test_marshal_sends_a_registered_object_as_a_class_dict_the_proxy_refuses(daemons, peer):
    # Pyro5's marshal has no type replacements: the object travels as its class dict. Unlike
    # Pyro4's, Pyro5's class_to_dict uses only a class's own __getstate__ (not the one CPython 3.11
    # gave every object), so the dict names its "__class__" and the proxy refuses it.
    with proxy(daemons[peer]["example.service"], "marshal") as p:
        with pytest.raises(Pyro5.errors.SerializeError) as excinfo:
            p.make_sub()
        assert str(excinfo.value) == "unsupported serialized class: interop_service.Sub"
        assert p.add(1, 2) == 3


# ---------------------------------------------------------------------------------------------
# Handshake, annotations, correlation ids
# ---------------------------------------------------------------------------------------------

class HandshakeProxy(Pyro5.api.Proxy):
    responses = []

    def _pyroValidateHandshake(self, response):
        HandshakeProxy.responses.append(response)


@pytest.mark.parametrize("peer", PEERS)
@pytest.mark.parametrize("serializer", SERIALIZERS)
def test_a_guarded_daemon_refuses_a_wrong_token_with_the_validators_reason(guarded_daemons, peer, serializer):
    uri = guarded_daemons[peer]["example.service"]
    HandshakeProxy.responses = []
    for handshake in ("hello", {"token": "nope"}, None):
        p = proxy(uri, serializer, HandshakeProxy)
        p._pyroHandshake = handshake
        with pytest.raises(Pyro5.errors.CommunicationError) as excinfo:
            p._pyroBind()
        assert type(excinfo.value) is Pyro5.errors.CommunicationError
        assert (location_free(str(excinfo.value)) ==
                "connection to <location> rejected: handshake rejected: bad token")
        p._pyroRelease()
    assert HandshakeProxy.responses == []


@pytest.mark.parametrize("peer", PEERS)
@pytest.mark.parametrize("serializer", SERIALIZERS)
def test_a_guarded_daemon_accepts_the_right_token_and_answers_it(guarded_daemons, peer, serializer):
    HandshakeProxy.responses = []
    with proxy(guarded_daemons[peer]["example.service"], serializer, HandshakeProxy) as p:
        p._pyroHandshake = {"token": "let-me-in"}
        p._pyroBind()
        assert HandshakeProxy.responses == [{"welcome": True, "server": "guarded"}]
        assert p._pyroMethods == SERVICE_METHODS
        assert p.add(20, 22) == 42


@pytest.mark.parametrize("peer", PEERS)
def test_a_plain_daemon_answers_the_handshake_with_hello(daemons, peer):
    HandshakeProxy.responses = []
    with proxy(daemons[peer]["example.service"], "serpent", HandshakeProxy) as p:
        p._pyroHandshake = {"anything": "goes"}
        p._pyroBind()
        assert HandshakeProxy.responses == ["hello"]


@pytest.mark.parametrize("peer", PEERS)
@pytest.mark.parametrize("serializer", SERIALIZERS)
def test_annotations_travel_both_ways(daemons, peer, serializer):
    # Pyro5 proxies have no _pyroAnnotations/_pyroResponseAnnotations hooks (Pyro4's): the
    # annotations to send and those received are the call context's
    with proxy(daemons[peer]["example.service"], serializer) as p:
        context.annotations = {"XCLI": b"hello from client"}
        assert p.annotated("ann") == {"XCLI": "hello from client"}
        assert context.response_annotations == {"XSRV": b"reply to ann"}
        context.annotations = {}
        assert p.annotated("none") == {}
        assert context.response_annotations == {"XSRV": b"reply to none"}
        assert p.add(1, 1) == 2
        assert context.response_annotations == {}  # the daemon sends no annotations of its own


@pytest.mark.parametrize("peer", PEERS)
@pytest.mark.parametrize("serializer", SERIALIZERS)
def test_the_callers_correlation_id_is_the_calls_correlation_id(daemons, peer, serializer):
    with proxy(daemons[peer]["example.service"], serializer) as p:
        cid = uuid.uuid4()
        context.correlation_id = cid
        assert p.correlation() == str(cid)
        context.correlation_id = None
        fresh = [p.correlation(), p.correlation()]  # the daemon makes a new one per request
        assert all(UUID_TEXT.match(f) for f in fresh) and fresh[0] != fresh[1] and str(cid) not in fresh


@pytest.mark.parametrize("peer", PEERS)
def test_the_reply_header_carries_the_correlation_id(daemons, peer):
    with proxy(daemons[peer]["example.service"], "serpent") as p:
        p._pyroBind()
        p._pyroRawWireResponse = True
        cid = uuid.uuid4()
        context.correlation_id = cid
        msg = p.add(1, 2)
        assert msg.type == Pyro5.protocol.MSG_RESULT
        assert bytes(msg.corr_id) == cid.bytes
        assert Pyro5.serializers.serializers["serpent"].loads(msg.data) == 3
