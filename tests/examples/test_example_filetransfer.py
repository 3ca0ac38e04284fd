"""examples/filetransfer: a payload fetched four ways (call results, a remote iterator, FDAT
annotations of an item stream, a raw TCP side channel fed by sendfile) between the C++ client and
server, and across to Python Pyro4 both ways. Received files are compared with the content the
servers send (byte i is i % 251); the raw channel serves prepared ids only, each once."""
import hashlib
import os
import re
import socket
import uuid

from conftest import PYTHON, program, run, source

MB = 1024 * 1024
SIZE_MB = 2          # per blob
COUNT = 2            # blobs per mode (and thread)
STREAM_MB = 3        # the file annotation_stream sends
MODES = ["regular", "iterator", "annotation", "raw"]
PYRO4_SCRIPT = source("filetransfer", "pyro4_filetransfer.py")


def content_hash(size):
    period = bytes(range(251))
    return hashlib.sha256((period * (size // 251 + 1))[:size]).hexdigest()


def file_hash(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def check_files(out, threads=1, modes=MODES):
    """Every file the client wrote has the content the server sent, and none is missing."""
    blob, stream = content_hash(SIZE_MB * MB), content_hash(STREAM_MB * MB)
    expected = set()
    for t in range(threads):
        for mode in modes:
            if mode == "annotation":
                expected.add("annotation-%d.bin" % t)
            else:
                expected.update("%s-%d-%d.bin" % (mode, t, i) for i in range(COUNT))
    assert set(os.listdir(out)) == expected
    for name in expected:
        want = stream if name.startswith("annotation") else blob
        assert file_hash(os.path.join(out, name)) == want, name


def averages(out):
    """{mode: MB/s} from the client's closing table."""
    table = out[out.index("averages:"):]
    return {m: float(r) for m, r in re.findall(r"^  (\w+)\s+([\d.]+) MB/s$", table, re.M)}


def start_server(background):
    server = background([program("filetransfer", "filetransfer_server"), "--host", "127.0.0.1",
                         "--stream-size", str(STREAM_MB)])
    blob_port = int(server.expect(r"^blob socket available on: 127\.0\.0\.1:(\d+)$").group(1))
    uri = server.expect(r"^uri: (PYRO:example\.filetransfer@127\.0\.0\.1:\d+)$").group(1)
    return server, uri, blob_port


def client_args(uri, out, *extra):
    return [program("filetransfer", "filetransfer_client"), uri, "--size", str(SIZE_MB),
            "--count", str(COUNT), "--out", str(out)] + list(extra)


def test_cpp_client_fetches_all_modes_from_cpp_server(background, tmp_path):
    server, uri, _ = start_server(background)
    _, out, _ = run(client_args(uri, tmp_path, "--checksum"), timeout=60)
    check_files(tmp_path)
    assert set(averages(out)) == set(MODES), out
    assert all(rate > 0 for rate in averages(out).values()), out
    server.expect(r"from its file with sendfile\(\)$", timeout=5)


def test_cpp_client_threads_memory_blobs_and_marshal(background, tmp_path):
    _, uri, _ = start_server(background)
    _, out, _ = run(client_args(uri, tmp_path, "--threads", "2", "--memory", "--serializer",
                                "marshal"), timeout=60)
    check_files(tmp_path, threads=2)
    assert set(averages(out)) == set(MODES), out


def receive_all(port, blob_id, timeout=10):
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(blob_id.encode())
        data = b""
        while True:
            chunk = sock.recv(1 << 20)
            if not chunk:
                return data
            data += chunk


PREPARE = r"""
import sys, Pyro4
with Pyro4.Proxy(sys.argv[1]) as p:
    blob_id, address = p.prepare_file_blob(int(sys.argv[2]))
    print(blob_id, address[0], address[1])
"""


def test_raw_channel_serves_prepared_ids_only_and_each_once(background):
    server, uri, blob_port = start_server(background)
    # an id nobody prepared: the connection is closed with nothing sent
    assert receive_all(blob_port, str(uuid.uuid4())) == b""
    server.expect(r"unknown id requested, closing the connection$", timeout=5)
    # so is a connection that closes before sending a whole id
    with socket.create_connection(("127.0.0.1", blob_port), timeout=10) as sock:
        sock.sendall(b"short")
        sock.shutdown(socket.SHUT_WR)
        assert sock.recv(100) == b""
    # a prepared one is served once, with the advertised address
    _, out, _ = run([PYTHON, "-c", PREPARE, uri, "100000"], timeout=30)
    blob_id, host, port = out.split()
    assert (host, int(port)) == ("127.0.0.1", blob_port)
    data = receive_all(blob_port, blob_id)
    assert hashlib.sha256(data).hexdigest() == content_hash(100000)
    assert receive_all(blob_port, blob_id) == b""


def test_pyro4_client_fetches_all_modes_from_cpp_server(background, tmp_path):
    _, uri, _ = start_server(background)
    _, out, _ = run([PYTHON, PYRO4_SCRIPT, "client", uri, "--size", str(SIZE_MB), "--count",
                     str(COUNT), "--out", str(tmp_path), "--checksum"], timeout=90)
    check_files(tmp_path)
    assert set(averages(out)) == set(MODES), out


def test_cpp_client_fetches_all_modes_from_pyro4_server(background, tmp_path):
    server = background([PYTHON, PYRO4_SCRIPT, "server", "--host", "127.0.0.1", "--stream-size",
                         str(STREAM_MB)])
    uri = server.expect(r"^uri: (PYRO:example\.filetransfer@127\.0\.0\.1:\d+)$").group(1)
    env = dict(os.environ, PYROCPP_PROTOCOL_VERSION="48")
    _, out, _ = run(client_args(uri, tmp_path, "--checksum"), timeout=90, env=env)
    check_files(tmp_path)
    assert set(averages(out)) == set(MODES), out
