"""examples/unixdomainsock: a daemon on a Unix domain socket, called through its ./u: URI by the
C++ client and by Python Pyro4; stopping it removes the socket file."""
import os

from conftest import PYTHON, program, run

PYRO4_CLIENT = r"""
import sys, Pyro4
with Pyro4.Proxy(sys.argv[1]) as p:
    print("pyro4 got", p.message("from Pyro4"))
"""


def test_calls_over_a_unix_socket(background, tmp_path):
    path = str(tmp_path / "example_unix.sock")
    server = background([program("unixdomainsock", "unixdomainsock_server"), path])
    uri = server.expect(r"^uri: (PYRO:example\.unixsock@\./u:.*)$").group(1)
    assert uri == "PYRO:example.unixsock@./u:" + path
    assert os.path.exists(path)

    _, out, _ = run([program("unixdomainsock", "unixdomainsock_client"), uri], timeout=30)
    assert out == "response was: Roger!\n"
    server.expect(r"^message received: Hello there!$")

    _, out, _ = run([PYTHON, "-c", PYRO4_CLIENT, uri], timeout=30)
    assert out == "pyro4 got Roger!\n"
    server.expect(r"^message received: from Pyro4$")

    server.stop()  # SIGTERM: the server shuts down cleanly
    assert server.proc.returncode == 0
    assert "stopping" in server.lines
    assert not os.path.exists(path)


def test_calls_over_an_abstract_unix_socket(background):
    name = "pyrocpp-example-%d.sock" % os.getpid()
    server = background([program("unixdomainsock", "unixdomainsock_server"), "--abstract", name])
    uri = server.expect(r"^uri: (PYRO:example\.unixsock@\./u:.*)$").group(1)
    assert uri == "PYRO:example.unixsock@./u:\\x00" + name  # the 0 byte, printed as \x00
    assert not os.path.exists(name)  # no file for an abstract socket

    _, out, _ = run([program("unixdomainsock", "unixdomainsock_client"), uri], timeout=30)
    assert out == "(the uri names an abstract socket)\nresponse was: Roger!\n"
    pyro4_client = PYRO4_CLIENT.replace("Pyro4.Proxy(sys.argv[1])",
                                        "Pyro4.Proxy(sys.argv[1].replace('\\\\x00', '\\x00'))")
    _, out, _ = run([PYTHON, "-c", pyro4_client, uri], timeout=30)
    assert out == "pyro4 got Roger!\n"
    server.expect(r"^message received: from Pyro4$")
    server.stop()
    assert server.proc.returncode == 0
