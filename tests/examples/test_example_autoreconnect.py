"""examples/autoreconnect: the server is stopped and started again on the same port with the same
object id; the client notices the lost connection, reconnects and goes on calling."""
from conftest import PYTHON, free_port, program


def start_server(background, port):
    server = background([program("autoreconnect", "autoreconnect_server"),
                         "--host", "127.0.0.1", "--port", str(port)])
    server.expect(r"^Server started, uri: "
                  r"PYRO:example\.autoreconnect_fixed_objectid@127\.0\.0\.1:%d$" % port)
    return server


def restart_while_calling(background, *client_flags, client=None):
    port = free_port()
    uri = "PYRO:example.autoreconnect_fixed_objectid@127.0.0.1:%d" % port
    first = start_server(background, port)
    command = client or [program("autoreconnect", "autoreconnect_client")]
    client = background(command + [uri, "--calls", "5", *client_flags])
    for _ in range(2):
        client.expect(r"^sleeping 0\.5 second$")
    first.stop()  # SIGTERM: the server is gone, its connections with it
    lost = client.expect(r"^connection lost: (\w+): ").group(1)
    second = start_server(background, port)
    returncode, out = client.wait(timeout=30)
    assert returncode == 0, out
    assert out.count("sleeping 0.5 second") == 5, out
    assert out.rstrip().endswith("done.")
    second.stop()
    assert "method called with 42" in second.output()
    return lost, out, first.output(), second.output()


def test_client_calls_reconnect_after_a_restart(background):
    lost, out, first, second = restart_while_calling(background)
    assert lost == "ConnectionClosedError", out
    assert "REBINDING... (restart the server now)" in out
    assert out.count("reconnected") == 1, out
    assert first.count("method called with 42") == 2
    assert second.count("method called with 42") == 3


def test_proxy_reconnects_by_itself(background):
    _, out, first, second = restart_while_calling(background, "--auto")
    assert "REBINDING" not in out
    assert first.count("method called with 42") == 2
    assert second.count("method called with 42") == 3


PYRO4_CLIENT = r"""
import sys, time, Pyro4, Pyro4.errors
obj = Pyro4.Proxy(sys.argv[1])
done = 0
while done < int(sys.argv[3]):
    try:
        obj.method(42)
        done += 1
        print("sleeping 0.5 second")
        time.sleep(0.5)
    except Pyro4.errors.ConnectionClosedError as x:
        print("connection lost: %s: %s" % (type(x).__name__, x))
        print("REBINDING... (restart the server now)")
        obj._pyroReconnect()
        print("reconnected")
print("done.")
"""


def test_pyro4_client_reconnects_after_a_restart(background):
    lost, out, first, second = restart_while_calling(background,
                                                     client=[PYTHON, "-u", "-c", PYRO4_CLIENT])
    assert lost == "ConnectionClosedError", out
    assert out.count("reconnected") == 1, out
    assert first.count("method called with 42") == 2
    assert second.count("method called with 42") == 3
