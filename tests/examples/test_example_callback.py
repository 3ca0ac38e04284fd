"""examples/callback: a client passes a proxy to its own callback object; the server's workers
call it back. Example 2: exceptions of callback methods go back to the server, and one declared
with Exposed::callback is also logged as a warning on the client's side."""
import re


from conftest import PYTHON, program, run


def start(background, name, object_id):
    server = background([program("callback", name), "--host", "127.0.0.1"])
    uri = server.expect(r"^uri: (PYRO:%s@127\.0\.0\.1:\d+)$" % re.escape(object_id)).group(1)
    return server, uri


def test_workers_call_the_client_back(background):
    server, uri = start(background, "callback_server", "example.callback")
    _, out, _ = run([program("callback", "callback_client"), uri, "--host", "127.0.0.1"],
                    timeout=30)
    done = re.findall(r"^callback: worker (\d+) reports work is done!$", out, re.M)
    assert sorted(int(n) for n in done) == [1, 2, 3, 4, 5], out
    assert out.rstrip().endswith("done!")
    informed = [int(server.expect(r"^Worker (\d+) done\. Informing callback client\.$").group(1))
                for _ in range(5)]  # in the order the workers finish
    assert sorted(informed) == [1, 2, 3, 4, 5]
    assert server.output().count("server: adding worker") == 5
    assert "oneway call failed" not in server.output()


def test_callback_exceptions_reach_the_server_and_the_client_log(background):
    server, uri = start(background, "callback_server2", "example.callback2")
    _, out, err = run([program("callback", "callback_client2"), uri, "--host", "127.0.0.1"],
                      timeout=30)
    assert "callback 1 received from server!" in out
    assert "callback 2 received from server!" in out
    assert out.rstrip().endswith("done.")
    # only call2, the declared callback, is logged on the client's side
    warnings = [line for line in err.splitlines()
                if ",pyrocpp.server,WARNING] error during handleRequest: " in line]
    assert len(warnings) == 1, err
    assert "division by zero" in warnings[0]
    server.expect(r"^server: callbacks done\.$")
    text = server.output()
    assert text.count("got an exception from the callback:") == 2, text
    assert text.count("builtins.ValueError: division by zero") == 2, text


PYRO4_CLIENT = r"""
import sys, threading, Pyro4

class CallbackHandler(object):
    def __init__(self):
        self.reported = []
        self.all_done = threading.Event()

    @Pyro4.expose
    def done(self, number):
        print("callback: worker %d reports work is done!" % number)
        self.reported.append(number)
        if len(self.reported) == 3:
            self.all_done.set()

daemon = Pyro4.Daemon(host="127.0.0.1")
handler = CallbackHandler()
callback = Pyro4.Proxy(daemon.register(handler))
threading.Thread(target=daemon.requestLoop, daemon=True).start()
with Pyro4.Proxy(sys.argv[1]) as server:
    for _ in range(3):
        worker = server.addworker(callback)
        print("got", type(worker).__name__)
        worker.work(0.2)
print("all done:", handler.all_done.wait(20), sorted(handler.reported))
daemon.shutdown()
"""


def test_pyro4_client_gets_called_back(background):
    # The callback arrives in Pyro4's proxy form: the server's proxy for it speaks protocol 48.
    server = background([program("callback", "callback_server"), "--host", "127.0.0.1"])
    uri = server.expect(r"^uri: (PYRO:example\.callback@127\.0\.0\.1:\d+)$").group(1)
    _, out, _ = run([PYTHON, "-c", PYRO4_CLIENT, uri], timeout=30)
    assert out.count("got Proxy") == 3, out
    assert "all done: True [1, 2, 3]" in out
    assert "oneway call failed" not in server.output()


PYRO4_CLIENT2 = r"""
import logging, sys, threading, time, Pyro4
logging.basicConfig(stream=sys.stderr, format="[%(name)s,%(levelname)s] %(message)s")
logging.getLogger("Pyro4").setLevel(logging.WARNING)

class CallbackHandler(object):
    def __init__(self):
        self.calls = threading.Semaphore(0)

    @Pyro4.expose
    def call1(self):
        self.calls.release()
        return 1 // 0

    @Pyro4.expose
    @Pyro4.callback
    def call2(self):
        self.calls.release()
        return 1 // 0

daemon = Pyro4.Daemon(host="127.0.0.1")
handler = CallbackHandler()
callback = Pyro4.Proxy(daemon.register(handler))
threading.Thread(target=daemon.requestLoop, daemon=True).start()
with Pyro4.Proxy(sys.argv[1]) as server:
    server.doCallback(callback)
print("callbacks:", all(handler.calls.acquire(timeout=20) for _ in range(2)))
time.sleep(0.5)  # the second one is still replying (and logging)
"""


def test_cpp_server_calls_back_a_pyro4_client(background):
    server = background([program("callback", "callback_server2"), "--host", "127.0.0.1"])
    uri = server.expect(r"^uri: (PYRO:example\.callback2@127\.0\.0\.1:\d+)$").group(1)
    _, out, err = run([PYTHON, "-c", PYRO4_CLIENT2, uri], timeout=30)
    assert "callbacks: True" in out
    server.expect(r"^server: callbacks done\.$")
    text = server.output()
    assert text.count("builtins.ZeroDivisionError: integer division or modulo by zero") == 2, text
    # Pyro4's @callback logs it on the Pyro4 side, as pyrocpp's does on the C++ side
    assert err.count("[Pyro4.threadpoolserver,WARNING] error during handleRequest: "
                     "integer division or modulo by zero") == 1, err
