#!/usr/bin/env python3
"""ops/jcs.py — RFC 8785 (JSON Canonicalization Scheme) for integer-only documents, written from
the RFC with Python's standard library only: a second implementation that Swift's
OrgMatrixCore.CanonicalJSON is checked against (Tests/OrgMatrixCLITests/IndependentJCSTests.swift),
and a tool an auditor can run without our code.

    ops/jcs.py < doc.json > doc.canonical.json     one document in, its canonical bytes out
    ops/jcs.py --seq < docs.json-seq                RFC 7464 JSON text sequence in and out
    ops/jcs.py --seq --implementation canonicaljson < docs.json-seq

In --seq mode every input record (0x1E, the JSON text, optionally LF) gets one output record
0x1E, canonical bytes, LF; a refused document gets an empty record (0x1E LF) and its reason on
standard error, so the output lines up with the input record by record. A single document that
is refused exits 1 with the reason.

The documents are the ledger's (docs/LEDGER.md): I-JSON (RFC 7493) with integers only, so a
fraction, an exponent, an integer beyond ±(2^53−1), a duplicate key, a lone surrogate or text
that is not UTF-8 is refused rather than canonicalized.
"""

import argparse
import json
import sys

INTEGER_MAGNITUDE_MAX = 2**53 - 1
RECORD_SEPARATOR = b"\x1e"
# Exit status when the requested implementation cannot run at all (not a refused document).
EXIT_UNAVAILABLE = 2


class Refused(ValueError):
    """The bytes are not a ledger document."""


# Parsing: Python's own JSON reader (independent of the Swift parser), with every I-JSON rule
# it does not enforce by itself added through its hooks.

def _integer(text):
    value = int(text)
    if abs(value) > INTEGER_MAGNITUDE_MAX:
        raise Refused(f"integer {text} is beyond ±{INTEGER_MAGNITUDE_MAX}")
    return value


def _no_float(text):
    raise Refused(f"{text} is not an integer (no fraction, no exponent)")


def _no_constant(text):
    raise Refused(f"{text} is not JSON")


def _object(pairs):
    members = {}
    for key, value in pairs:
        if key in members:
            raise Refused(f"key {key!r} appears twice in its object")
        members[key] = value
    return members


def _check_unicode(value):
    """Python reads a lone \\ud800 escape into a lone surrogate; JSON text must be Unicode."""
    if isinstance(value, str):
        if any(0xD800 <= ord(c) <= 0xDFFF for c in value):
            raise Refused(f"{value!r} holds a lone surrogate")
    elif isinstance(value, list):
        for element in value:
            _check_unicode(element)
    elif isinstance(value, dict):
        for key, element in value.items():
            _check_unicode(key)
            _check_unicode(element)


def parse(data):
    """The value of one document, or Refused."""
    try:
        text = data.decode("utf-8")  # strict: malformed UTF-8 and encoded surrogates are refused
        value = json.loads(text, parse_int=_integer, parse_float=_no_float, parse_constant=_no_constant,
                           object_pairs_hook=_object)
    except UnicodeDecodeError as error:
        raise Refused(f"not UTF-8: {error}") from None
    except RecursionError:
        raise Refused("nested too deep") from None
    except json.JSONDecodeError as error:
        raise Refused(f"malformed JSON: {error}") from None
    _check_unicode(value)
    return value


# Serialization, RFC 8785 §3.2.

# §3.2.2.2: the five controls that JSON has short escapes for keep them; `"` and `\` are escaped;
# every other control U+0000–U+001F is \u00hh in lower case; everything else (DEL, U+2028,
# non-ASCII) is written as itself in UTF-8.
_SHORT_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def _string(text):
    out = ['"']
    for c in text:
        if c in _SHORT_ESCAPES:
            out.append(_SHORT_ESCAPES[c])
        elif ord(c) < 0x20:
            out.append(f"\\u{ord(c):04x}")
        else:
            out.append(c)
    out.append('"')
    return "".join(out)


def _utf16_code_units(key):
    """§3.2.3: property names sort by their UTF-16 code units as unsigned integers. Big-endian
    UTF-16 bytes compare exactly like those units (and a prefix first), so they are the sort key.
    Python's default order is by code point, which differs: U+1F600 (D83D DE00) sorts before U+FB33."""
    return key.encode("utf-16-be")


def _serialize(value):
    # bool before int: in Python True is an int.
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)  # §3.2.2.3: an integer within ±(2^53−1) is its shortest decimal; -0 is 0
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, list):
        return "[" + ",".join(_serialize(element) for element in value) + "]"
    keys = sorted(value, key=_utf16_code_units)
    return "{" + ",".join(_string(key) + ":" + _serialize(value[key]) for key in keys) + "}"


def canonicalize(value):
    """§3.2.4: the canonical form is the UTF-8 of the serialization, with no whitespace."""
    return _serialize(value).encode("utf-8")


def canonicaljson_implementation():
    """The third opinion: PyPI's `canonicaljson` (matrix.org), installed by ops/lib.sh's
    ensure_python_canonicaljson. It is not JCS in one respect: it sorts keys by code point
    (Python's sort_keys), not by UTF-16 code unit, so the two disagree on an object with a key
    above U+FFFF beside one in U+E000–U+FFFF. Callers compare it on documents whose keys are all
    in the BMP. Its escapes (ensure_ascii=False: the short forms, else lower-case \\u00hh; DEL
    and U+2028 literal) and integers match JCS."""
    try:
        import canonicaljson
    except ImportError:
        print("jcs.py: the canonicaljson package is missing (ops/lib.sh ensure_python_canonicaljson installs it)",
              file=sys.stderr)
        sys.exit(EXIT_UNAVAILABLE)
    return canonicaljson.encode_canonical_json


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seq", action="store_true", help="read and write an RFC 7464 JSON text sequence")
    parser.add_argument("--implementation", choices=["jcs", "canonicaljson"], default="jcs",
                        help="jcs: this file's RFC 8785 serializer; canonicaljson: the PyPI package's")
    arguments = parser.parse_args()
    encode = canonicalize if arguments.implementation == "jcs" else canonicaljson_implementation()
    data = sys.stdin.buffer.read()
    if not arguments.seq:
        try:
            sys.stdout.buffer.write(encode(parse(data)))
        except Refused as error:
            print(f"jcs.py: refused: {error}", file=sys.stderr)
            sys.exit(1)
        return
    if data and not data.startswith(RECORD_SEPARATOR):
        print("jcs.py: a JSON text sequence starts with 0x1E (RFC 7464)", file=sys.stderr)
        sys.exit(EXIT_UNAVAILABLE)
    out = []
    for index, record in enumerate(data.split(RECORD_SEPARATOR)[1:]):
        try:
            out.append(RECORD_SEPARATOR + encode(parse(record)) + b"\n")
        except Refused as error:
            print(f"jcs.py: record {index} refused: {error}", file=sys.stderr)
            out.append(RECORD_SEPARATOR + b"\n")
    sys.stdout.buffer.write(b"".join(out))


if __name__ == "__main__":
    main()
