#!/usr/bin/python3
"""bench/naming.py — the Python half of build/bench/bench_naming, which runs it and pins it to
a CPU; not meant to be run alone. Python Pyro is Pyro5 when PYRO5_PATH points to a checkout (or
Pyro5 is installed), else Pyro4 (Debian's python3-pyro4).

  naming.py serve STORAGE          starts Python Pyro's name server on 127.0.0.1, a free port,
                                   no broadcast, STORAGE "memory" or "sql:FILE"; prints its URI
                                   and serves until killed.
  naming.py client URI --lookups N --registrations N [--rounds R] [--warmup N] [--prefix P]
                                   times N lookups of the name "bench.target" (registered
                                   first) and N registrations of fresh names, best of R rounds;
                                   prints one JSON object: {"pyro", "lookups_s", "registrations_s"}
                                   (seconds per operation; null when N is 0).
  naming.py version                prints "Pyro5 5.x" or "Pyro4 4.x".

The name server's timing is not its own business: every figure is measured by a client."""
import argparse
import importlib
import json
import os
import sys
import time


def load_pyro():
    """(name, version, module with Proxy, function starting a name server)."""
    if os.environ.get("PYRO5_PATH"):
        sys.path.insert(0, os.environ["PYRO5_PATH"])
    try:
        api = importlib.import_module("Pyro5.api")
        ns = importlib.import_module("Pyro5.nameserver")
        import Pyro5
        return "Pyro5", Pyro5.__version__, api.Proxy, ns.start_ns
    except ImportError:
        import Pyro4
        import Pyro4.naming
        return "Pyro4", Pyro4.__version__, Pyro4.Proxy, Pyro4.naming.startNS


def serve(storage):
    _, _, _, start_ns = load_pyro()
    uri, daemon, _ = start_ns(host="127.0.0.1", port=0, enableBroadcast=False, storage=storage)
    print(uri, flush=True)
    daemon.requestLoop()


def best_seconds_per_op(f, count, rounds):
    best = None
    for r in range(rounds):
        start = time.perf_counter()
        f(r, count)
        per_op = (time.perf_counter() - start) / count
        best = per_op if best is None else min(best, per_op)
    return best


def client(args):
    name, version, Proxy, _ = load_pyro()
    ns = Proxy(args.uri)
    target = "PYRO:bench.object@127.0.0.1:9999"
    ns.register("bench.target", target)
    for _ in range(args.warmup):
        ns.lookup("bench.target")
    result = {"pyro": "%s %s" % (name, version), "lookups_s": None, "registrations_s": None}

    def lookups(_, count):
        lookup = ns.lookup
        for _ in range(count):
            lookup("bench.target")

    if args.lookups:
        result["lookups_s"] = best_seconds_per_op(lookups, args.lookups, args.rounds)

    uris = ["PYRO:obj_%d@127.0.0.1:9999" % i for i in range(args.registrations)]
    names = [["%s.r%d.%d" % (args.prefix, r, i) for i in range(args.registrations)]
             for r in range(args.rounds + 1)]

    def registrations(r, count):
        register = ns.register
        for name, uri in zip(names[r], uris):
            register(name, uri)

    if args.registrations:
        warm = min(args.warmup, args.registrations)
        for name, uri in zip(names[args.rounds][:warm], uris):  # warm-up on names of their own
            ns.register(name, uri)
        result["registrations_s"] = best_seconds_per_op(registrations, args.registrations,
                                                        args.rounds)
    ns._pyroRelease()
    print(json.dumps(result), flush=True)


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve")
    s.add_argument("storage")
    c = sub.add_parser("client")
    c.add_argument("uri")
    c.add_argument("--lookups", type=int, default=0)
    c.add_argument("--registrations", type=int, default=0)
    c.add_argument("--rounds", type=int, default=1)
    c.add_argument("--warmup", type=int, default=100)
    c.add_argument("--prefix", default="bench.py")
    sub.add_parser("version")
    args = ap.parse_args()
    if args.command == "serve":
        serve(args.storage)
    elif args.command == "client":
        client(args)
    else:
        name, version, _, _ = load_pyro()
        print(name, version)


if __name__ == "__main__":
    main()
