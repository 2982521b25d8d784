#!/usr/bin/env python3
"""ops/demo-sign-checkpoint.py — every org of the demo signs a checkpoint, through the API.

A checkpoint (docs/LEDGER.md, "Checkpoints") is complete when every org with a key has signed
it. On the demo most orgs have a key but no principal; as HQ would onboard them, HQ gives each
such org an integration principal (POST /v1/principals, its key added to KEYS_JSON). Then each
org that has not signed yet signs as anyone would: a custodial org's principal asks the server
to sign (POST .../approve), a client-held org signs the canonical bytes with plain openssl and
its private key under CLIENT_KEYS_DIR/ORG.pem and submits the DER signature (POST .../signatures).

Usage: ops/demo-sign-checkpoint.py BASE_URL KEYS_JSON CLIENT_KEYS_DIR NUMBER
"""
import json, os, sys

from demo_client import call as api, client_signature

base, keys_file, client_keys, number = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
keys = json.load(open(keys_file))


def call(method, path, key, body=None):
    return api(base, method, path, key, body)


hq = keys["hq-admin"]
status, checkpoint = call("GET", f"/v1/ledger/checkpoints/{number}", hq)
if status != 200:
    sys.exit(f"demo-sign-checkpoint: checkpoint {number}: {checkpoint.get('detail')}")

# The writing principal of each org that has one.
writers = {}
for name, key in sorted(keys.items()):
    status, me = call("GET", "/v1/me", key)
    if status == 200 and me.get("role") in ("hq_admin", "org_operator", "integration"):
        writers.setdefault(me["actingOrg"], key)

signed = refused = 0
for org in checkpoint["unsigned"]:
    if org not in writers:
        name = org.lower() + "-signer"
        status, created = call("POST", "/v1/principals", hq, {"name": name, "org": org, "role": "integration"})
        if status != 201:
            refused += 1
            print(f"demo-sign-checkpoint: no principal for {org}: {created.get('detail')}", file=sys.stderr)
            continue
        keys[name] = writers[org] = created["key"]
        with open(keys_file, "w") as out:
            json.dump(keys, out, indent=2, sort_keys=True)
            out.write("\n")
    key = writers[org]
    pem = os.path.join(client_keys, org + ".pem")
    if os.path.exists(pem):
        body = client_signature(pem, org, checkpoint["canonical"])
        status, answer = call("POST", f"/v1/ledger/checkpoints/{number}/signatures", key, body)
    else:
        status, answer = call("POST", f"/v1/ledger/checkpoints/{number}/approve", key)
    if status == 200:
        signed += 1
    else:
        refused += 1
        print(f"demo-sign-checkpoint: {org} could not sign checkpoint {number}: {answer.get('detail')}", file=sys.stderr)

status, checkpoint = call("GET", f"/v1/ledger/checkpoints/{number}", hq)
state = "complete" if checkpoint.get("complete") else "not signed by " + ", ".join(checkpoint.get("unsigned", []))
print(f"demo-sign-checkpoint: {signed} signatures, {refused} refused; checkpoint {number} is {state}", file=sys.stderr)
sys.exit(1 if refused or not checkpoint.get("complete") else 0)
