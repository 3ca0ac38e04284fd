"""Live interop: Python Pyro4 proxies (Debian's 4.82, protocol 48) calling the C++ Daemon serving
the interop service (tests/interop/interop_server), with serpent, json and marshal. Every test also
runs against a real Pyro4 daemon serving the same service in Python (pyro4_service.py), so an
expectation written here is one Pyro4's own daemon meets; where the two daemons differ, the test
says so and pins both behaviours."""
import contextlib
import os
import re
import select
import subprocess
import sys
import time
import uuid

import pytest

import Pyro4
import Pyro4.errors
import Pyro4.message
import Pyro4.socketutil
import Pyro4.util

from conftest import build_program
from pyro4_service import pyro4_daemon

# Pyro4's request loop (in the Python daemon) calls Event.isSet()
pytestmark = pytest.mark.filterwarnings("ignore:isSet\\(\\) is deprecated:DeprecationWarning")

SERIALIZERS = ["serpent", "json", "marshal"]
PEERS = ["cpp", "pyro4"]
SERVICE_METHODS = {"add", "annotated", "calc", "correlation", "count", "echo", "fail_custom",
                   "fail_value", "fire", "kwcall", "last", "make_sub", "upper"}
UUID_TEXT = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


@contextlib.contextmanager
def cpp_daemon(*args):
    """Runs tests/interop_server with args; yields {object id: uri text}; kills it afterwards."""
    program = build_program("tests/interop_server")
    proc = subprocess.Popen([str(program), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        # unbuffered reads: select() cannot see what a buffered reader already took from the pipe
        output = b""
        deadline = time.monotonic() + 10
        while not output.endswith(b"running.\n"):
            ready, _, _ = select.select([proc.stdout], [], [], max(deadline - time.monotonic(), 0))
            if not ready:
                pytest.fail("interop_server did not start in time")
            chunk = os.read(proc.stdout.fileno(), 4096)
            if not chunk:
                pytest.fail("interop_server exited: " + proc.stderr.read().decode())
            output += chunk
        uris = dict(line.split() for line in output.decode().splitlines()[:-1])
        yield uris
    finally:
        proc.kill()
        proc.wait(timeout=10)
        proc.stdout.close()
        proc.stderr.close()


def start(peer, kind="service", hmac_key=None):
    if peer == "cpp":
        args = ["--kind", kind]
        if hmac_key is not None:
            args += ["--key", hmac_key.decode()]
        return cpp_daemon(*args)
    return pyro4_daemon(kind, hmac_key)


class Daemons(object):
    """Daemons of one kind, started on first use (one per peer) and stopped with the module."""

    def __init__(self, stack, kind="service", hmac_key=None):
        self.stack, self.kind, self.hmac_key, self.uris = stack, kind, hmac_key, {}

    def __getitem__(self, peer):
        if peer not in self.uris:
            self.uris[peer] = self.stack.enter_context(start(peer, self.kind, self.hmac_key))
        return self.uris[peer]


@pytest.fixture(scope="module")
def daemons():
    """The plain service."""
    with contextlib.ExitStack() as stack:
        yield Daemons(stack)


@pytest.fixture(scope="module")
def guarded_daemons():
    with contextlib.ExitStack() as stack:
        yield Daemons(stack, "guarded")


@pytest.fixture(scope="module")
def keyed_daemons():
    """The plain service with the HMAC key "secret"."""
    with contextlib.ExitStack() as stack:
        yield Daemons(stack, hmac_key=b"secret")


@pytest.fixture(autouse=True)
def clean_context():
    """The call context is per thread and sticky, and Pyro4.config global (other test modules set
    SERIALIZER): every test starts and ends without a context, with the default serializer."""
    saved_serializer = Pyro4.config.SERIALIZER
    Pyro4.config.SERIALIZER = "serpent"
    Pyro4.current_context.correlation_id = None
    Pyro4.current_context.annotations = {}
    Pyro4.current_context.response_annotations = {}
    yield
    Pyro4.current_context.correlation_id = None
    Pyro4.current_context.annotations = {}
    Pyro4.current_context.response_annotations = {}
    Pyro4.config.SERIALIZER = saved_serializer


def proxy(uri, serializer, cls=Pyro4.Proxy):
    p = cls(uri)
    p._pyroSerializer = serializer
    p._pyroTimeout = 10
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

# (argument, what comes back) per serializer; None as result: the proxy refuses to send it.
RICH = {
    "big int": (-2**70, {s: -2**70 for s in SERIALIZERS}),
    "float": (3.25, {s: 3.25 for s in SERIALIZERS}),
    "unicode": ("h\u00e9llo \U0001F600 \u4e16", {s: "h\u00e9llo \U0001F600 \u4e16" for s in SERIALIZERS}),
    "nested": ([1, [2.5, "three", None], {"k": [True, False]}],
               {s: [1, [2.5, "three", None], {"k": [True, False]}] for s in SERIALIZERS}),
    "dict": ({"a": {"b": [1, 2]}, "c": "d"}, {s: {"a": {"b": [1, 2]}, "c": "d"} for s in SERIALIZERS}),
    "tuple": ((1, "two"), {"serpent": (1, "two"), "json": [1, "two"], "marshal": (1, "two")}),
    "set": ({3}, {"serpent": {3}, "json": [3], "marshal": {3}}),
    # Pyro4's serpent sends bytes as serpent's base64 dict, which comes back as that dict
    "bytes": (b"\x00\xffab", {"serpent": {"data": "AP9hYg==", "encoding": "base64"}, "json": None,
                              "marshal": b"\x00\xffab"}),
}


@pytest.mark.parametrize("peer", PEERS)
@pytest.mark.parametrize("serializer", SERIALIZERS)
def test_rich_values_come_back_as_pyro4s_daemon_returns_them(daemons, peer, serializer):
    with proxy(daemons[peer]["example.service"], serializer) as p:
        for name, (value, expected) in RICH.items():
            want = expected[serializer]
            if want is None:
                with pytest.raises(Pyro4.errors.SerializeError, match="don't know how to serialize"):
                    p.echo(value)
                continue
            got = p.echo(value)
            assert got == want and type(got) is type(want), name
        assert p.calc(21, "abc", 1.25) == [42, "ABC", 2.5]
        assert p.add(2**40, 2) == 2**40 + 2
        assert p.upper("mixed Case") == "MIXED CASE"  # the C++ service's upper() is ASCII-only


@pytest.mark.parametrize("peer", PEERS)
@pytest.mark.parametrize("serializer", SERIALIZERS)
def test_keyword_arguments_bind_as_in_python(daemons, peer, serializer):
    with proxy(daemons[peer]["example.service"], serializer) as p:
        assert p.kwcall(1, c=3, z=9) == {"a": 1, "b": None, "c": 3, "extra": {"z": 9}}
        assert p.kwcall(a="x", b=[1]) == {"a": "x", "b": [1], "c": None, "extra": {}}
        with pytest.raises(TypeError, match=r"kwcall\(\) got multiple values for argument 'a'"):
            p.kwcall(1, a=2)


@pytest.mark.parametrize("peer", PEERS)
@pytest.mark.parametrize("serializer", SERIALIZERS)
def test_compressed_requests_get_answers(daemons, peer, serializer):
    Pyro4.config.COMPRESSION = True  # requests of 200 bytes or more go zlib-compressed
    try:
        with proxy(daemons[peer]["example.service"], serializer) as p:
            assert p.echo("x" * 5000) == "x" * 5000
            assert p.echo(list(range(1000))) == list(range(1000))
    finally:
        Pyro4.config.COMPRESSION = False


@pytest.mark.parametrize("peer", PEERS)
def test_the_daemon_object_answers(daemons, peer):
    uri = daemons[peer]["example.service"].replace("example.service", "Pyro.Daemon")
    with proxy(uri, "serpent") as d:
        # Pyro4 lists the ids in registration order (a dict's keys); ours in no particular order
        assert sorted(d.registered()) == ["Pyro.Daemon", "example.service", "example.sub"]
        assert re.match(r"^Pyro\.Daemon bound on 127\.0\.0\.1:\d+, NAT None, 3 objects registered\. "
                        r"Servertype: <", d.info())
        # serpent writes an empty set as an empty tuple
        assert d.get_metadata("example.sub") == {"methods": {"whoami"}, "oneway": (), "attrs": ()}
        assert d.get_metadata("example.sub", True) == {"methods": ["whoami"], "oneway": [], "attrs": []}
        assert d.ping() is None


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
                tb = "".join(Pyro4.util.getPyroTraceback())
                raise
        assert type(excinfo.value) is ValueError
        assert excinfo.value.args == ("invalid value: x",)
        remote = excinfo.value._pyroTraceback
        assert isinstance(remote, list) and remote
        assert "".join(remote).rstrip().endswith("ValueError: invalid value: x")
        assert " +--- This exception occured remotely (Pyro) - Remote traceback:" in tb
        assert "ValueError: invalid value: x" in tb
        assert p.add(1, 2) == 3  # the connection carries on


@pytest.mark.parametrize("peer", PEERS)
@pytest.mark.parametrize("serializer", SERIALIZERS)
def test_an_unknown_exception_class_is_pyro4s_serialize_error_and_the_connection_survives(
        daemons, peer, serializer):
    with proxy(daemons[peer]["example.service"], serializer) as p:
        with pytest.raises(Pyro4.errors.SerializeError) as excinfo:
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
    with proxy(daemons[peer]["example.service"].replace("example.service", "nosuch"), serializer) as p:
        with pytest.raises(Pyro4.errors.CommunicationError) as excinfo:
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


@pytest.mark.parametrize("peer", PEERS)
@pytest.mark.parametrize("serializer", ["serpent", "json"])
def test_a_remote_attribute_is_read_and_written(daemons, peer, serializer):
    with proxy(daemons[peer]["example.service"], serializer) as p:
        try:
            assert p.value == 42
            p.value = {"set by": serializer}
            assert p.value == {"set by": serializer}
        finally:
            p.value = 42


@pytest.mark.parametrize("peer", PEERS)
def test_pyro4s_marshal_cannot_access_attributes_nor_batch(daemons, peer):
    # Pyro4's MarshalSerializer.dumpsCall iterates the kwargs, which are None for attribute access
    # and the batch call: the proxy fails before anything is sent, whatever the daemon.
    with proxy(daemons[peer]["example.service"], "marshal") as p:
        with pytest.raises(AttributeError, match="'NoneType' object has no attribute 'items'"):
            p.value
        with pytest.raises(AttributeError, match="'NoneType' object has no attribute 'items'"):
            p.value = 1
        batch = Pyro4.batch(p)
        batch.add(1, 2)
        with pytest.raises(AttributeError, match="'NoneType' object has no attribute 'items'"):
            batch()
        assert p.add(1, 2) == 3


@pytest.mark.parametrize("peer", PEERS)
@pytest.mark.parametrize("serializer", ["serpent", "json"])
def test_a_batch_returns_results_in_order_and_raises_at_the_failed_call(daemons, peer, serializer):
    with proxy(daemons[peer]["example.service"], serializer) as p:
        batch = Pyro4.batch(p)
        batch.add(1, 2)
        batch.upper("abc")
        batch.kwcall(1, z=2)
        assert list(batch()) == [3, "ABC", {"a": 1, "b": None, "c": None, "extra": {"z": 2}}]
        batch = Pyro4.batch(p)
        batch.add(1, 2)
        batch.fail_value("q")
        batch.upper("never")
        results = batch()
        assert next(results) == 3
        with pytest.raises(ValueError, match="invalid value: q"):
            next(results)
        assert p.add(2, 2) == 4


@pytest.mark.parametrize("peer", PEERS)
def test_a_client_calling_back_to_back_is_answered_alike_throughout(daemons, peer):
    # Hundreds of back-to-back calls: our daemon lends such a connection a thread of its own
    # after 64 of them, and gives it back to its event loop after 20 ms of quiet. Pyro4's client
    # must see nothing of either.
    with proxy(daemons[peer]["example.service"], "serpent") as p:
        for round in range(2):
            for i in range(300):
                assert p.add(i, round) == i + round
            assert p.echo("x" * 300000) == "x" * 300000
            assert list(p.count(40)) == ["item-%d" % n for n in range(40)]
            batch = Pyro4.batch(p)
            for i in range(50):
                batch.add(i, 1)
            assert list(batch()) == [i + 1 for i in range(50)]
            time.sleep(0.1)


@pytest.mark.parametrize("peer", PEERS)
@pytest.mark.parametrize("serializer", SERIALIZERS)
def test_a_generator_streams_its_items(daemons, peer, serializer):
    with proxy(daemons[peer]["example.service"], serializer) as p:
        items = p.count(3)
        assert isinstance(items, Pyro4.core._StreamResultIterator)
        assert list(items) == ["item-0", "item-1", "item-2"]
        assert list(p.count(0)) == []
        partial = p.count(100)
        assert next(partial) == "item-0"
        partial.close()
        assert p.add(1, 1) == 2


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
@pytest.mark.parametrize("serializer", ["serpent", "json"])
def test_a_registered_object_comes_back_as_a_proxy(daemons, peer, serializer):
    with proxy(daemons[peer]["example.service"], serializer) as p:
        sub = p.make_sub()
        assert isinstance(sub, Pyro4.core.Proxy)
        assert str(sub._pyroUri) == daemons[peer]["example.sub"]
        with sub:
            assert sub.whoami() == "sub:one"


@pytest.mark.parametrize("peer", PEERS)
@pytest.mark.parametrize("serializer", ["serpent", "json"])
def test_registered_objects_inside_a_batch_result_come_back_as_proxies(daemons, peer, serializer):
    # A batch's results are one list: the daemon finds registered objects inside it too.
    with proxy(daemons[peer]["example.service"], serializer) as p:
        batch = Pyro4.batch(p)
        batch.make_sub()
        batch.add(1, 2)
        batch.make_sub()
        first, three, second = batch()
        assert three == 3
        for sub in (first, second):
            assert isinstance(sub, Pyro4.core.Proxy)
            assert str(sub._pyroUri) == daemons[peer]["example.sub"]
            with sub:
                assert sub.whoami() == "sub:one"


@pytest.mark.parametrize("peer", PEERS)
def test_marshal_sends_a_registered_object_by_value(daemons, peer):
    # Pyro4's marshal has no type replacement for proxies: the object itself travels as a dict.
    # Pyro4 writes it with obj.__getstate__() when there is one, and CPython 3.11 gave every
    # object one (vars() without "__class__"): a Pyro4 daemon on 3.11 sends a plain dict, on older
    # Pythons one with "__class__" that the proxy refuses. Ours does what 3.11's does.
    with proxy(daemons[peer]["example.service"], "marshal") as p:
        if peer == "pyro4" and sys.version_info < (3, 11):
            with pytest.raises(Pyro4.errors.SerializeError,
                               match=r"^unsupported serialized class: \S+\.Sub$"):  # pyro4_service.Sub
                p.make_sub()
        else:
            assert p.make_sub() == {"name": "one", "_pyroId": "example.sub", "_pyroDaemon": None}
        assert p.add(1, 2) == 3


# ---------------------------------------------------------------------------------------------
# Handshake, annotations, correlation ids
# ---------------------------------------------------------------------------------------------

# Pyro4 proxies send unknown attribute names to the remote object: the hooks record what they see
# in their class.
class HandshakeProxy(Pyro4.Proxy):
    responses = []

    def _pyroValidateHandshake(self, response):
        HandshakeProxy.responses.append(response)


@pytest.mark.parametrize("peer", PEERS)
@pytest.mark.parametrize("serializer", SERIALIZERS)
def test_a_guarded_daemon_refuses_a_wrong_token_with_the_validators_reason(guarded_daemons, peer, serializer):
    uri = guarded_daemons[peer]["example.service"]
    HandshakeProxy.responses = []
    for handshake in ("hello", {"token": "nope"}):
        p = proxy(uri, serializer, HandshakeProxy)
        p._pyroHandshake = handshake
        with pytest.raises(Pyro4.errors.CommunicationError) as excinfo:
            p._pyroBind()
        assert type(excinfo.value) is Pyro4.errors.CommunicationError
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
@pytest.mark.parametrize("serializer", SERIALIZERS)
def test_a_proxy_without_metadata_connects_and_calls(daemons, peer, serializer):
    # METADATA off: the CONNECT carries {"handshake": H} without the object id and no metadata
    # flag, and the proxy checks nothing itself
    Pyro4.config.METADATA = False
    try:
        with proxy(daemons[peer]["example.service"], serializer) as p:
            assert p.add(1, 2) == 3
            assert (p._pyroMethods, p._pyroAttrs, p._pyroOneway) == (set(), set(), set())
            assert p.fire("no metadata") is None  # sent as a normal call: the proxy waits
            assert p.last() == "no metadata"
            with pytest.raises(AttributeError, match="attempt to access unexposed attribute 'hidden'"):
                p.hidden()
    finally:
        Pyro4.config.METADATA = True


class AnnotatingProxy(Pyro4.Proxy):
    responses = []

    def _pyroAnnotations(self):
        return {"XCLI": b"hello from client"}

    def _pyroResponseAnnotations(self, annotations, msgtype):
        AnnotatingProxy.responses.append((msgtype, dict(annotations)))


@pytest.mark.parametrize("peer", PEERS)
@pytest.mark.parametrize("serializer", SERIALIZERS)
def test_annotations_travel_both_ways(daemons, peer, serializer):
    AnnotatingProxy.responses = []
    with proxy(daemons[peer]["example.service"], serializer, AnnotatingProxy) as p:
        assert p.annotated("ann") == {"XCLI": "hello from client"}
        (connect_type, connect), (result_type, result) = AnnotatingProxy.responses
        assert connect_type == Pyro4.message.MSG_CONNECTOK and set(connect) == {"CORR"}
        assert result_type == Pyro4.message.MSG_RESULT and set(result) == {"CORR", "XSRV"}
        assert result["XSRV"] == b"reply to ann"
        assert Pyro4.current_context.response_annotations["XSRV"] == b"reply to ann"


@pytest.mark.parametrize("peer", PEERS)
def test_a_reply_whose_annotations_overflow_protocol_48_becomes_an_error_reply(daemons, peer):
    # 16-bit annotation sizes: Pyro4 cannot pack such a reply and sends the struct.error of that
    # instead (which a Pyro4 client cannot rebuild); the connection stays open
    with proxy(daemons[peer]["example.service"], "serpent") as p:
        with pytest.raises(Pyro4.errors.SerializeError) as info:
            p.annotated("x" * 70000)
        assert str(info.value) == "unsupported serialized class: struct.error"
        assert p.upper("still connected") == "STILL CONNECTED"


def test_the_overflow_error_reply_is_the_same_from_both_peers(daemons):
    kinds = []
    for peer in PEERS:
        with proxy(daemons[peer]["example.service"], "serpent") as p:
            with pytest.raises(Exception) as info:
                p.annotated("x" * 70000)
            kinds.append((type(info.value).__module__, type(info.value).__name__, str(info.value)))
    assert kinds[0] == kinds[1]


@pytest.mark.parametrize("peer", PEERS)
def test_the_correlation_id_annotation_reaches_the_method_context(daemons, peer):
    with proxy(daemons[peer]["example.service"], "serpent", AnnotatingProxy) as p:
        p._pyroBind()
        Pyro4.current_context.correlation_id = uuid.uuid4()
        seen = set(p.annotated("corr"))
    if peer == "pyro4":
        assert seen == {"XCLI", "CORR"}  # Pyro4's context keeps the CORR chunk among the annotations
    else:
        assert seen == {"XCLI"}  # ours keeps it only as the correlation id


@pytest.mark.parametrize("peer", PEERS)
@pytest.mark.parametrize("serializer", SERIALIZERS)
def test_the_callers_correlation_id_is_the_calls_correlation_id(daemons, peer, serializer):
    with proxy(daemons[peer]["example.service"], serializer) as p:
        cid = uuid.uuid4()
        Pyro4.current_context.correlation_id = cid
        assert p.correlation() == str(cid)
        assert Pyro4.current_context.response_annotations["CORR"] == cid.bytes
        Pyro4.current_context.correlation_id = None
        fresh = [p.correlation(), p.correlation()]  # the daemon makes a new one per request
        assert all(UUID_TEXT.match(f) for f in fresh) and fresh[0] != fresh[1] and str(cid) not in fresh


# ---------------------------------------------------------------------------------------------
# HMAC (protocol 48 only)
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("peer", PEERS)
@pytest.mark.parametrize("serializer", SERIALIZERS)
def test_the_right_hmac_key_works(keyed_daemons, peer, serializer):
    with proxy(keyed_daemons[peer]["example.service"], serializer) as p:
        p._pyroHmacKey = b"secret"
        assert p.add(2, 3) == 5
        assert list(p.count(2)) == ["item-0", "item-1"]
        with pytest.raises(ValueError, match="invalid value: signed"):
            p.fail_value("signed")  # exception replies are signed too
        token = "signed " + uuid.uuid4().hex
        p.fire(token)
        assert last_becomes(p, token)
        if serializer != "marshal":  # marshal has no autoproxy
            with p.make_sub() as sub:
                # Pyro4's Daemon.proxyFor makes a bare Proxy(uri): the proxy state has no key
                assert sub._pyroHmacKey is None
                sub._pyroHmacKey = b"secret"
                assert sub.whoami() == "sub:one"


@pytest.mark.parametrize("peer", PEERS)
@pytest.mark.parametrize("client_key, reason", [(b"wrong", "message hmac mismatch"),
                                                (None, "hmac key config not symmetric")])
def test_a_wrong_or_missing_hmac_key_fails_the_connect_with_the_reason(keyed_daemons, peer, client_key,
                                                                       reason):
    p = proxy(keyed_daemons[peer]["example.service"], "serpent")
    p._pyroHmacKey = client_key
    with pytest.raises(Pyro4.errors.CommunicationError) as excinfo:
        p.add(2, 3)
    # the daemon's CONNECTFAIL fails the proxy's own check of it: the proxy reports that
    assert type(excinfo.value) is Pyro4.errors.CommunicationError
    assert location_free(str(excinfo.value)) == "cannot connect to <location>: " + reason
    assert isinstance(excinfo.value.__cause__, Pyro4.errors.SecurityError)
    p._pyroRelease()


@pytest.mark.parametrize("peer", PEERS)
def test_a_hmac_key_against_a_daemon_without_one_fails_the_connect(daemons, peer):
    p = proxy(daemons[peer]["example.service"], "serpent")
    p._pyroHmacKey = b"secret"
    with pytest.raises(Pyro4.errors.CommunicationError) as excinfo:
        p.add(2, 3)
    assert location_free(str(excinfo.value)) == "cannot connect to <location>: hmac key config not symmetric"
    p._pyroRelease()


def raw_connect(uri, client_key):
    """Sends a Pyro4 CONNECT signed with client_key; returns the reply as Pyro4 reads it with the
    daemon's key "secret" (so the reply's own HMAC is checked), its payload, and whether the daemon
    closed the connection after it."""
    location = Pyro4.core.URI(uri)
    sock = Pyro4.socketutil.createSocket(connect=(location.host, location.port), timeout=5)
    conn = Pyro4.socketutil.SocketConnection(sock)
    try:
        data, _ = Pyro4.util.get_serializer("serpent").serializeData(
            {"handshake": "hello", "object": location.object})
        msg = Pyro4.message.Message(Pyro4.message.MSG_CONNECT, data, 1, Pyro4.message.FLAGS_META_ON_CONNECT,
                                    5, hmac_key=client_key)
        conn.send(msg.to_bytes())
        reply = Pyro4.message.Message.recv(conn, hmac_key=b"secret")
        text = Pyro4.util.get_serializer_by_id(reply.serializer_id).deserializeData(reply.data)
        try:
            conn.recv(1)
            closed = False
        except Pyro4.errors.ConnectionClosedError:
            closed = True
        return reply, text, closed
    finally:
        conn.close()


@pytest.mark.parametrize("peer", PEERS)
@pytest.mark.parametrize("client_key, reason", [(b"wrong", "message hmac mismatch"),
                                                (None, "hmac key config not symmetric")])
def test_the_connectfail_for_a_bad_hmac_is_signed_and_says_why(keyed_daemons, peer, client_key, reason):
    reply, text, closed = raw_connect(keyed_daemons[peer]["example.service"], client_key)
    assert reply.type == Pyro4.message.MSG_CONNECTFAIL
    assert reply.seq == 0  # the request was never read
    assert reply.serializer_id == 3  # marshal
    assert text == reason
    assert closed


@pytest.mark.parametrize("peer", PEERS)
def test_a_bad_hmac_after_the_handshake_closes_the_connection(keyed_daemons, peer):
    with proxy(keyed_daemons[peer]["example.service"], "serpent") as p:
        p._pyroHmacKey = b"secret"
        assert p.add(1, 1) == 2
        p._pyroHmacKey = b"other"
        with pytest.raises(Pyro4.errors.ConnectionClosedError, match="receiving: not enough data"):
            p.add(1, 1)
        with pytest.raises(Pyro4.errors.CommunicationError, match="message hmac mismatch"):
            p.add(1, 1)  # reconnecting with the wrong key
        p._pyroHmacKey = b"secret"
        assert p.add(2, 2) == 4
