#!/usr/bin/env python3
"""Verify an OrgMatrix ledger bundle with Python's standard library and the openssl command.

Usage: python3 verify.py [BUNDLE_DIR]   (default: the directory this script is in)

Checks, as docs/LEDGER.md ("The exported bundle") describes: the manifest (its seal, every
file's SM3, nothing unlisted, nothing listed twice); that each tx.json hashes to its
directory's name; each block's transaction list, Merkle tree (data_hash), log (log_size,
log_root) and link (prev_hash); every signature (endorsements, the orderer's, the
checkpoints') with `openssl dgst -sm3 -verify ... -sigopt distid:1234567812345678`; and the
checkpoints (their blocks, their signers, their chain, their consistency proofs); and, in a
bundle exported --with-private (bundle.json's with_private), each <field>.private (a 16-byte
salt, then the value's canonical JSON) against the commitment its tx.json states under
private.<field>, and that none is missing. A bundle from
a later block on (bundle.json's from_block > 0) continues from its anchor: the block before
its first (header and signature) and the log's subtree roots after it (frontier.txt).
Prints `FAIL <file>: <reason>` per problem; exits 1 if there is any, 0 if none, 2 if unusable.
"""
import concurrent.futures
import hashlib
import json
import os
import re
import subprocess
import sys

DISTID = "distid:1234567812345678"
SALT_BYTES = 16
AMOUNT_FEN_MAX = 10**15
# The private fields (docs/LEDGER.md, "Private fields") and the values each takes.
PRIVATE_FIELDS = {
    "carrier_name": lambda v: isinstance(v, str) and 1 <= len(v) <= 200 and not any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in v),
    "carrier_contract_price_fen": lambda v: isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= AMOUNT_FEN_MAX,
}
failures = []


def fail(path, reason):
    failures.append((path, reason))


def sm3(data):
    return hashlib.new("sm3", data).digest()


# RFC 9162 Merkle trees with SM3: leaf = SM3(0x00 || tx hash), node = SM3(0x01 || left || right).
def leaf(tx_hash):
    return sm3(b"\x00" + tx_hash)


def node(left, right):
    return sm3(b"\x01" + left + right)


def root(leaves):
    """MTH of a list of leaf hashes (RFC 9162 2.1.1): split at the largest power of two below n."""
    if not leaves:
        return sm3(b"")
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return node(root(leaves[:k]), root(leaves[k:]))


class Log:
    """The tenant log's right edge: perfect subtrees, largest first, so roots cost O(log n)."""

    def __init__(self, size=0, roots=()):
        """Empty, or restored from the roots of a tree of `size` leaves, one per bit set in size."""
        heights = [h for h in reversed(range(size.bit_length())) if size >> h & 1]
        self.stack, self.size = list(zip(heights, roots)), size

    def append(self, leaf_hash):
        self.stack.append((0, leaf_hash))
        self.size += 1
        while len(self.stack) > 1 and self.stack[-1][0] == self.stack[-2][0]:
            (h, right), (_, left) = self.stack.pop(), self.stack.pop()
            self.stack.append((h + 1, node(left, right)))

    def root(self):
        if not self.stack:
            return sm3(b"")
        r = self.stack[-1][1]
        for _, sub in reversed(self.stack[:-1]):
            r = node(sub, r)
        return r


def consistent(size1, size2, proof, root1, root2):
    """RFC 9162 2.1.4.2: does `proof` show the tree of size1 (root1) is a prefix of size2 (root2)?"""
    if size1 == size2:
        return not proof and root1 == root2
    if size1 == 0:
        return not proof
    if size1 > size2 or not proof:
        return False
    if size1 & (size1 - 1) == 0:
        proof = [root1] + proof
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node(c, fr), node(c, sr)
            while fn & 1 == 0 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and fr == root1 and sr == root2


