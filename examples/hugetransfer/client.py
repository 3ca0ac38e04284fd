"""hugetransfer client for Python Pyro4: the same measurements as hugetransfer_client (C++), to
run against either server and compare. Sends str, bytes and bytearray data ten times each with
every serializer, checks the lengths the server counted, downloads ten times as much through
download_chunks, and prints MB/s per case.

    python3 client.py <uri> [--size MB] [--serializer serpent|json|marshal|msgpack]
"""
import argparse
import math
import time

import Pyro4
import Pyro4.errors
import serpent

TRANSFERS = 10
CHUNK_SIZE = 200000
MB = 1024.0 * 1024.0


def speed(total, seconds):
    print("  %.2f MB in %.3f s: %.1f MB/s" % (total / MB, seconds, total / MB / seconds))
    return total / MB / seconds


def send_repeatedly(proxy, data):
    """MB/s of ten transfers of data, None when the serializer cannot carry it, 'FAILED' when
    the server counted a wrong length."""
    begin = time.time()
    for _ in range(TRANSFERS):
        try:
            length = proxy.transfer(data)
        except Pyro4.errors.SerializeError as x:  # json has no bytes type
            print("  not sent:", x)
            return None
        if length != len(data):
            print("  wrong length: server counted %d, sent %d" % (length, len(data)))
            return "FAILED"
    return speed(len(data) * TRANSFERS, time.time() - begin)


def download(proxy, total):
    begin = time.time()
    received = chunks = 0
    try:
        for chunk in proxy.download_chunks(total):
            received += len(serpent.tobytes(chunk))  # serpent: a base64 dict
            chunks += 1
    except Pyro4.errors.PyroError as x:
        print("  download failed after %d chunks: %s" % (chunks, x))
        return None
    print("  received %d bytes in %d chunks" % (received, chunks))
    if received != total or chunks != math.ceil(total / CHUNK_SIZE):
        return "FAILED"
    return speed(total, time.time() - begin)


def column(result):
    if isinstance(result, float):
        return "%11.1f" % result
    return "%11s" % (result or "-")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("uri")
    parser.add_argument("--size", type=float, default=5.0, help="MB per transfer")
    parser.add_argument("--serializer", choices=["serpent", "json", "marshal", "msgpack"])
    args = parser.parse_args()
    size = int(round(args.size * MB))
    serializers = [args.serializer] if args.serializer else ["serpent", "json", "marshal",
                                                             "msgpack"]
    rows = []
    for name in serializers:
        with Pyro4.Proxy(args.uri) as proxy:
            proxy._pyroSerializer = name
            proxy._pyroBind()
            print("\n---- serializer %s: %d transfers of %d bytes ----" % (name, TRANSFERS, size))
            row = [name]
            for heading, data in (("string data:", "x" * size),
                                  ("bytes data:", b"x" * size),
                                  ("bytearray data:", bytearray(b"x" * size))):
                print(heading)
                row.append(send_repeatedly(proxy, data))
            print("download via iterator:")
            row.append(download(proxy, size * TRANSFERS))
            rows.append(row)
    print("\nMB/s, %.2f MB x %d per kind of data; download of %.2f MB in chunks"
          % (size / MB, TRANSFERS, size * TRANSFERS / MB))
    print("serializer         str      bytes  bytearray   download")
    for row in rows:
        print("%-10s" % row[0] + "".join(column(r) for r in row[1:]))
    return 1 if any(r == "FAILED" for row in rows for r in row) else 0


if __name__ == "__main__":
    raise SystemExit(main())
