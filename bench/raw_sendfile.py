#!/usr/bin/python3
"""bench/raw_sendfile.py SIZE_MB COUNT — the physical limit of filetransfer's raw side channel.

A server process (CPU 1) sends COUNT blobs of SIZE_MB megabytes, each on a connection of its own,
the way examples/filetransfer does: from a temporary file with sendfile(2), then from memory with
send(2), a blob of its own each time, freed once sent (as the example's prepared blobs are). The
client (CPU 0) reads each a megabyte at a time until the server closes. Nothing but the system
calls: prints {"file": MB/s, "memory": MB/s} (MB = 10**6 bytes)."""
import json
import os
import socket
import sys
import tempfile
import time


def content(size):
    period = bytes(i % 251 for i in range(251 * 4096))
    whole, rest = divmod(size, len(period))
    return period * whole + period[:rest]


def serve(listener, size, count, ready):
    os.sched_setaffinity(0, {1})
    data = content(size)
    with tempfile.TemporaryFile() as f:
        f.write(data)
        f.flush()
        blobs = [bytearray(data) for _ in range(count)]  # prepared up front, as in the example
        os.write(ready, b"r")  # the blobs exist: the client's clock may start
        for source in ("file", "memory"):
            for _ in range(count):
                conn, _ = listener.accept()
                if source == "file":
                    offset = 0
                    while offset < size:
                        offset += os.sendfile(conn.fileno(), f.fileno(), offset, size - offset)
                else:
                    blob = blobs.pop()
                    conn.sendall(blob)
                    del blob  # freeing it is part of the cost
                conn.close()


def main():
    size = int(float(sys.argv[1]) * 1000 * 1000)
    count = int(sys.argv[2])
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    port = listener.getsockname()[1]
    ready_r, ready_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            serve(listener, size, count, ready_w)
        finally:
            os._exit(0)
    os.sched_setaffinity(0, {0})
    if os.read(ready_r, 1) != b"r":
        raise SystemExit("raw_sendfile: the server did not start")
    buffer = bytearray(1 << 20)
    rates = {}
    for source in ("file", "memory"):
        total = 0
        start = time.perf_counter()
        for _ in range(count):
            with socket.create_connection(("127.0.0.1", port)) as s:
                while True:
                    n = s.recv_into(buffer)
                    if not n:
                        break
                    total += n
        seconds = time.perf_counter() - start
        if total != size * count:
            raise SystemExit("raw_sendfile: %d bytes received, %d expected" % (total, size * count))
        rates[source] = total / seconds / 1e6
    os.waitpid(pid, 0)
    print(json.dumps(rates))


if __name__ == "__main__":
    main()
