"""examples/callcontext: the server sees the client's address, correlation id and annotations in
its call context; the client gets the method's and the daemon's reply annotations. Also with a
Python Pyro4 client."""
import re

from conftest import PYTHON, program, run


def start_server(background):
    server = background([program("callcontext", "callcontext_server"), "--host", "127.0.0.1"])
    return server, server.expect(r"^uri: (PYRO:example\.context@127\.0\.0\.1:\d+)$").group(1)


def test_context_annotations_and_correlation_id_both_ways(background):
    server, uri = start_server(background)
    _, out, _ = run([program("callcontext", "callcontext_client"), uri], timeout=30)
    corr = re.search(r"correlation id set to: ([0-9a-f-]{36})", out).group(1)
    address = re.search(r"connected from (127\.0\.0\.1:\d+)", out).group(1)
    normal, oneway = out.split("\noneway call\n")
    assert "echo returned: hi there" in normal
    assert "  ECHO -> the server got your XYZZ: custom annotation from client (1)" in normal
    assert "  DDAA -> custom response annotation set by the daemon" in normal
    assert " -> " not in oneway  # a oneway call has no reply, so no annotations

    # The server saw both calls (the oneway one too), from this client, with its correlation id.
    server.expect(r"^got message: hi there$")
    server.expect(r"^got message: hi there ONEWAY$")
    server.expect(r"custom annotation 'XYZZ': custom annotation from client \(2\)$")
    seen = "\n".join(server.lines)
    assert seen.count("context.correlation_id: " + corr) == 2, seen
    assert seen.count("context.client_address: " + address) == 2, seen
    assert "custom annotation 'XYZZ': custom annotation from client (1)" in seen
    assert "context.seq: 1" in seen and "context.seq: 2" in seen, seen  # the handshake is 0


PYRO4_CLIENT = r"""
import sys, uuid, Pyro4
Pyro4.current_context.correlation_id = uuid.uuid4()
print("corr", Pyro4.current_context.correlation_id)
with Pyro4.Proxy(sys.argv[1]) as p:
    Pyro4.current_context.annotations = {"XYZZ": b"sent by Pyro4"}
    print("echo", p.echo("from pyro4"))
    for key, value in sorted(Pyro4.current_context.response_annotations.items()):
        print("annotation", key, bytes(value).decode("latin-1"))
"""


def test_pyro4_client_sends_and_receives_annotations(background):
    server, uri = start_server(background)
    _, out, _ = run([PYTHON, "-c", PYRO4_CLIENT, uri], timeout=30)
    corr = re.search(r"corr ([0-9a-f-]{36})", out).group(1)
    assert "echo from pyro4" in out
    assert "annotation DDAA custom response annotation set by the daemon" in out
    assert "annotation ECHO the server got your XYZZ: sent by Pyro4" in out
    server.expect(r"^got message: from pyro4$")
    server.expect(r"context\.protocol: 48$")
    server.expect(r"context\.correlation_id: " + corr + "$")
    server.expect(r"custom annotation 'XYZZ': sent by Pyro4$")
