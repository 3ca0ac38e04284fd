"""examples/batchedcalls: a batch gives the same results as single calls, a oneway batch none,
and an exception stops a batch; also driven from Python Pyro4's batch proxy."""
import re

from conftest import PYTHON, program, run


def start_server(background):
    server = background([program("batchedcalls", "batchedcalls_server"), "--host", "127.0.0.1"])
    return server, server.expect(r"^uri: (PYRO:example\.batched@127\.0\.0\.1:\d+)$").group(1)


def test_batch_results_oneway_batch_and_an_error_stopping_a_batch(background):
    server, uri = start_server(background)
    _, out, _ = run([program("batchedcalls", "batchedcalls_client"), uri, "500"], timeout=60)
    assert out.count("total 36000 (correct)") == 2, out  # 500 * (7 * 6 + 10 + 20)
    assert "sending 1002 calls in one message" in out
    assert "processing 1002 results..." in out
    assert re.search(r"batched calls were [\d.]+ times faster", out)
    # The oneway batch ends with a 1 s delay on the server, which the client does not wait for.
    took = float(re.search(r"oneway batch sent, no results; took ([\d.]+) s", out).group(1))
    assert took < 0.9, out
    error_part = out[out.index("batch with an error"):]
    assert "the daemon sent 4 results" in error_part
    assert re.findall(r"100 // (-?\d+) = (-?\d+)", error_part) == [("3", "33"), ("2", "50"),
                                                                   ("1", "100")]
    assert ("the batch stopped at 100 // 0: builtins.ZeroDivisionError: "
            "integer division or modulo by zero (expected)") in error_part
    for message in ("beginning normal calls", "end of normal calls", "beginning batch #1",
                    "end of batch #1", "beginning batch #2", "end of batch #2"):
        server.expect("^%s$" % re.escape(message))


PYRO4_CLIENT = r"""
import sys, Pyro4
with Pyro4.Proxy(sys.argv[1]) as p:
    batch = Pyro4.batch(p)
    batch.multiply(7, 6)
    batch.add(10, 20)
    batch.divide(-7, 2)
    print("results:", list(batch()))
    batch.printmessage("oneway batch from Pyro4")
    print("oneway:", batch(oneway=True))
    batch.add(1, 2)
    batch.divide(1, 0)
    batch.add(3, 4)
    results = batch()
    print("first:", next(results))
    try:
        next(results)
    except ZeroDivisionError as e:
        print("ZeroDivisionError:", e)
"""


def test_pyro4_batch_proxy(background):
    server, uri = start_server(background)
    _, out, _ = run([PYTHON, "-c", PYRO4_CLIENT, uri], timeout=30)
    assert "results: [42, 30, -4]" in out  # -7 // 2 rounds down, as in Python
    assert "oneway: None" in out
    assert "first: 3" in out
    assert "ZeroDivisionError: integer division or modulo by zero" in out
    server.expect(r"^oneway batch from Pyro4$")
