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
def pyro4_daemon(kind="service", hmac_key=None):
    """Serves both objects on 127.0.0.1, a free port, from a background thread; yields
    {object id: uri text}."""
    daemon = make_daemon(Pyro4, kind == "guarded", None)
    if hmac_key is not None:
        daemon._pyroHmacKey = hmac_key
    sub = Sub("one")
    uris = {
        "example.sub": str(daemon.register(sub, "example.sub")),
        "example.service": str(daemon.register(Service(sub, daemon), "example.service")),
    }
    thread = threading.Thread(target=daemon.requestLoop, daemon=True)
    thread.start()
    try:
        yield uris
    finally:
        daemon.shutdown()
        thread.join(10)
        daemon.close()
