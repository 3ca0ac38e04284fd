"""examples/timeout: proxy timeouts (per proxy and COMMTIMEOUT) end a slow call with Pyro's
TimeoutError, a frozen daemon times out the connect, and a daemon's own COMMTIMEOUT closes an idle
connection."""
import re

from conftest import PYTHON, program, run


def start_server(background):
    server = background([program("timeout", "timeout_server"), "--host", "127.0.0.1"])
    uri = server.expect(r"^uri: (PYRO:example\.timeout@127\.0\.0\.1:\d+)$").group(1)
    frozen = server.expect(r"^frozen uri: (PYRO:example\.timeout\.frozendaemon@127\.0\.0\.1:\d+)$")
    impatient = server.expect(r"^impatient uri: (PYRO:example\.timeout\.impatient@\S+)$")
    server.expect(r"^Server ready\.$")
    return server, uri, frozen.group(1), impatient.group(1)


def durations(out):
    return [float(d) for d in re.findall(r"^  took ([\d.]+) s$", out, re.M)]


def test_timeouts(background):
    server, uri, frozen, impatient = start_server(background)
    _, out, _ = run([program("timeout", "timeout_client"), uri, frozen, impatient], timeout=30)
    assert out.count("  TimeoutError! As expected: receiving: timeout") == 3, out
    assert "should have raised" not in out
    assert "  result: slept 1 seconds" in out
    assert "  result: slept 1.5 seconds" in out
    took = durations(out)
    assert len(took) == 5, out
    for got, expected in zip(took, [1.0, 0.5, 0.5, 1.5, 0.5]):
        assert expected - 0.1 < got < expected + 0.4, out
    # the impatient daemon dropped the idle connection; the next call connected again
    assert re.search(r"^  ConnectionClosedError: receiving: ", out, re.M), out
    assert "  calling again: slept 0 seconds" in out
    assert out.rstrip().endswith("all durations as expected")
    assert "sleeping 1.5" in server.output()


PYRO4_CLIENT = r"""
import sys, time, Pyro4, Pyro4.errors
p = Pyro4.Proxy(sys.argv[1])
print("no timeout:", p.delay(0.2))
p._pyroTimeout = 0.5
start = time.time()
try:
    p.delay(1)
except Pyro4.errors.TimeoutError as x:
    print("%s: %s after %.1f" % (type(x).__name__, x, time.time() - start))
f = Pyro4.Proxy(sys.argv[2])
f._pyroTimeout = 0.5
try:
    f.delay(1)
except Pyro4.errors.TimeoutError as x:
    print("frozen: %s: %s" % (type(x).__name__, x))
"""


def test_pyro4_client_times_out_the_same_way(background):
    _, uri, frozen, _ = start_server(background)
    _, out, _ = run([PYTHON, "-c", PYRO4_CLIENT, uri, frozen], timeout=30)
    assert "no timeout: slept 0.2 seconds" in out
    m = re.search(r"^TimeoutError: receiving: timeout after ([\d.]+)$", out, re.M)
    assert m and 0.4 < float(m.group(1)) < 0.9, out
    assert "frozen: TimeoutError: receiving: timeout" in out
