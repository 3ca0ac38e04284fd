"""examples/hugetransfer: big arguments (str, bytes, bytearray) and a big result streamed in
200000-byte chunks, with every serializer. The C++ client against the C++ server, the Python Pyro4
client (examples/hugetransfer/client.py) against the C++ server, and the C++ client against a
Pyro4 server with the same methods. Sizes are small: this checks lengths and chunk counts, not
speed."""
import os
import re

from conftest import PYTHON, program, run, source

SIZE_MB = "0.5"
SIZE = 524288  # bytes per transfer
TOTAL = SIZE * 10  # the download: ten times as much
CHUNKS = 27  # 26 chunks of 200000 bytes and one of 42880
SERIALIZERS = ["serpent", "json", "marshal", "msgpack"]
NUMBER = r"\d+\.\d"

PYRO4_SERVER = r"""
import Pyro4, serpent
Pyro4.config.SERIALIZERS_ACCEPTED = {"serpent", "json", "marshal", "msgpack"}

@Pyro4.expose
class Testclass(object):
    def transfer(self, data):
        kind = type(data).__name__
        if isinstance(data, dict):  # bytes, as serpent sends them
            data = serpent.tobytes(data)
        print("received %d bytes (%s)" % (len(data), kind), flush=True)
        return len(data)

    def download_chunks(self, size):
        data = bytearray(size)
        for start in range(0, size, 200000):
            yield data[start:start + 200000]

daemon = Pyro4.Daemon(host="127.0.0.1")
print("uri:", daemon.register(Testclass(), "example.hugetransfer"), flush=True)
daemon.requestLoop()
"""


def start_cpp_server(background):
    server = background([program("hugetransfer", "hugetransfer_server"), "--host", "127.0.0.1"])
    uri = server.expect(r"^uri: (PYRO:example\.hugetransfer@127\.0\.0\.1:\d+)$").group(1)
    return server, uri


def start_pyro4_server(background):
    server = background([PYTHON, "-c", PYRO4_SERVER])
    uri = server.expect(r"^uri: (PYRO:example\.hugetransfer@127\.0\.0\.1:\d+)$").group(1)
    return server, uri


def sections(out):
    """{serializer: the text of its section}."""
    parts = re.split(r"^---- serializer (\w+): 10 transfers of (\d+) bytes ----$", out, flags=re.M)
    found = {}
    for name, size, text in zip(parts[1::3], parts[2::3], parts[3::3]):
        assert int(size) == SIZE, out
        found[name] = text.split("\nMB/s, ")[0]
    return found


def table(out):
    """{serializer: [str, bytes, bytearray, download]} from the summary at the end."""
    assert "MB/s, 0.50 MB x 10 per kind of data; download of 5.00 MB in chunks" in out, out
    rows = {}
    for line in out[out.index("serializer         str"):].splitlines()[1:]:
        name, *cells = line.split()
        rows[name] = cells
    return rows


def check_client_output(out, bytes_class_names):
    """What a full run of either client prints: every serializer carries str; all but json carry
    bytes and bytearray and download the chunks; json refuses bytes on both sides."""
    found = sections(out)
    assert list(found) == SERIALIZERS, out
    for name in ("serpent", "marshal", "msgpack"):
        text = found[name]
        # 10 x 0.5 MB of each kind of data, then 5 MB downloaded: four speeds
        speeds = re.findall(r"^  5\.00 MB in [\d.]+ s: %s MB/s$" % NUMBER, text, re.M)
        assert len(speeds) == 4, text
        assert "received %d bytes in %d chunks" % (TOTAL, CHUNKS) in text, text
        assert "not sent" not in text and "failed" not in text, text
    json = found["json"]
    assert len(re.findall(r"^  5\.00 MB in [\d.]+ s: %s MB/s$" % NUMBER, json, re.M)) == 1, json
    refusals = re.findall(r"^  not sent: don't know how to serialize class <class '(\w+)'> using "
                          r"serializer JsonSerializer", json, re.M)
    assert refusals == bytes_class_names, json
    # the server cannot encode its chunks either (bytes in C++, bytearray slices in Python): the
    # error comes back at the first item
    assert re.search(r"^  download failed after 0 chunks: don't know how to serialize class "
                     r"<class '(bytes|bytearray)'>", json, re.M), json
    rows = table(out)
    assert list(rows) == SERIALIZERS, out
    for name in ("serpent", "marshal", "msgpack"):
        assert all(re.fullmatch(NUMBER, cell) for cell in rows[name]), rows
    assert re.fullmatch(NUMBER, rows["json"][0]) and rows["json"][1:] == ["-", "-", "-"], rows


def check_server_received(server, dict_for_serpent_bytes):
    """The server counted every transfer: 10 str per serializer, 10 bytes and 10 bytearray for
    the three that carry bytes; serpent's bytes arrive as base64 dicts."""
    received = [server.expect(r"^received .*").group(0) for _ in range(100)]
    assert all(l.startswith("received %d bytes (" % SIZE) for l in received), received
    kinds = [re.search(r"\((\w+)\)$", l).group(1) for l in received]
    assert kinds.count("str") == 40, kinds
    binary = [k for k in kinds if k != "str"]
    assert len(binary) == 60, kinds
    if dict_for_serpent_bytes:
        assert binary[:20] == ["dict"] * 20, kinds


def test_cpp_client_against_cpp_server(background):
    server, uri = start_cpp_server(background)
    _, out, _ = run([program("hugetransfer", "hugetransfer_client"), uri, "--size", SIZE_MB],
                    timeout=60)
    # C++ has no bytearray: the client's byte buffer travels as bytes, as Pyro's bytearray does
    check_client_output(out, ["bytes", "bytes"])
    check_server_received(server, dict_for_serpent_bytes=True)
    # one download per serializer: json's too, whose first chunk then fails to encode
    download = "client requests a streaming download of %d bytes in chunks of 200000" % TOTAL
    while server.lines.count(download) < len(SERIALIZERS):
        server.expect("^" + re.escape(download) + "$")
    assert server.lines.count(download) == len(SERIALIZERS), server.output()


def test_cpp_client_with_one_serializer(background):
    _, uri = start_cpp_server(background)
    _, out, _ = run([program("hugetransfer", "hugetransfer_client"), uri, "--size", SIZE_MB,
                     "--serializer", "msgpack"], timeout=30)
    assert list(sections(out)) == ["msgpack"], out
    assert list(table(out)) == ["msgpack"], out


def test_pyro4_client_against_cpp_server(background):
    server, uri = start_cpp_server(background)
    _, out, _ = run([PYTHON, source("hugetransfer", "client.py"), uri, "--size", SIZE_MB],
                    timeout=90)
    check_client_output(out, ["bytes", "bytearray"])
    check_server_received(server, dict_for_serpent_bytes=True)


def test_cpp_client_against_pyro4_server(background):
    server, uri = start_pyro4_server(background)
    env = dict(os.environ, PYROCPP_PROTOCOL_VERSION="48")
    _, out, _ = run([program("hugetransfer", "hugetransfer_client"), uri, "--size", SIZE_MB],
                    timeout=90, env=env)
    check_client_output(out, ["bytes", "bytes"])
    check_server_received(server, dict_for_serpent_bytes=True)
