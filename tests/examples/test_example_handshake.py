"""examples/handshake: the daemon's handshake validator lets in the right secret code and refuses
a wrong one with its reason; also with Python Pyro4 proxies."""
import re

from conftest import PYTHON, program, run


def start_server(background):
    server = background([program("handshake", "handshake_server"), "--host", "127.0.0.1",
                         "--secret", "pancakes"])
    m = server.expect(r"^uri: (PYRO:Pyro\.Daemon@127\.0\.0\.1:(\d+))$")
    server.expect(r"^secret code: pancakes$")
    return server, m.group(1), m.group(2)


def test_right_code_is_accepted_and_wrong_code_refused(background):
    server, uri, port = start_server(background)
    _, out, _ = run([program("handshake", "handshake_client"), uri, "pancakes"], timeout=30)
    assert "proxy received handshake response data: ['how', 'are', 'you', 'doing']" in out
    assert "connection ok!" in out
    server.expect(r"^handshake request from 127\.0\.0\.1:\d+, data: 'pancakes'$")
    server.expect(r"^secret code okay, connection accepted$")
    server.expect(r"^client disconnected: 127\.0\.0\.1:\d+$")

    _, out, _ = run([program("handshake", "handshake_client"), uri, "waffles"], timeout=30)
    assert ("connection refused: connection to ('127.0.0.1', %s) rejected: "
            "wrong secret code, connection refused" % port) in out
    assert "connection ok!" not in out
    assert "handshake response" not in out
    server.expect(r"^handshake request from 127\.0\.0\.1:\d+, data: 'waffles'$")
    server.expect(r"^secret code wrong, connection refused$")


PYRO4_CLIENT = r"""
import sys, Pyro4, Pyro4.errors

class Proxy(Pyro4.Proxy):
    def _pyroValidateHandshake(self, response):
        print("response", response)

for code in ("pancakes", "waffles"):
    with Proxy(sys.argv[1]) as p:
        p._pyroHandshake = code
        try:
            p._pyroBind()
            p.ping()
            print(code, "ok")
        except Pyro4.errors.CommunicationError as e:
            print(code, "refused:", e)
"""


def test_pyro4_proxies_with_handshake_data(background):
    _, uri, port = start_server(background)
    _, out, _ = run([PYTHON, "-c", PYRO4_CLIENT, uri], timeout=30)
    assert "response ['how', 'are', 'you', 'doing']" in out
    assert "pancakes ok" in out
    refused = r"waffles refused: .*rejected: wrong secret code, connection refused"
    assert re.search(refused, out), out
