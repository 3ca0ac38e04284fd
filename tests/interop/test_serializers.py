"""Live cross-checks of the four codecs with Python: a corpus of values is encoded by Python,
decoded and re-encoded by C++, and decoded again by Python to an equal value (and, for the
deterministic serializers, to the very same bytes). Once with the plain Python libraries
(serpent, json, marshal, msgpack as Pyro5 drives them), once through Pyro4's own serializer
classes (the Pyro4 dialect: Pyro4 class names, proxy layout, exceptions), and through Python
Pyro5's serializers when a Pyro5 checkout is present (PYRO5_PATH)."""
import json
import marshal
import math

import msgpack
import pytest
import serpent

import Pyro4.core
import Pyro4.errors
import Pyro4.util

from conftest import HAVE_PYRO5, run_codec

UNICODE = "h\u00e9llo w\u00f6rld \u2211 \u4e2d\u6587 \U0001F600 \U0001D11E"

BASE = [
    None, True, False,
    0, 1, -1, 255, 256, -129, 2**31 - 1, -2**31, 2**31, 2**32, 2**53 + 1,
    2**63 - 1, -2**63,
    0.0, -0.0, 1.5, -2.25, 3.141592653589793, 1e16, 1e-05, 123.0, 1e300, -1e-300, 5e-324,
    1.7976931348623157e308, float("inf"), float("-inf"),
    "", "ascii", UNICODE, "quotes ' \" both", "it's", 'say "hi"',
    "escapes \\ \n\t\r\x00\x01\x1f\x7f", "\u2028\u00ad\u0080\u00a0\U000e0001", "a" * 300, "\u00e9" * 200,
    [], [1, [2, [3, [4]]]], ["mixed", 1, 2.5, None, True, UNICODE],
    {}, {"a": 1, "b": [1, 2], "c": {"d": None}}, {"x" * 20: "long key"},
    [{"k%d" % i: i for i in range(50)}],
    list(range(1000)), [str(i) for i in range(300)],
]
BIG_INTS = [2**63, 2**64, 2**64 - 1, 2**70, -2**70 - 1, 10**100, -(10**300)]
TUPLES = [(), (1,), (1, "two", 3.0), ((1, 2), (3,)), tuple(range(300))]
BYTES = [b"", b"\x00\x01\xff", bytes(range(256)) * 4]
COMPLEX = [1 + 2j, complex(-1.5, 2.25), complex(0.0, -3.0)]
SETS = [{1, 2, 3}, {"a", "b"}, {(1, 2), 3}]
NON_STR_KEYS = [{1: "one", 2: "two"}, {1.5: "x", -3: "y"}, {(1, 2): "tuple key"}, {True: 1}]
FROZENSETS = [frozenset({"a", "b"}), frozenset()]
EMPTY_SET = [set()]


def corpus(name):
    values = BASE + BIG_INTS
    if name in ("serpent", "marshal"):
        values += TUPLES + BYTES + COMPLEX + SETS + NON_STR_KEYS + EMPTY_SET
    if name == "marshal":
        values += FROZENSETS
    if name == "json":
        values += TUPLES + SETS + [{1: "one", 2.5: "x", True: "t", None: "n"}]
    if name == "msgpack":
        values += TUPLES + BYTES + COMPLEX + SETS
    return values


def plain_dumps(name, value):
    if name == "serpent":
        return serpent.dumps(value, module_in_classname=True)
    if name == "json":
        default = lambda o: tuple(o) if isinstance(o, set) else None  # Pyro's hook for sets
        return json.dumps(value, ensure_ascii=False, default=default).encode("utf-8")
    if name == "marshal":
        return marshal.dumps(value)
    return msgpack.packb(value, use_bin_type=True, default=msgpack_default)


def msgpack_default(obj):
    # Pyro5's msgpack hooks for the corpus' types (complex, big ints, sets)
    if isinstance(obj, set):
        return tuple(obj)
    if isinstance(obj, complex):
        import struct
        return msgpack.ExtType(0x30, struct.pack("dd", obj.real, obj.imag))
    if isinstance(obj, int):
        return msgpack.ExtType(0x31, str(obj).encode("ascii"))
    raise TypeError(type(obj))


