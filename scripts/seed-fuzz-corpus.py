#!/usr/bin/python3
"""Seeds the fuzz corpora (one folder per target) with every payload recorded in tests/vectors,
by serializer, plus the URIs that appear in the recordings."""
import json
import pathlib
import re
import sys
import zlib

root = pathlib.Path(__file__).resolve().parent.parent
vectors = root / "tests" / "vectors"
out = pathlib.Path(sys.argv[1])
index = json.loads((vectors / "index.json").read_text())
count = 0
uris = set()
for entry in index["scenarios"]:
    scenario = json.loads((vectors / entry["path"] / "scenario.json").read_text())
    for m in scenario["messages"]:
        if m["framing"] != "pyro" or "decoded" not in m.get("payload", {}):
            continue
        data = (vectors / entry["path"] / m["file"]).read_bytes()
        # whole messages for the header fuzzer; the annotation area (after a byte naming the
        # protocol: 0 = 502, 1 = 48) for the annotations fuzzer
        for name, blob in (("fuzz_header", data),
                           ("fuzz_annotations", bytes([0 if m["header"]["protocol_version"] == 502 else 1]) +
                            data[(40 if m["header"]["protocol_version"] == 502 else 24):m["payload"]["offset"]])):
            target = out / name
            target.mkdir(parents=True, exist_ok=True)
            (target / ("%s-%s" % (entry["path"].replace("/", "_"), m["file"]))).write_bytes(blob)
        p = m["payload"]
        payload = data[p["offset"]:p["offset"] + p["size"]]
        if p.get("compressed"):
            payload = zlib.decompress(payload)
        target = out / ("fuzz_" + m["header"]["serializer"])
        target.mkdir(parents=True, exist_ok=True)
        (target / ("%s-%s" % (entry["path"].replace("/", "_"), m["file"]))).write_bytes(payload)
        count += 1
        uris.update(re.findall(rb"PYRO[A-Z]*:[^'\"\s,)]+", payload))
target = out / "fuzz_uri"
target.mkdir(parents=True, exist_ok=True)
for i, u in enumerate(sorted(uris)):
    (target / ("uri-%d" % i)).write_bytes(u)
print("seeded %d payloads and %d URIs into %s" % (count, len(uris), out))
