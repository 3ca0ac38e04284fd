#!/usr/bin/python3
"""bench/serializers.py [--quick] — encode/decode throughput of pyrocpp's four codecs beside
Python's own serpent, json, marshal and msgpack (the libraries Pyro uses) on the same corpus,
in the same run. Prints a Markdown table; C++ numbers come from build/bench/bench_serializers.

Corpus: a small call envelope, a small result dict, a 10 MB bytes payload (serpent, marshal,
msgpack; json cannot carry bytes) and a ~10 MB list of mixed small values."""
import argparse
import json
import marshal
import os
import pathlib
import subprocess
import sys
import tempfile
import time

import msgpack
import serpent

ROOT = pathlib.Path(__file__).resolve().parent.parent
BUILD = pathlib.Path(os.environ.get("PYROCPP_BUILD_DIR", ROOT / "build"))


def corpus():
    call = ("example.service", "calc", (1, 2.5, "text", [1, 2, 3], {"a": 1, "b": None}), {"flag": True})
    result = {"id": 123456, "name": "widget", "price": 9.99, "tags": ["red", "small"], "stock": None,
              "dims": [1.5, 2.25, 3.0], "active": True}
    big_list = [i if i % 3 == 0 else (i * 0.5 if i % 3 == 1 else "item%d" % i) for i in range(1_000_000)]
    blob = os.urandom(10 * 1024 * 1024)
    return [("small_call", call, None), ("small_result", result, None),
            ("bytes_10mb", blob, {"serpent", "marshal", "msgpack"}), ("list_10mb", big_list, None)]


def dumps(name, value):
    if name == "serpent":
        return serpent.dumps(value, module_in_classname=True)
    if name == "json":
        return json.dumps(value, ensure_ascii=False).encode("utf-8")
    if name == "marshal":
        return marshal.dumps(value)
    return msgpack.packb(value, use_bin_type=True)


def loads(name, data):
    if name == "serpent":
        return serpent.loads(data)
    if name == "json":
        return json.loads(data.decode("utf-8"))
    if name == "marshal":
        return marshal.loads(data)
    return msgpack.unpackb(data, raw=False)


def time_per_op(f, min_seconds):
    best = float("inf")
    for _ in range(2):
        n, start = 0, time.perf_counter()
        while True:
            f()
            n += 1
            elapsed = time.perf_counter() - start
            if elapsed >= min_seconds and n >= 1:
                break
        best = min(best, elapsed / n)
    return best


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="short measurements (smoke test)")
    args = ap.parse_args()
    min_s = 0.02 if args.quick else 0.3
    tool = BUILD / "bench" / "bench_serializers"
    if not tool.exists():
        sys.exit("%s is not built" % tool)
    serializers = ["serpent", "json", "marshal", "msgpack"]
    rows = []
    # Python and C++ are measured alternately, case by case, three rounds, best of each: a
    # neighbour's load then hits both sides alike.
    with tempfile.TemporaryDirectory() as tmp:
        for case, value, only in corpus():
            for name in serializers:
                if only and name not in only:
                    continue
                data = dumps(name, value)
                case_dir = pathlib.Path(tmp) / ("%s-%s" % (case, name))
                case_dir.mkdir()
                (case_dir / ("%s.%s" % (case, name))).write_bytes(data)
                decoded = loads(name, data)
                best = [float("inf")] * 4  # C++ decode, Python decode, C++ encode, Python encode
                for _ in range(3):
                    py_dec = time_per_op(lambda: loads(name, data), min_s)
                    py_enc = time_per_op(lambda: dumps(name, decoded), min_s)
                    out = subprocess.run([str(tool), str(case_dir), str(min_s)], check=True,
                                         stdout=subprocess.PIPE, text=True).stdout
                    r = json.loads(out.splitlines()[0])
                    best = [min(best[0], r["decode_s"]), min(best[1], py_dec),
                            min(best[2], r["encode_s"]), min(best[3], py_enc)]
                rows.append((case, name, len(data), best[0], best[1], best[2], best[3]))

    serpent_py = {(c): (d, e) for (c, s, _, _, d, _, e) in rows if s == "serpent"}
    print("| payload | serializer | size | C++ decode MB/s | Python decode MB/s | ratio | "
          "C++ encode MB/s | Python encode MB/s | ratio | C++ decode ops/s | C++ encode ops/s |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    results = []
    for case, name, size, dec, py_dec, enc, py_enc in rows:
        mb = size / 1e6
        print("| %s | %s | %s | %.0f | %.0f | %.1fx | %.0f | %.0f | %.1fx | %.0f | %.0f |" % (
            case, name, human(size), mb / dec, mb / py_dec, py_dec / dec, mb / enc, mb / py_enc,
            py_enc / enc, 1 / dec, 1 / enc))
        results.append({"case": case, "serializer": name, "bytes": size,
                        "cpp_decode_s": dec, "python_decode_s": py_dec,
                        "cpp_encode_s": enc, "python_encode_s": py_enc})
    print()
    print("Targets: decode and encode >= 30x Python's serpent; >= 1x Python's json, marshal, msgpack.")
    failures = []
    for case, name, size, dec, py_dec, enc, py_enc in rows:
        s_dec, s_enc = serpent_py.get(case, (None, None))
        if name == "serpent":
            if py_dec / dec < 30 or py_enc / enc < 30:
                failures.append("%s/%s below 30x serpent (decode %.1fx, encode %.1fx)" % (
                    case, name, py_dec / dec, py_enc / enc))
        elif py_dec / dec < 1 or py_enc / enc < 1:
            failures.append("%s/%s slower than Python (decode %.2fx, encode %.2fx)" % (
                case, name, py_dec / dec, py_enc / enc))
    for f in failures:
        print("- below target: " + f)
    if not failures:
        print("All targets met.")
    (ROOT / "bench" / "serializers.json").write_text(json.dumps(results, indent=1))


def human(n):
    return "%.1f MB" % (n / 1e6) if n >= 1e6 else ("%.1f KB" % (n / 1e3) if n >= 1e3 else "%d B" % n)


if __name__ == "__main__":
    main()
