#!/usr/bin/env python3
"""ops/demo-endorse.py — the demo's other endorsers, through the API as anyone would.

After `ops/run` has seeded Tenants/dairy.yaml's demo, each seeded transfer step's ledger
transaction is endorsed by the org that acted (its custodial key, at posting); this script plays
every other endorser the policies name: a custodial org's principal asks the server to sign
(POST .../approve), a client-held org (ledger.client_held) signs the canonical bytes on "its own
machine" with plain openssl and the private key under .data/client-keys/ORG.pem, and submits the
DER signature (POST .../endorsements). The sealer in `serve` then seals what is committed.

Usage: ops/demo-endorse.py BASE_URL KEYS_JSON CLIENT_KEYS_DIR
"""
import json, os, sys

from demo_client import call as api, client_signature

base, keys_file, client_keys = sys.argv[1], sys.argv[2], sys.argv[3]
keys = json.load(open(keys_file))


def call(method, path, key, body=None):
    return api(base, method, path, key, body)


def pending(key):
    cursor = None
    while True:
        status, page = call("GET", "/v1/ledger/pending?limit=1000" + (f"&cursor={cursor}" if cursor else ""), key)
        if status != 200:
            return
        yield from page["items"]
        cursor = page.get("nextCursor")
        if not cursor:
            return


endorsed = refused = 0
for name, key in sorted(keys.items()):
    status, me = call("GET", "/v1/me", key)
    if status != 200 or me.get("role") not in ("hq_admin", "org_operator", "integration"):
        continue
    org = me["actingOrg"]
    pem = os.path.join(client_keys, org + ".pem")
    for tx in pending(key):
        if os.path.exists(pem):
            body = client_signature(pem, org, tx["canonical"])
            status, answer = call("POST", f"/v1/ledger/transactions/{tx['hash']}/endorsements", key, body)
        else:
            status, answer = call("POST", f"/v1/ledger/transactions/{tx['hash']}/approve", key)
        if status == 200:
            endorsed += 1
        else:
            refused += 1
            print(f"demo-endorse: {name} ({org}) could not endorse {tx['hash']}: {answer.get('detail')}", file=sys.stderr)
print(f"demo-endorse: {endorsed} endorsements, {refused} refused", file=sys.stderr)
sys.exit(1 if refused else 0)
