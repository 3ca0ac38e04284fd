"""examples/streaming: methods returning item streams (a container, a coroutine, a slow one, an
endless one) are iterated item by item by the C++ client and by a Python Pyro4 client; a stream
closed early is dropped by the daemon, whose stream count goes back to 0."""
import re

from conftest import PYTHON, program, run

NINE = "[1, 2, 3, 4, 5, 6, 7, 8, 9]"


def start_server(background):
    server = background([program("streaming", "streaming_server"), "--host", "127.0.0.1"])
    return server, server.expect(r"^uri: (PYRO:example\.streamer@127\.0\.0\.1:\d+)$").group(1)


def test_client_iterates_streams_and_closes_the_endless_one(background):
    server, uri = start_server(background)
    _, out, _ = run([program("streaming", "streaming_client"), uri], timeout=30)
    lines = out.splitlines()
    for heading in ("normal list:", "via iterator:", "via generator:"):
        assert lines[lines.index(heading) + 1].strip() == NINE, out
    # the slow generator's items arrive one by one, about 0.2 s apart, not all at the end
    times = [(int(n), float(t)) for n, t in re.findall(r"^  (\d) after ([\d.]+) s$", out, re.M)]
    assert [n for n, _ in times] == list(range(1, 10)), out
    assert times[0][1] < 0.8 and times[-1][1] >= 1.5, out
    assert times[-1][1] - times[0][1] >= 1.2, out
    fib = lines[lines.index("infinite fibonacci, stopped after 15 items:") + 1].split()
    assert fib == "0 1 1 2 3 5 8 13 21 34 55 89 144 233 377".split(), out
    assert "open streams on the server while it runs: 1" in out
    assert "open streams on the server after closing it: 0" in out
    assert ("refused: result of call is an iterator: use Proxy::stream() to iterate it"
            in out), out
    assert "open streams on the server at the end: 0" in out
    # the server produced the slow items as they were asked for, and dropped the endless stream
    server.expect(r"^slow generator: finished$", timeout=5)
    server.expect(r"^fibonacci stream dropped after \d+$", timeout=5)
    assert [l for l in server.lines if l.startswith("slow generator: producing")] == \
        ["slow generator: producing %d" % i for i in range(1, 10)]


PYRO4_CLIENT = r"""
import itertools, sys, time, Pyro4
with Pyro4.Proxy(sys.argv[1]) as p:
    print("list:", p.list())
    print("iterator:", list(p.iterator()))
    print("generator:", list(p.generator()))
    start = time.time()
    stamps = [(n, time.time() - start) for n in p.slow_generator()]
    print("slow:", [n for n, _ in stamps], "first after %.1f, last after %.1f"
          % (stamps[0][1], stamps[-1][1]))
    fib = p.fibonacci()
    print("fibonacci:", list(itertools.islice(fib, 10)))
    print("open while iterating:", p.open_streams())
    fib.close()
    deadline = time.time() + 5
    while p.open_streams() != 0 and time.time() < deadline:
        time.sleep(0.05)
    print("open after close:", p.open_streams())
"""


def test_pyro4_client_iterates_the_same_streams(background):
    _, uri = start_server(background)
    _, out, _ = run([PYTHON, "-c", PYRO4_CLIENT, uri], timeout=30)
    assert "list: " + NINE in out
    assert "iterator: " + NINE in out
    assert "generator: " + NINE in out
    m = re.search(r"slow: \[(.*)\] first after ([\d.]+), last after ([\d.]+)", out)
    assert m.group(1) == "1, 2, 3, 4, 5, 6, 7, 8, 9", out
    assert float(m.group(2)) < 0.8 and float(m.group(3)) >= 1.5, out
    assert "fibonacci: [0, 1, 1, 2, 3, 5, 8, 13, 21, 34]" in out
    assert "open while iterating: 1" in out
    assert "open after close: 0" in out
