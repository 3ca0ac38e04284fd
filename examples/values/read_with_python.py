#!/usr/bin/python3
"""Reads the payloads the C++ `values` example wrote into DIR with Python's own serializers
(and Pyro4's, which turn the URI class dict into a Pyro URI object), prints what Python sees,
and writes Python's answer as DIR/python.<serializer> for C++ to read."""
import json
import marshal
import pathlib
import sys

import msgpack
import serpent
import Pyro4.util

def ext_hook(code, data):
    # Pyro's msgpack extension for ints beyond 64 bits: their decimal text
    return int(data) if code == 0x31 else msgpack.ExtType(code, data)


d = pathlib.Path(sys.argv[1])
for name in ("serpent", "json", "marshal", "msgpack"):
    data = (d / ("values." + name)).read_bytes()
    plain = {"serpent": serpent.loads, "json": lambda b: json.loads(b.decode()),
             "marshal": marshal.loads, "msgpack": lambda b: msgpack.unpackb(b, raw=False, ext_hook=ext_hook)}[name](data)
    print("Python (%s) sees reading = %r" % (name, plain["reading"]))
    print("   big = %r (%s), text = %r" % (plain["big"], type(plain["big"]).__name__, plain["text"]))
answer = {"from": "python", "ints": [1, 2**70], "nested": {"ok": True, "pi": 3.141592653589793}}
for name in ("serpent", "json", "marshal", "msgpack"):
    ser = Pyro4.util.get_serializer(name)
    (d / ("python." + name)).write_bytes(ser.dumps(answer))
print("Python wrote its answer in every serializer")
