"""examples/instancemode: percall, session and single instance modes answer with the instances
they should; also with Python Pyro4 proxies."""
import re

from conftest import PYTHON, program, run


def start_server(background):
    server = background([program("instancemode", "instancemode_server"), "--host", "127.0.0.1"])
    uris = {}
    for mode in ("percall", "session", "single"):
        m = server.expect(r"^uri %s: (PYRO:instance\.%s@127\.0\.0\.1:\d+)$" % (mode, mode))
        uris[mode] = m.group(1)
    return server, uris


def answers(text):
    return [int(n) for n in re.findall(r"answered by instance #(\d+)", text)]


def test_each_mode_answers_with_the_right_instances(background):
    server, uris = start_server(background)
    _, out, _ = run([program("instancemode", "instancemode_client"), uris["percall"],
                     uris["session"], uris["single"]], timeout=30)
    percall = answers(out[out.index("PERCALL"):out.index("SESSION")])
    session = answers(out[out.index("SESSION"):out.index("SINGLE")])
    single = answers(out[out.index("SINGLE"):])
    assert percall == list(range(1, 10)), out  # a new instance for each of the 9 calls
    assert session == [1, 1, 1, 2, 2, 2], out  # one per proxy
    assert single == [1] * 9, out  # one for all
    server.expect(r"^\[#9\] PercallInstance\.msg: hello3$")
    server.expect(r"^created SessionInstance #2 for client 127\.0\.0\.1:\d+$")
    server.expect(r"^\[#1\] SingleInstance\.msg: hello3$")
    created = "\n".join(server.lines)
    assert created.count("created SingleInstance") == 1


PYRO4_CLIENT = r"""
import sys, Pyro4
for mode, uri in zip(("percall", "session", "single"), sys.argv[1:]):
    for _ in range(2):
        with Pyro4.Proxy(uri) as p:
            print(mode, p.msg("pyro4"), p.msg("pyro4"))
"""


def test_pyro4_proxies_get_the_same_instance_modes(background):
    _, uris = start_server(background)
    _, out, _ = run([PYTHON, "-c", PYRO4_CLIENT, uris["percall"], uris["session"],
                     uris["single"]], timeout=30)
    lines = out.splitlines()
    assert lines == ["percall 1 2", "percall 3 4", "session 1 1", "session 2 2", "single 1 1",
                     "single 1 1"], out
