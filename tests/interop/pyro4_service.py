"""The interop service (tests/support/interop_service.hpp) as a Python Pyro4 daemon running in the
test process: the reference the C++ daemon is compared with in test_pyro4_to_cpp.py. The service
itself is pyro4_server.py's (the daemon the C++ client is tested against).

    with pyro4_daemon(kind="service", hmac_key=None) as uris:
        uris["example.service"]   # "PYRO:example.service@127.0.0.1:<port>"

Kind "guarded" accepts only the handshake data {"token": "let-me-in"}, answering
{"welcome": True, "server": "guarded"}, else refuses with ValueError("handshake rejected: bad token").
"""
import contextlib
import threading

import Pyro4

from pyro4_server import build_service, make_daemon

Service, Sub = build_service(Pyro4, Pyro4.current_context)


@contextlib.contextmanager
def python_daemon(api, service, sub, kind="service", hmac_key=None):
    """Serves the service classes (pyro4_server.build_service) in a Python Pyro daemon of the
    given api module (Pyro4, or Pyro5.api) on 127.0.0.1, a free port, from a background
    thread; yields {object id: uri text}."""
    daemon = make_daemon(api, kind == "guarded", None)
    if hmac_key is not None:
        daemon._pyroHmacKey = hmac_key
    one = sub("one")
    uris = {
        "example.sub": str(daemon.register(one, "example.sub")),
        "example.service": str(daemon.register(service(one, daemon), "example.service")),
    }
    thread = threading.Thread(target=daemon.requestLoop, daemon=True)
    thread.start()
    try:
        yield uris
    finally:
        daemon.shutdown()
        thread.join(10)
        daemon.close()


def pyro4_daemon(kind="service", hmac_key=None):
    """The service in a Python Pyro4 daemon (see python_daemon)."""
    return python_daemon(Pyro4, Service, Sub, kind, hmac_key)