def orgs_with_valid_key(keys, at):
    """The orgs (not the orderer) with a key version valid at `at`, sorted: valid from its
    valid_from, not at or after its revocation, not from the next version's valid_from on.
    Times are all `YYYY-MM-DDTHH:MM:SS.ffffffZ`, so they compare as text."""
    orgs = set()
    for key in keys:
        owner, version = key.get("owner"), key.get("version")
        if owner == "orderer":
            continue
        later = [k.get("valid_from", "") for k in keys if k.get("owner") == owner and k.get("version", 0) > version]
        revoked = key.get("revoked_at")
        if key.get("valid_from", "~") <= at and not (revoked and revoked <= at) and not any(v <= at for v in later):
            orgs.add(owner)
    return sorted(orgs)


def check_private_value(base, path, directory, field):
    """A private value: listed under its field in tx.json's private member, SM3 of the file
    (salt and value) equal to that commitment, and the value canonical JSON of the field's kind."""
    if field not in PRIVATE_FIELDS:
        fail(path, "%s is not a private field" % field)
        return
    committed = committed_private_fields(base, directory)
    try:
        with open(os.path.join(base, path), "rb") as f:
            preimage = f.read()
    except OSError:
        return  # named by the manifest check
    if field not in committed:
        fail(path, "its transaction does not commit to %s" % field)
    elif sm3(preimage).hex() != committed[field]:
        fail(path, "SM3 %s is not the commitment private.%s, %s" % (sm3(preimage).hex(), field, committed[field]))
    else:
        try:
            value = json.loads(preimage[SALT_BYTES:].decode("utf-8"))
            canonical = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        except (ValueError, UnicodeError, RecursionError):
            value, canonical = None, None
        if len(preimage) <= SALT_BYTES or canonical != preimage[SALT_BYTES:] or not PRIVATE_FIELDS[field](value):
            fail(path, "not a %d-byte salt and a canonical JSON value of %s" % (SALT_BYTES, field))


def committed_private_fields(base, directory):
    """The commitments a transaction directory's tx.json states under private ({} when none or unreadable)."""
    try:
        with open(os.path.join(base, directory, "tx.json"), "rb") as f:
            document = json.loads(f.read())
    except (OSError, ValueError):
        return {}
    committed = document.get("private", {}) if isinstance(document, dict) else {}
    return committed if isinstance(committed, dict) else {}


def read_json(base, path):
    try:
        with open(os.path.join(base, path), "rb") as f:
            value = json.loads(f.read())
    except (OSError, ValueError) as e:
        fail(path, "not readable JSON (%s)" % e)
        return None
    if not isinstance(value, dict):
        fail(path, "not a JSON object")
        return None
    return value


def hash_lines(base, path):
    try:
        with open(os.path.join(base, path), "rb") as f:
            text = f.read().decode("ascii")
    except (OSError, UnicodeDecodeError) as e:
        fail(path, "not readable (%s)" % e)
        return None
    lines = text.split("\n")
    if lines[-1] != "" or any(not re.fullmatch(r"[0-9a-f]{64}", l) for l in lines[:-1]):
        fail(path, "not one 64-digit lower-case hash per line")
        return None
    return [bytes.fromhex(l) for l in lines[:-1]]


def check_manifest(base):
    """Check 1: returns the listed paths (in order), having checked each file's SM3."""
    try:
        with open(os.path.join(base, "manifest.sm3"), "rb") as f:
            data = f.read()
    except OSError as e:
        print("verify.py: %s holds no readable manifest.sm3 (%s): not a bundle" % (base, e))
        sys.exit(2)
    lines = data.split(b"\n")
    terminated = lines[-1] == b""
    if terminated:
        lines.pop()
    else:
        fail("manifest.sm3", "the last line has no line break")
    if not lines or not lines[-1].endswith(b"  manifest.sm3"):
        fail("manifest.sm3", "its last line does not name manifest.sm3")
    else:
        body = data[: len(data) - len(lines[-1]) - (1 if terminated else 0)]
        if lines[-1][:64].decode("ascii", "replace") != sm3(body).hex():
            fail("manifest.sm3", "its last line is not the SM3 of the lines before it")
        lines = lines[:-1]
    listed = []
    seen = set()
    for number, line in enumerate(lines, 1):
        m = re.fullmatch(rb"([0-9a-f]{64})  ([A-Za-z0-9._/-]+)", line)
        if not m or any(p in (b"", b".", b"..") for p in m.group(2).split(b"/")):
            fail("manifest.sm3", "line %d is not <SM3 hex>  <path>" % number)
            continue
        path = m.group(2).decode()
        if path in seen:
            fail("manifest.sm3", "%s is listed twice" % path)
            continue
        seen.add(path)
        listed.append(path)
        try:
            with open(os.path.join(base, path), "rb") as f:
                digest = sm3(f.read()).hex()
        except OSError:
            fail(path, "listed in manifest.sm3 but missing")
            continue
        if digest != m.group(1).decode():
            fail(path, "SM3 %s, manifest.sm3 lists %s" % (digest, m.group(1).decode()))
    for directory, _, names in os.walk(base):
        for name in names:
            path = os.path.relpath(os.path.join(directory, name), base)
            if path != "manifest.sm3" and path not in seen:
                fail(path, "not listed in manifest.sm3")
    return listed


