#!/usr/bin/python3
"""Writes src/detail/unicode_nonprintable.inc: the code point ranges (>= U+0080) that Python's
str.isprintable() rejects, i.e. the characters repr() escapes. Run with the Python whose Unicode
version the peers use (Debian 12's python3.11: Unicode 14.0)."""
import pathlib
import unicodedata

ranges, start = [], None
for cp in range(0x80, 0x110000):
    nonprintable = not chr(cp).isprintable()
    if nonprintable and start is None:
        start = cp
    elif not nonprintable and start is not None:
        ranges.append((start, cp - 1))
        start = None
if start is not None:
    ranges.append((start, 0x10FFFF))

out = pathlib.Path(__file__).resolve().parent.parent / "src/detail/unicode_nonprintable.inc"
with out.open("w") as f:
    f.write("// Generated from Python 3.11's str.isprintable() (Unicode %s): the inclusive ranges of code\n"
            % unicodedata.unidata_version)
    f.write("// points >= U+0080 that Python's repr() escapes (categories Cc Cf Cs Co Cn Zl Zp Zs).\n")
    f.write("// Regenerate with scripts/gen-unicode-table.py when the Python peers move to a newer Unicode.\n")
    for a, b in ranges:
        f.write("{0x%X, 0x%X},\n" % (a, b))
