"""examples/socketpair: a daemon and proxies over the two ends of a socketpair, in one process
(threads) and across fork()."""
import re

from conftest import program, run

EXCHANGE = [
    "server got message: hello!",
    "client got reply: thank you",
    "server got message: hello again!",
    "client got reply: thank you",
    "server got message: hello2!",
    "client got reply: thank you",
    "server got message: hello2 again!",
    "client got reply: thank you",
]


def exchange(out):
    return [line for line in out.splitlines() if line.startswith(("server got", "client got"))]


def test_daemon_on_a_thread():
    _, out, _ = run([program("socketpair", "socketpair_thread")], timeout=20)
    assert "(Pyro daemon running on ./u:<<not-bound>>)" in out
    assert exchange(out) == EXCHANGE  # two proxies in turn on the same socket
    assert out.rstrip().endswith("The end.")


def test_daemon_in_a_child_process():
    _, out, _ = run([program("socketpair", "socketpair_fork")], timeout=20)
    client = int(re.search(r"Process PID=(\d+): Pyro client\.", out).group(1))
    server = int(re.search(r"Process PID=(\d+): Pyro daemon running on \./u:<<not-bound>>", out)
                 .group(1))
    assert client != server
    assert exchange(out) == EXCHANGE
    assert out.rstrip().endswith("The end.")