def msgpack_ext(code, data):
    import struct
    if code == 0x30:
        real, imag = struct.unpack("dd", data)
        return complex(real, imag)
    if code == 0x31:
        return int(data)
    raise ValueError(code)


def plain_loads(name, data):
    if name == "serpent":
        return serpent.loads(data)
    if name == "json":
        return json.loads(data.decode("utf-8"))
    if name == "marshal":
        return marshal.loads(data)
    return msgpack.unpackb(data, raw=False, ext_hook=msgpack_ext)


def same(a, b):
    """Equality that also holds for NaN and tells 1 from 1.0 from True."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if type(a) is not type(b):
        return False
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return list(a.keys()) == list(b.keys()) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, BaseException):
        return type(a) is type(b) and a.args == b.args
    if isinstance(a, float):
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    return a == b


@pytest.mark.parametrize("name", ["serpent", "json", "marshal", "msgpack"])
def test_python_values_cross_cpp_and_back(name):
    values = corpus(name)
    payloads = [plain_dumps(name, v) for v in values]
    results = run_codec(name, "pyro5", payloads)
    for value, theirs, (status, ours) in zip(values, payloads, results):
        assert status == "O", "%r: C++ failed: %s" % (value, ours)
        assert same(plain_loads(name, ours), plain_loads(name, theirs)), repr(value)
        if name != "marshal":  # CPython's marshal output depends on refcounts
            # what a Python peer writes back after reading it (serpent's bytes become a dict)
            # (set order is not significant: the original order is kept)
            assert ours in (theirs, plain_dumps(name, plain_loads(name, theirs))), repr(value)


@pytest.mark.parametrize("name", ["serpent", "json", "marshal", "msgpack"])
def test_nan_crosses_every_serializer(name):
    payload = plain_dumps(name, [float("nan")])
    [(status, ours)] = run_codec(name, "pyro5", [payload])
    assert status == "O"
    back = plain_loads(name, ours)
    if name == "serpent":
        assert back == [{"__class__": "float", "value": "nan"}]
    else:
        assert math.isnan(back[0])


def test_serpent_bytes_repr_crosses_as_real_bytes():
    values = [b"", b"\x00\xff'\"\\\n", bytes(range(256))]
    payloads = [serpent.dumps(v, bytes_repr=True) for v in values]
    results = run_codec("serpent", "pyro5", payloads, "--bytes-repr")
    for value, theirs, (status, ours) in zip(values, payloads, results):
        assert status == "O"
        assert ours == theirs
        assert serpent.loads(ours) == value


def test_serpent_base64_bytes_stay_a_dict_as_in_pyro():
    payload = serpent.dumps(b"\x00\x01abc")
    [(status, ours)] = run_codec("serpent", "pyro5", [payload])
    assert status == "O" and ours == serpent.dumps(serpent.loads(payload))
    assert ours.endswith(b"{'data':'AAFhYmM=','encoding':'base64'}")
    assert serpent.tobytes(serpent.loads(ours)) == b"\x00\x01abc"


def test_msgpack_datetime_and_date_extensions_cross():
    import datetime
    import struct
    dt = datetime.datetime(2024, 5, 17, 13, 45, 30, 250000)
    d = datetime.date(2024, 5, 17)
    payloads = [msgpack.packb(msgpack.ExtType(0x32, struct.pack("d", dt.timestamp()))),
                msgpack.packb(msgpack.ExtType(0x33, struct.pack("l", d.toordinal())))]
    results = run_codec("msgpack", "pyro5", payloads)
    assert [r[1] for r in results] == payloads


def test_invalid_payloads_are_refused_with_serialize_errors():
    cases = {
        "serpent": [b"# serpent utf-8 python3.2\n[1,2", b"\xff\xfe", b"(" * 5000],
        "json": [b'{"a": ', b"[1,]", b"[" * 5000],
        "marshal": [b"[\x02\x00\x00\x00i\x01\x00\x00\x00", b"\x63", b"r\x05\x00\x00\x00"],
        "msgpack": [b"\x92\x01", b"\xc1", b"\xdd\xff\xff\xff\xff"],
    }
    for name, payloads in cases.items():
        for status, message in run_codec(name, "pyro5", payloads):
            assert status == "E", name
            assert message.startswith("SerializeError: "), message


# ---------------------------------------------------------------------------------------------
# Pyro4 dialect: Pyro4's own serializer classes on the Python side
# ---------------------------------------------------------------------------------------------

def pyro4_objects():
    return [
        Pyro4.core.URI("PYRO:obj@localhost:9999"),
        Pyro4.core.URI("PYRO:obj@./u:/tmp/pyro.sock"),
        Pyro4.core.URI("PYRONAME:some.name@nshost:9090"),
        [Pyro4.core.URI("PYRO:a@h:1"), {"nested": Pyro4.core.URI("PYRO:b@[::1]:2")}],
        ValueError("bad value", 42),
        Pyro4.errors.NamingError("unknown name: x"),
        Pyro4.errors.CommunicationError("connection lost"),
    ]


@pytest.mark.parametrize("name", ["serpent", "json", "marshal", "msgpack"])
def test_pyro4_serializers_cross_cpp_and_back(name):
    ser = Pyro4.util.get_serializer(name)
    values = corpus(name) + (pyro4_objects() if name != "marshal" else pyro4_objects()[:3] + pyro4_objects()[4:])
    if name == "msgpack":  # Pyro4's msgpack hook knows no big ints
        values = [v for v in values if not (isinstance(v, int) and not -2**63 <= v < 2**64)]
    payloads = [ser.dumps(v) for v in values]
    results = run_codec(name, "pyro4", payloads, "--reconstruct")
    for value, theirs, (status, ours) in zip(values, payloads, results):
        assert status == "O", "%r: C++ failed: %s" % (value, ours)
        back = ser.loads(ours)
        assert same(back, ser.loads(theirs)) or (isinstance(value, Pyro4.core.URI) and back == value), repr(value)
        if name != "marshal":
            assert ours in (theirs, ser.dumps(ser.loads(theirs))), repr(value)


def test_pyro4_proxy_state_crosses_as_its_nine_tuple():
    ser = Pyro4.util.get_serializer("serpent")
    proxy = Pyro4.core.Proxy("PYRO:obj@localhost:9999")
    proxy._pyroHmacKey = b"secret"
    payload = ser.dumps(proxy)
    [(status, ours)] = run_codec("serpent", "pyro4", [payload], "--reconstruct")
    assert status == "O"
    assert ours == payload
    back = ser.loads(ours)
    assert isinstance(back, Pyro4.core.Proxy)
    assert back._pyroUri == proxy._pyroUri and back._pyroHmacKey == b"secret"
    proxy._pyroRelease()


# ---------------------------------------------------------------------------------------------
# Pyro5 dialect through Python Pyro5's serializers (only when a checkout is present)
# ---------------------------------------------------------------------------------------------

@pytest.mark.skipif(not HAVE_PYRO5, reason="no Python Pyro5 on this machine (set PYRO5_PATH to a checkout)")
@pytest.mark.parametrize("name", ["serpent", "json", "marshal", "msgpack"])
def test_pyro5_serializers_cross_cpp_and_back(name):
    import Pyro5.api
    import Pyro5.errors
    import Pyro5.serializers
    ser = Pyro5.serializers.serializers[name]
    objects = [Pyro5.api.URI("PYRO:obj@localhost:9999"), Pyro5.api.URI("PYROMETA:tag@host:1"),
               ValueError("bad value", 42), Pyro5.errors.NamingError("unknown name: x")]
    values = corpus(name) + objects
    payloads = [ser.dumps(v) for v in values]
    results = run_codec(name, "pyro5", payloads, "--reconstruct")
    for value, theirs, (status, ours) in zip(values, payloads, results):
        assert status == "O", "%r: C++ failed: %s" % (value, ours)
        assert same(ser.loads(ours), ser.loads(theirs)) or ser.loads(ours) == value, repr(value)
        if name != "marshal":
            assert ours in (theirs, ser.dumps(ser.loads(theirs))), repr(value)
