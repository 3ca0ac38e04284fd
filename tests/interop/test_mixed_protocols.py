"""One C++ daemon, both protocols at once: live Python Pyro4 proxies (protocol 48) call the
interop service while recorded Pyro5 conversations (protocol 502, tests/vectors/pyro5) are
replayed on other connections of the same port. Every Pyro4 call must get its own answer and
every replayed request the recorded reply (compared decoded: the same type, sequence number,
flags and payload value)."""
import json
import marshal
import math
import re
import socket
import struct
import subprocess
import threading
import time

import msgpack
import pytest
import serpent

import Pyro4

from conftest import ROOT, build_program

VECTORS = ROOT / "tests" / "vectors" / "pyro5"
SCENARIOS = ["call_plain", "call_kwargs", "echo_rich_types"]
SERIALIZERS = ["serpent", "json", "marshal", "msgpack"]
# protocol 502's 40-byte header: tag, version, type, serializer id, flags, seq, data size,
# annotations size, correlation id, reserved, checksum
HEADER = struct.Struct(">4sHBBHHII16sHH")
TIMEOUT = 10.0


@pytest.fixture(scope="module")
def service():
    proc = subprocess.Popen([str(build_program("tests/interop_server"))], stdout=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, text=True)
    uris = {}
    deadline = time.monotonic() + TIMEOUT
    try:
        while time.monotonic() < deadline:
            line = proc.stdout.readline().strip()
            if line == "running." or not line:
                break
            name, uri = line.split()
            uris[name] = uri
        assert "example.service" in uris, uris
        yield uris["example.service"]
    finally:
        proc.kill()
        proc.wait(timeout=TIMEOUT)


def port_of(uri):
    return int(re.search(r":(\d+)$", uri).group(1))


def read_exactly(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("daemon closed the connection after %d of %d bytes" % (len(data), n))
        data += chunk
    return data


def parse(message):
    """(type, flags, seq, serializer id, payload) of one protocol 502 message."""
    (magic, version, mtype, ser, flags, seq, size, ann_size, _corr, _reserved,
     _checksum) = HEADER.unpack(message[:HEADER.size])
    assert magic == b"PYRO" and version == 502
    return mtype, flags, seq, ser, message[HEADER.size + ann_size:HEADER.size + ann_size + size]


def receive(sock):
    head = read_exactly(sock, HEADER.size)
    size, ann_size = struct.unpack(">II", head[12:20])
    return head + read_exactly(sock, ann_size + size)


def decode(serializer, payload):
    if serializer == "serpent":
        return serpent.loads(payload)
    if serializer == "json":
        return json.loads(payload.decode("utf-8"))
    if serializer == "marshal":
        return marshal.loads(payload)
    return msgpack.unpackb(payload, raw=False, strict_map_key=False)


def comparable(value):
    """Decoded values with the metadata name collections sorted (sets, or the lists json and
    msgpack send them as, have no order) and without exceptions' remote tracebacks (ours name
    the C++ daemon, Python's its own source lines)."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if k == "attributes" and value.get("__exception__") and isinstance(v, dict):
                v = {a: b for a, b in v.items() if a != "_pyroTraceback"}
            if k in ("methods", "oneway", "attrs") and isinstance(v, (list, set, tuple)):
                out[k] = sorted(v)
            else:
                out[k] = comparable(v)
        return out
    if isinstance(value, list):
        return [comparable(v) for v in value]
    return value


def same(a, b):
    """Equality where NaN equals NaN (payloads echo float('nan'))."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


def replay(port, serializer, scenario):
    """Sends the recorded client messages of one scenario on a new connection and checks each
    reply against the recorded one. Returns the number of replies compared."""
    directory = VECTORS / serializer / scenario
    files = sorted(p for p in directory.iterdir() if p.suffix == ".bin")
    compared = 0
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
        for f in files:
            recorded = f.read_bytes()
            if f.name.endswith("-c2s.bin"):
                sock.sendall(recorded)
                continue
            ours = parse(receive(sock))
            theirs = parse(recorded)
            assert ours[:4] == theirs[:4], "%s/%s %s: header (type, flags, seq, serializer)" % (
                serializer, scenario, f.name)
            # the same value (sets have no order; marshal's reference flags may differ)
            assert same(comparable(decode(serializer, ours[4])), comparable(decode(serializer, theirs[4]))), \
                "%s/%s %s: payload" % (serializer, scenario, f.name)
            compared += 1
    return compared


@pytest.mark.parametrize("serializer", SERIALIZERS)
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_recorded_pyro5_conversations_replay_alone(service, serializer, scenario):
    assert replay(port_of(service), serializer, scenario) > 0


def test_pyro4_clients_and_recorded_pyro5_traffic_share_the_daemon(service):
    port = port_of(service)
    errors = []
    stop = threading.Event()
    counts = {"pyro4": 0, "pyro5": 0}

    def pyro4_client(serializer):
        try:
            Pyro4.config.SERIALIZER = serializer  # read when the proxy is created
            with Pyro4.Proxy(service) as p:
                p._pyroTimeout = TIMEOUT
                i = 0
                while not stop.is_set() and i < 2000:
                    assert p.add(i, 1) == i + 1
                    assert p.echo({"n": i, "s": "\u00e9" * (i % 5)}) == {"n": i, "s": "\u00e9" * (i % 5)}
                    assert p.upper("pyro4-%d" % i) == "PYRO4-%d" % i
                    counts["pyro4"] += 1
                    i += 1
        except Exception as x:  # noqa: BLE001 - reported below
            errors.append("Pyro4 %s client: %r" % (serializer, x))

    def pyro5_replayer():
        try:
            rounds = 0
            while not stop.is_set() and rounds < 20:
                for serializer in SERIALIZERS:
                    for scenario in SCENARIOS:
                        counts["pyro5"] += replay(port, serializer, scenario)
                rounds += 1
        except Exception as x:  # noqa: BLE001 - reported below
            errors.append("Pyro5 replay: %r" % (x,))

    threads = [threading.Thread(target=pyro4_client, args=("serpent",))]
    threads += [threading.Thread(target=pyro5_replayer) for _ in range(2)]
    for t in threads:
        t.start()
    time.sleep(3.0)
    stop.set()
    for t in threads:
        t.join(timeout=TIMEOUT * 3)
    assert not any(t.is_alive() for t in threads), "a client hung"
    assert not errors, errors
    assert counts["pyro4"] > 10 and counts["pyro5"] > 10, counts