def main():
    base = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    if len(sys.argv) > 2:
        print(__doc__)
        sys.exit(2)
    try:
        sm3(b"")
    except ValueError:
        print("verify.py: this Python's hashlib has no SM3 (it needs OpenSSL 3 with SM3)")
        sys.exit(2)
    listed = check_manifest(base)
    description = read_json(base, "bundle.json") or {}
    from_block = description.get("from_block", 0)  # left out by a whole bundle
    if not isinstance(from_block, int) or from_block < 0 or ("from_block" in description and from_block == 0):
        fail("bundle.json", "from_block is not a block number of 1 or more")
        from_block = 0
    signatures = []  # (signed file, signature file, public key file)
    private_values = []  # (file, its transaction's directory, field)
    tx_hashes = set()
    blocks, checkpoints, keys = {}, {}, []
    for path in listed:
        parts = path.split("/")
        if parts[0] == "keys" and len(parts) == 2 and path.endswith(".json"):
            key = read_json(base, path)
            if isinstance(key, dict):
                keys.append(key)
        if parts[0] == "transactions" and len(parts) == 4:
            directory = "/".join(parts[:3])
            if parts[3] == "tx.json":
                try:
                    with open(os.path.join(base, path), "rb") as f:
                        digest = sm3(f.read()).hex()
                except OSError:
                    continue  # named by the manifest check
                if digest != parts[2] or parts[1] != parts[2][:2]:
                    fail(path, "SM3 %s is not its directory's name %s" % (digest, parts[2]))
                tx_hashes.add(parts[2])
            elif parts[3].endswith(".sig.der"):
                key = "keys/%s.pem" % parts[3][: -len(".sig.der")]
                signatures.append((directory + "/tx.json", path, key))
            elif parts[3].endswith(".private"):
                private_values.append((path, directory, parts[3][: -len(".private")]))
        elif parts[0] == "anchor":
            if from_block == 0:
                fail(path, "a bundle from block 0 has no anchor")
            elif len(parts) == 2 and re.fullmatch(r"orderer\.v[1-9][0-9]*\.sig\.der", parts[1]):
                signatures.append(("anchor/header.json", path, "keys/%s.pem" % parts[1][: -len(".sig.der")]))
            elif len(parts) != 2 or parts[1] not in ("header.json", "frontier.txt"):
                fail(path, "not a file of the anchor (header.json, frontier.txt, orderer.v<k>.sig.der)")
        elif parts[0] in ("blocks", "checkpoints") and not re.fullmatch(r"[0-9]{10}", parts[1] if len(parts) == 3 else ""):
            fail(path, "not a file of the bundle's layout")
        elif parts[0] == "blocks" and len(parts) == 3:
            blocks.setdefault(parts[1], []).append(parts[2])
        elif parts[0] == "checkpoints" and len(parts) == 3:
            checkpoints.setdefault(parts[1], []).append(parts[2])

    for path, directory, field in private_values:
        check_private_value(base, path, directory, field)
    # Exported --with-private: every value each transaction commits to is there.
    with_private = description.get("with_private", False)
    if with_private not in (False, True) or ("with_private" in description and with_private is not True):
        fail("bundle.json", "with_private is not true (a bundle without private values leaves it out)")
    elif with_private:
        present = {(directory, field) for _, directory, field in private_values}
        for h in sorted(tx_hashes):
            directory = "transactions/%s/%s" % (h[:2], h)
            for field in sorted(committed_private_fields(base, directory)):
                if (directory, field) not in present:
                    fail("%s/%s.private" % (directory, field), "missing: the bundle was exported with private values")

    # The anchor of a bundle from a later block on: the log and the chain go on from it.
    log, previous, headers = Log(), "0" * 64, {}
    if from_block > 0:
        anchor = read_json(base, "anchor/header.json")
        roots = hash_lines(base, "anchor/frontier.txt")
        if anchor is not None:
            with open(os.path.join(base, "anchor/header.json"), "rb") as f:
                previous = sm3(f.read()).hex()
            headers[from_block - 1] = (anchor, previous)
            size = anchor.get("log_size") if isinstance(anchor.get("log_size"), int) else 0
            if anchor.get("number") != from_block - 1:
                fail("anchor/header.json", "number %s, expected %d (the block before from_block)" % (anchor.get("number"), from_block - 1))
            if roots is not None and len(roots) != bin(size).count("1"):
                fail("anchor/frontier.txt", "%d roots, a log of %d needs %d" % (len(roots), size, bin(size).count("1")))
            elif roots is not None:
                log = Log(size, roots)
                if log.root().hex() != anchor.get("log_root"):
                    fail("anchor/frontier.txt", "its roots do not give the anchor's log_root")
        anchor_signatures = [p for p in listed if re.fullmatch(r"anchor/orderer\.v[1-9][0-9]*\.sig\.der", p)]
        if len(anchor_signatures) != 1:
            fail("anchor/header.json", "%d orderer signatures beside it, not one" % len(anchor_signatures))

    # Blocks in number order: their trees, the log, the chain, the orderer's signature.
    for expected, name in enumerate(sorted(blocks), from_block):
        directory = "blocks/" + name
        header_path = directory + "/header.json"
        header = read_json(base, header_path)
        hashes = hash_lines(base, directory + "/transactions.txt") or []
        if header is None:
            continue
        for h in hashes:
            if h.hex() not in tx_hashes:
                fail(directory + "/transactions.txt", "lists %s, which the bundle does not hold" % h.hex())
            log.append(leaf(h))
        with open(os.path.join(base, header_path), "rb") as f:  # read_json read it: it exists
            header_bytes = f.read()
        checks = [
            (header.get("number") == expected == int(name), "number %s, expected %d" % (header.get("number"), expected)),
            (header.get("prev_hash") == previous, "prev_hash is not the SM3 of the previous header.json"),
            (header.get("tx_count") == len(hashes), "tx_count is not the count of transactions.txt"),
            (header.get("data_hash") == root([leaf(h) for h in hashes]).hex(), "data_hash is not the root of its transactions"),
            (header.get("log_size") == log.size, "log_size %s, the log holds %d" % (header.get("log_size"), log.size)),
            (header.get("log_root") == log.root().hex(), "log_root is not the root of the log"),
        ]
        for ok, reason in checks:
            if not ok:
                fail(header_path, reason)
        previous = sm3(header_bytes).hex()
        headers[expected] = (header, previous)
        for file in blocks[name]:
            if file.startswith("orderer.v") and file.endswith(".sig.der"):
                signatures.append((header_path, directory + "/" + file, "keys/%s.pem" % file[: -len(".sig.der")]))

    # Checkpoints: each states a block's header, chains to the one before, proves consistency.
    # From a later block on, they are those naming the anchor or a later block: numbered on from
    # the first, whose link to the one before is the earlier bundle's to show.
    previous_cp = None
    first = int(min(checkpoints)) if from_block > 0 and checkpoints else 0
    for expected, name in enumerate(sorted(checkpoints), first):
        directory = "checkpoints/" + name
        path = directory + "/checkpoint.json"
        cp = read_json(base, path)
        proof = hash_lines(base, directory + "/consistency.txt")
        if cp is None:
            previous_cp = None
            continue
        block = headers.get(cp.get("last_block"))
        if cp.get("number") != expected or int(name) != expected:
            fail(path, "number %s, expected %d" % (cp.get("number"), expected))
        if block is None or (cp.get("log_size"), cp.get("log_root"), cp.get("last_block_hash")) != (
            block[0].get("log_size"), block[0].get("log_root"), block[1]
        ):
            fail(path, "log_size, log_root or last_block_hash is not that of block %s" % cp.get("last_block"))
        if block is not None and cp.get("at", "") < block[0].get("sealed_at", ""):
            fail(path, "at is before block %s was sealed" % cp.get("last_block"))
        quarter = re.fullmatch(r"([0-9]{4})-Q([1-4])", str(cp.get("period")))
        if quarter:
            year, q = int(quarter.group(1)), int(quarter.group(2))
            end = "%04d-%02d-01T00:00:00.000000Z" % ((year + 1, 1) if q == 4 else (year, 3 * q + 1))
            if cp.get("at", "") < end:
                fail(path, "at is before its quarter's end, %s" % end)
        if previous_cp and cp.get("at", "") < previous_cp.get("at", ""):
            fail(path, "at is before the previous checkpoint's")
        if cp.get("signers") != orgs_with_valid_key(keys, cp.get("at", "")):
            fail(path, "signers are not every org with a key valid at %s" % cp.get("at"))
        previous_size = previous_cp.get("log_size") if previous_cp else 0
        if from_block > 0 and expected == first and first > 0:
            anchor_size = headers.get(from_block - 1, ({}, ""))[0].get("log_size")
            previous_log_size = cp.get("previous_log_size")
            if not (isinstance(previous_log_size, int) and isinstance(anchor_size, int) and previous_log_size < anchor_size):
                fail(path, "previous_log_size is not below the anchor's log size: a checkpoint was left out")
        elif cp.get("previous_log_size") != previous_size:
            fail(path, "previous_log_size is not the previous checkpoint's log_size")
        elif previous_cp and proof is not None and not consistent(
            previous_size, cp.get("log_size", -1), proof, bytes.fromhex(previous_cp.get("log_root", "")), bytes.fromhex(cp.get("log_root", ""))
        ):
            fail(directory + "/consistency.txt", "does not prove the previous checkpoint's log a prefix of this one's")
        signed = set()
        for file in checkpoints[name]:
            if file.endswith(".sig.der"):
                org = file[: -len(".sig.der")].rsplit(".v", 1)[0]
                if org not in cp.get("signers", []):
                    fail(directory + "/" + file, "%s is not one of the checkpoint's signers" % org)
                signed.add(org)
                signatures.append((path, directory + "/" + file, "keys/%s.pem" % file[: -len(".sig.der")]))
        missing = sorted(set(cp.get("signers", [])) - signed)
        if missing:
            print("checkpoint %d is incomplete: not yet signed by %s" % (expected, ", ".join(missing)))
        previous_cp = cp

    # Every signature, through openssl, on every core.
    def verify(job):
        signed, signature, key = job
        if not os.path.exists(os.path.join(base, key)):
            return job, "no key %s" % key
        result = subprocess.run(
            ["openssl", "dgst", "-sm3", "-verify", key, "-sigopt", DISTID, "-signature", signature, signed],
            cwd=base, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        return job, None if result.returncode == 0 else "the signature does not verify over %s with %s" % (signed, key)

    with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        for (_, signature, _), reason in pool.map(verify, signatures):
            if reason:
                fail(signature, reason)

    for path, reason in failures:
        print("FAIL %s: %s" % (path, reason))
    if failures:
        print("FAILED: %d problems" % len(failures))
        sys.exit(1)
    print("OK: %d files, %d transactions, %d blocks, %d checkpoints, %d signatures, %d private values" % (
        len(listed) + 1, len(tx_hashes), len(blocks), len(checkpoints), len(signatures), len(private_values)))


if __name__ == "__main__":
    main()
