"""The filetransfer example's server and client for Python Pyro4 (protocol 48), with the remote
API of Pyro's example and of filetransfer_server: the tests run them against the C++ programs.
They send and expect the same content as the C++ programs (byte i of a file is i % 251).

    pyro4_filetransfer.py server [--host H] [--port N] [--stream-size MB]
    pyro4_filetransfer.py client URI [--size MB] [--count N] [--out DIR]
                          [--modes regular,iterator,annotation,raw] [--memory] [--checksum]
"""
import argparse
import os
import socket
import sys
import tempfile
import threading
import time
import uuid
import zlib

import Pyro4
import serpent

MB = 1024 * 1024
PERIOD = bytes(range(251))


def content(size):
    """The first `size` content bytes."""
    return (PERIOD * (size // len(PERIOD) + 1))[:size]


def temporary_file(size):
    f = tempfile.TemporaryFile()
    block = content(len(PERIOD) * 4096)  # a whole number of periods: blocks join seamlessly
    written = 0
    while written < size:
        n = min(len(block), size - written)
        f.write(block[:n])
        written += n
    f.flush()
    f.seek(0)
    return f


# ---- server --------------------------------------------------------------------------------------

class BlobStore:
    def __init__(self):
        self.lock = threading.Lock()
        self.blobs = {}  # id -> temporary file or bytes

    def add(self, blob):
        blob_id = str(uuid.uuid4())
        with self.lock:
            self.blobs[blob_id] = blob
        return blob_id

    def take(self, blob_id):
        with self.lock:
            return self.blobs.pop(blob_id, None)


@Pyro4.expose
class FileServer:
    def __init__(self, store, blob_address, stream_size):
        self.store = store
        self.blob_address = blob_address
        self.stream_size = stream_size

    def get_with_pyro(self, size):
        return content(size)

    def iterator(self, size):
        chunk = max(size // 100, 1)
        data = content(size)
        for i in range(0, size, chunk):
            yield data[i:i + chunk]

    def annotation_stream(self, with_checksum=False):
        with temporary_file(self.stream_size) as f:
            while True:
                # Pyro5's example sends 500000 bytes; protocol 48 allows 65535 annotation bytes
                chunk = f.read(64000)
                if not chunk:
                    break
                Pyro4.current_context.response_annotations = {"FDAT": chunk}
                yield f.tell(), zlib.crc32(chunk) if with_checksum else 0

    def prepare_file_blob(self, size):
        return self.store.add(temporary_file(size)), self.blob_address

    def prepare_memory_blob(self, size):
        return self.store.add(content(size)), self.blob_address


def serve_blobs(listener, store):
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=send_blob, args=(conn, store), daemon=True).start()


def send_blob(conn, store):
    with conn:
        blob_id = b""
        while len(blob_id) < 36:
            part = conn.recv(36 - len(blob_id))
            if not part:
                return
            blob_id += part
        blob = store.take(blob_id.decode("ascii", "replace"))
        if blob is None:
            return  # unknown id: closed, nothing sent
        if isinstance(blob, bytes):
            conn.sendall(blob)
            return
        with blob:
            offset = 0
            while True:
                sent = os.sendfile(conn.fileno(), blob.fileno(), offset, 1 << 20)
                if sent == 0:
                    break
                offset += sent


def server(args):
    store = BlobStore()
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind((args.host, 0))
    listener.listen(64)
    threading.Thread(target=serve_blobs, args=(listener, store), daemon=True).start()
    with Pyro4.Daemon(host=args.host, port=args.port) as daemon:
        fileserver = FileServer(store, listener.getsockname(), int(args.stream_size * MB))
        uri = daemon.register(fileserver, "example.filetransfer")
        print("uri:", uri, flush=True)
        daemon.requestLoop()


# ---- client --------------------------------------------------------------------------------------

def sink(args, name):
    return open(os.path.join(args.out, name), "wb") if args.out else open(os.devnull, "wb")


def regular(args, proxy):
    total = 0
    for i in range(args.count):
        data = serpent.tobytes(proxy.get_with_pyro(args.size))
        assert len(data) == args.size, len(data)
        with sink(args, "regular-0-%d.bin" % i) as f:
            f.write(data)
        total += len(data)
    return total


def iterator(args, proxy):
    total = 0
    for i in range(args.count):
        with sink(args, "iterator-0-%d.bin" % i) as f:
            size = 0
            for chunk in proxy.iterator(args.size):
                chunk = serpent.tobytes(chunk)
                f.write(chunk)
                size += len(chunk)
        assert size == args.size, size
        total += size
    return total


def annotation(args, proxy):
    total = 0
    with sink(args, "annotation-0.bin") as f:
        for position, checksum in proxy.annotation_stream(args.checksum):
            chunk = Pyro4.current_context.response_annotations["FDAT"]
            if args.checksum and zlib.crc32(chunk) != checksum:
                raise ValueError("checksum error")
            f.write(chunk)
            total += len(chunk)
            assert position == total, (position, total)
            Pyro4.current_context.response_annotations.clear()
    return total


def raw(args, proxy, timing):
    method = proxy.prepare_memory_blob if args.memory else proxy.prepare_file_blob
    blobs = [method(args.size) for _ in range(args.count)]
    timing[0] = time.time()  # only the transfers are timed
    total = 0
    for i, (blob_id, address) in enumerate(blobs):
        with socket.create_connection((address[0], address[1])) as sock, \
                sink(args, "raw-0-%d.bin" % i) as f:
            sock.sendall(blob_id.encode())
            size = 0
            while True:
                chunk = sock.recv(1 << 20)
                if not chunk:
                    break
                f.write(chunk)
                size += len(chunk)
        assert size == args.size, size
        total += size
    return total


def client(args):
    args.size = int(args.size * MB)
    averages = []
    for mode in args.modes.split(","):
        print("\n**** %s ****" % mode, flush=True)
        timing = [time.time()]
        with Pyro4.Proxy(args.uri) as proxy:
            if mode == "raw":
                total = raw(args, proxy, timing)
            else:
                total = {"regular": regular, "iterator": iterator,
                         "annotation": annotation}[mode](args, proxy)
        seconds = time.time() - timing[0]
        rate = total / MB / max(seconds, 1e-9)
        print("%s: %.2f MB in %.3f s, %.2f MB/s" % (mode, total / MB, seconds, rate), flush=True)
        averages.append((mode, rate))
    print("\naverages:")
    for mode, rate in averages:
        print("  %-12s%10.2f MB/s" % (mode, rate))


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="role", required=True)
    s = sub.add_parser("server")
    s.add_argument("--host", default="localhost")
    s.add_argument("--port", type=int, default=0)
    s.add_argument("--stream-size", type=float, default=5000 * 11000 / MB)
    c = sub.add_parser("client")
    c.add_argument("uri")
    c.add_argument("--size", type=float, default=10)
    c.add_argument("--count", type=int, default=10)
    c.add_argument("--out")
    c.add_argument("--modes", default="regular,iterator,annotation,raw")
    c.add_argument("--memory", action="store_true")
    c.add_argument("--checksum", action="store_true")
    args = parser.parse_args()
    server(args) if args.role == "server" else client(args)


if __name__ == "__main__":
    sys.exit(main())
