"""examples/oneway: oneway calls return at once while the server works on; the C++ client and a
Python Pyro4 client both see that."""
import re

from conftest import PYTHON, program, run


def start_server(background):
    server = background([program("oneway", "oneway_server"), "--host", "127.0.0.1"])
    return server, server.expect(r"^uri: (PYRO:example\.oneway@127\.0\.0\.1:\d+)$").group(1)


def test_oneway_calls_do_not_wait_for_the_work(background):
    server, uri = start_server(background)
    _, out, _ = run([program("oneway", "oneway_client"), uri], timeout=30)
    took = float(re.search(r"oneway_start\(3\) and 4 calls of nothing\(\) took ([\d.]+) s", out)
                 .group(1))
    assert took < 1.0, out  # the work itself takes 3 s
    assert "no, trying again" in out  # the client polled while the server was busy
    m = re.search(r"yes! after (\d+) attempts and ([\d.]+) s", out)
    assert int(m.group(1)) >= 2 and float(m.group(2)) >= 2.5, out
    assert "the result: The result :)" in out
    # oneway_work goes on after the client has exited.
    assert "work's done!" not in server.output()
    server.expect(r"^work's done!$", timeout=10)
    lines = server.lines
    assert lines.index("work is done!") > lines.index("start request received, working for 3 s")
    assert lines.count("nothing got called, doing nothing") == 4


PYRO4_CLIENT = r"""
import sys, time, Pyro4
with Pyro4.Proxy(sys.argv[1]) as p:
    p._pyroBind()
    start = time.time()
    p.oneway_start(2)
    print("returned after %.3f" % (time.time() - start))
    time.sleep(0.3)  # the daemon starts the oneway method on another thread: give it a moment
    print("ready soon after:", p.ready())
    deadline = start + 10
    while not p.ready() and time.time() < deadline:
        time.sleep(0.2)
    print("ready after %.1f" % (time.time() - start))
    print("result:", p.result())
"""


def test_pyro4_client_is_not_blocked_by_a_oneway_call(background):
    _, uri = start_server(background)
    _, out, _ = run([PYTHON, "-c", PYRO4_CLIENT, uri], timeout=30)
    assert float(re.search(r"returned after ([\d.]+)", out).group(1)) < 1.0, out
    assert "ready soon after: False" in out
    assert 1.5 <= float(re.search(r"ready after ([\d.]+)", out).group(1)) < 10, out
    assert "result: The result :)" in out
