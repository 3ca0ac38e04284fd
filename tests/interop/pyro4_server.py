"""A Python Pyro daemon serving the interop service (tests/support/interop_service.hpp describes
it), for the C++ proxy to call: tests/interop/test_cpp_to_pyro4.py starts it and points
interop_client at it.

    /usr/bin/python3 pyro4_server.py [--pyro5] [--key KEY]

Pyro4 (Debian's, protocol 48) by default; --pyro5 serves with Pyro5 (protocol 502) instead, from
the checkout named by PYRO5_PATH. --key gives both Pyro4 daemons an HMAC key (Pyro5 has none).

Two daemons on 127.0.0.1, port 0: a plain one, and a guarded one whose handshake validator wants
{"token": "let-me-in"}. Both expose "example.service" and "example.sub", compress large replies
(COMPRESSION on) and, for Pyro4, accept msgpack too when it is installed. The script prints

    service uri: PYRO:example.service@127.0.0.1:<port>
    guarded uri: PYRO:example.service@127.0.0.1:<port>
    ready.

then serves until it is killed or its standard input is closed (so it never outlives its parent).
"""
import argparse
import importlib.util
import os
import sys
import threading
import types


def load_pyro(use_pyro5):
    """Returns (api, context): the module holding Daemon/expose/oneway and the call context."""
    if use_pyro5:
        checkout = os.environ.get("PYRO5_PATH")
        if checkout and checkout not in sys.path:
            sys.path.insert(0, checkout)
        import Pyro5.api
        Pyro5.api.config.COMPRESSION = True  # large replies compressed: the client must inflate
        return Pyro5.api, Pyro5.api.current_context
    import Pyro4
    Pyro4.config.COMPRESSION = True
    # msgpack is not accepted by default in Pyro4 (the others are); add it when it is installed.
    if importlib.util.find_spec("msgpack"):
        Pyro4.config.SERIALIZERS_ACCEPTED = {"serpent", "json", "marshal", "msgpack"}
    return Pyro4, Pyro4.current_context


def build_service(pyro, context):
    expose, oneway = pyro.expose, pyro.oneway

    class InteropError(Exception):
        """The custom exception: args ("custom failure", code) and an attribute `code`."""

        def __init__(self, message, code):
            super().__init__(message, code)
            self.code = code

    # The class name travels as module.qualname: make it match the C++ service's.
    InteropError.__module__ = "interop_service"
    InteropError.__qualname__ = "InteropError"

    @expose
    class Sub(object):
        """Registered as example.sub; make_sub() returns it (an autoproxy where supported)."""

        def __init__(self, name):
            self.name = name

        def whoami(self):
            return "sub:" + self.name

    class Service(object):
        def __init__(self, sub, daemon):
            self._sub = sub
            self._daemon = daemon
            self._last = None
            self._value = 42
            self._lock = threading.Lock()

        @expose
        def calc(self, a, s, f):
            return [a * 2, s.upper(), f * 2]

        @expose
        def kwcall(self, a, b=None, c=None, **extra):
            return {"a": a, "b": b, "c": c, "extra": extra}

        @expose
        def echo(self, value):
            return value

        @expose
        def add(self, a, b):
            return a + b

        @expose
        def upper(self, text):
            return text.upper()

        @expose
        def fail_value(self, text):
            raise ValueError("invalid value: " + text)

        @expose
        def fail_custom(self, code):
            raise InteropError("custom failure", code)

        @expose
        @oneway
        def fire(self, value):
            with self._lock:
                self._last = value

        @expose
        def last(self):
            with self._lock:
                return self._last

        @expose
        def count(self, n):
            for i in range(n):
                yield "item-%d" % i

        @expose
        def annotated(self, what):
            seen = {}
            for key, raw in context.annotations.items():
                seen[key] = bytes(raw).decode("utf-8", "replace")
            context.response_annotations["XSRV"] = ("reply to " + what).encode("utf-8")
            return seen

        @expose
        def correlation(self):
            cid = context.correlation_id
            return None if cid is None else str(cid)

        @expose
        def make_sub(self):
            # Pyro's class_to_dict (what marshal falls back to) sets _pyroDaemon to None on the
            # object it converts, which ends its autoproxying for every later caller: undo that.
            if self._sub._pyroDaemon is None:
                self._sub._pyroDaemon = self._daemon
            return self._sub

        @expose
        @property
        def value(self):
            with self._lock:
                return self._value

        @value.setter
        def value(self, v):
            with self._lock:
                self._value = v

        def hidden(self):
            return "not exposed"

    # Names as the C++ service has them: marshal sends Sub as a class dict ("interop_service.Sub"),
    # and Python's TypeErrors name methods by qualified name ("Service.kwcall() missing ...").
    Sub.__module__ = "interop_service"
    for cls in (Sub, Service):
        cls.__qualname__ = cls.__name__
        for member in vars(cls).values():
            if isinstance(member, types.FunctionType):
                member.__qualname__ = cls.__name__ + "." + member.__name__
    return Service, Sub


def make_daemon(pyro, guarded, key):
    base = pyro.Daemon

    class GuardedDaemon(base):
        def validateHandshake(self, conn, data):
            if not isinstance(data, dict) or data.get("token") != "let-me-in":
                raise ValueError("handshake rejected: bad token")
            return {"welcome": True, "server": "guarded"}

    daemon = (GuardedDaemon if guarded else base)(host="127.0.0.1", port=0)
    if key is not None:
        daemon._pyroHmacKey = key.encode("utf-8")
    return daemon


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pyro5", action="store_true", help="serve with Pyro5 (protocol 502)")
    parser.add_argument("--key", help="HMAC key for the Pyro4 daemons")
    args = parser.parse_args()
    if args.pyro5 and args.key is not None:
        parser.error("Pyro5 has no HMAC keys")

    pyro, context = load_pyro(args.pyro5)
    Service, Sub = build_service(pyro, context)
    uris = {}
    for kind in ("service", "guarded"):
        daemon = make_daemon(pyro, kind == "guarded", args.key)
        sub = Sub("one")
        daemon.register(sub, "example.sub")
        uris[kind] = daemon.register(Service(sub, daemon), "example.service")
        threading.Thread(target=daemon.requestLoop, daemon=True).start()
    print("service uri:", uris["service"])
    print("guarded uri:", uris["guarded"])
    print("ready.", flush=True)
    sys.stdin.read()  # until EOF: the parent went away or closed the pipe


if __name__ == "__main__":
    main()
