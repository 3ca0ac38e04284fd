"""examples/resourcetracking: resources tracked for a client connection are closed by the daemon
when the client vanishes without freeing them; freed ones are untracked."""
import re

from conftest import PYTHON, program, run


def start_server(background):
    server = background([program("resourcetracking", "resourcetracking_server"),
                         "--host", "127.0.0.1"])
    return server, server.expect(r"^uri: (PYRO:service@127\.0\.0\.1:\d+)$").group(1)


def allocated(out):
    return re.findall(r"^allocating resource\.\.\. (\w{4})$", out, re.M)


def test_resources_of_a_vanished_client_are_closed(background):
    server, uri = start_server(background)
    _, out, _ = run([program("resourcetracking", "resourcetracking_client"), uri, "--vanish"],
                    timeout=20)
    assert "currently allocated resources: []" in out
    names = allocated(out)
    assert len(names) == 2 and "done." not in out
    address = server.expect(r"^service: allocated resource %s for client (127\.0\.0\.1:\d+)$"
                            % names[0]).group(1)
    server.expect(r"^service: allocated resource %s for client %s$" % (names[1], address))
    server.expect(r"^client disconnects: %s$" % address)
    server.expect(r"^    resources: \['%s', '%s'\]$" % tuple(names))
    server.expect(r"^Resource: closing %s$" % names[0])
    server.expect(r"^Resource: closing %s$" % names[1])

    # the next client finds nothing left over, and frees its own resources itself
    _, out, _ = run([program("resourcetracking", "resourcetracking_client"), uri], timeout=20)
    assert "currently allocated resources: []" in out
    assert "allocated resources: []" in out.splitlines()
    assert out.rstrip().endswith("done.")
    names = allocated(out)
    server.expect(r"^Resource: closing %s$" % names[0])
    server.expect(r"^Resource: closing %s$" % names[1])
    server.expect(r"^    resources: \[\]$")  # nothing left to close at the disconnect


PYRO4_CLIENT = r"""
import sys, Pyro4
p = Pyro4.Proxy(sys.argv[1])
p.allocate("py01")
p.allocate("py02")
print("allocated:", sorted(p.list()))
p._pyroRelease()  # gone without freeing
q = Pyro4.Proxy(sys.argv[1])
import time
deadline = time.time() + 10
while q.list() and time.time() < deadline:
    time.sleep(0.1)
print("after release:", q.list())
"""


def test_pyro4_client_resources_are_closed_too(background):
    server, uri = start_server(background)
    _, out, _ = run([PYTHON, "-c", PYRO4_CLIENT, uri], timeout=30)
    assert "allocated: ['py01', 'py02']" in out
    assert "after release: []" in out
    server.expect(r"^    resources: \['py01', 'py02'\]$")
    server.expect(r"^Resource: closing py01$")
    server.expect(r"^Resource: closing py02$")
