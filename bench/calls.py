#!/usr/bin/python3
"""bench/calls.py — the Python half of build/bench/bench_calls, which runs it pinned to a CPU;
not meant to be run alone. Python Pyro is Debian's Pyro4 ("--pyro 4"), or Pyro5 ("--pyro 5")
from the checkout PYRO5_PATH points to.

  calls.py --pyro N serve          serves the benchmark object ("bench") on 127.0.0.1, a free
                                   port, every serializer accepted; prints its URI.
  calls.py --pyro N client URI TEST [--count N] [--serializer S] [--size BYTES] [--clients N]
                                   runs one measurement against URI and prints one JSON object:
                                   {"ops": count, "seconds": elapsed, ...}.
  calls.py --pyro N version        prints "Pyro4 4.82" or "Pyro5 5.x".

TEST is one of: call (tiny sync calls; also "p50"/"p99" in microseconds), concurrent (--clients
threads, each with its own proxy), oneway (oneway calls until the server has run them all),
batch (calls in batches of 100), upload (bytes of --size sent to the server), stream (items of
a remote iterator), connect (connect + call + release)."""
import argparse
import importlib
import os
import sys
import threading
import time
import json


def load(version):
    if version == 5:
        if os.environ.get("PYRO5_PATH"):
            sys.path.insert(0, os.environ["PYRO5_PATH"])
        api = importlib.import_module("Pyro5.api")
        import Pyro5
        return "Pyro5", Pyro5.__version__, api, Pyro5.config
    import Pyro4
    return "Pyro4", Pyro4.__version__, Pyro4, Pyro4.config


def serve(pyro, config):
    if hasattr(config, "SERIALIZERS_ACCEPTED"):
        config.SERIALIZERS_ACCEPTED = {"serpent", "json", "marshal", "msgpack"}
    if hasattr(config, "ITER_STREAMING"):
        config.ITER_STREAMING = True
    config.THREADPOOL_SIZE = 100  # the thread server refuses clients past its pool

    class Bench(object):
        def __init__(self):
            self.count = 0
            self.lock = threading.Lock()

        def ping(self):
            return 1

        def tick(self):
            with self.lock:
                self.count += 1

        def ticks(self):
            return self.count

        def take(self, data):
            if isinstance(data, dict):  # serpent's bytes (as Pyro's hugetransfer example does)
                import serpent
                data = serpent.tobytes(data)
            return len(data)

        def items(self, n):
            for i in range(n):
                yield i

    expose = pyro.expose
    oneway = pyro.oneway
    Bench.ping = expose(Bench.ping)
    Bench.tick = expose(oneway(Bench.tick))
    Bench.ticks = expose(Bench.ticks)
    Bench.take = expose(Bench.take)
    Bench.items = expose(Bench.items)
    behavior = getattr(pyro, "behavior")
    Bench = behavior(instance_mode="single")(Bench)
    daemon = pyro.Daemon(host="127.0.0.1")
    uri = daemon.register(Bench, "bench")
    print(uri, flush=True)
    daemon.requestLoop()


def percentile(sorted_values, p):
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * p))]


def client(pyro, args):
    def proxy():
        p = pyro.Proxy(args.uri)
        p._pyroSerializer = args.serializer
        return p

    out = {}
    if args.test == "call":
        p = proxy()
        for _ in range(100):
            p.ping()
        times = []
        start = time.perf_counter()
        for _ in range(args.count):
            t = time.perf_counter()
            p.ping()
            times.append(time.perf_counter() - t)
        out["seconds"] = time.perf_counter() - start
        times.sort()
        out["p50"] = percentile(times, 0.5) * 1e6
        out["p99"] = percentile(times, 0.99) * 1e6
    elif args.test == "concurrent":
        proxies = [proxy() for _ in range(args.clients)]
        for p in proxies:
            p.ping()
        per = max(1, args.count // args.clients)

        def work(p):
            p._pyroClaimOwnership() if hasattr(p, "_pyroClaimOwnership") else None
            for _ in range(per):
                p.ping()
        threads = [threading.Thread(target=work, args=(p,)) for p in proxies]
        start = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        out["seconds"] = time.perf_counter() - start
        args.count = per * args.clients
    elif args.test == "oneway":
        p = proxy()
        before = p.ticks()
        start = time.perf_counter()
        for _ in range(args.count):
            p.tick()
        while p.ticks() < before + args.count:
            time.sleep(0.001)
        out["seconds"] = time.perf_counter() - start
    elif args.test == "batch":
        p = proxy()
        batches = max(1, args.count // 100)
        start = time.perf_counter()
        for _ in range(batches):
            b = pyro.batch(p) if hasattr(pyro, "batch") else pyro.BatchProxy(p)
            for _ in range(100):
                b.ping()
            for _ in b():
                pass
        out["seconds"] = time.perf_counter() - start
        args.count = batches * 100
    elif args.test == "upload":
        p = proxy()
        data = os.urandom(args.size)
        p.take(b"x")
        start = time.perf_counter()
        for _ in range(args.count):
            n = p.take(data)
        out["seconds"] = time.perf_counter() - start
        out["bytes"] = args.size * args.count
        assert n == args.size or args.serializer == "json", n
    elif args.test == "stream":
        p = proxy()
        start = time.perf_counter()
        n = sum(1 for _ in p.items(args.count))
        out["seconds"] = time.perf_counter() - start
        assert n == args.count
    elif args.test == "connect":
        start = time.perf_counter()
        for _ in range(args.count):
            p = proxy()
            p.ping()
            p._pyroRelease()
        out["seconds"] = time.perf_counter() - start
    out["ops"] = args.count
    print(json.dumps(out), flush=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--pyro", type=int, default=4)
    parser.add_argument("command")
    parser.add_argument("uri", nargs="?")
    parser.add_argument("test", nargs="?")
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--serializer", default="marshal")
    parser.add_argument("--size", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()
    name, version, pyro, config = load(args.pyro)
    if args.command == "version":
        print(name, version)
    elif args.command == "serve":
        serve(pyro, config)
    else:
        client(pyro, args)


if __name__ == "__main__":
    main()
