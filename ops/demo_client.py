"""What the demo's scripts (ops/demo-endorse.py, ops/demo-sign-checkpoint.py) share: calling the
API as a principal, and signing as a client-held org does on its own machine, with plain openssl."""
import base64, json, os, subprocess, tempfile, urllib.error, urllib.request


def call(base, method, path, key, body=None):
    """(status, JSON answer) of one request as the principal of `key`."""
    request = urllib.request.Request(base + path, method=method, data=None if body is None else json.dumps(body).encode(),
                                     headers={"Authorization": "Bearer " + key, "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def client_signature(pem, org, canonical):
    """The body a client-held org submits: its SM2 signature (ID 1234567812345678) over `canonical`,
    made by `openssl dgst` with its private key `pem`, DER, base64. The demo registers each client
    key once, so its version is 1."""
    with tempfile.TemporaryDirectory() as folder:
        document, signature = os.path.join(folder, "document.json"), os.path.join(folder, "sig.der")
        with open(document, "wb") as out:
            out.write(canonical.encode())
        subprocess.run(["openssl", "dgst", "-sm3", "-sign", pem, "-sigopt", "distid:1234567812345678", "-out", signature, document],
                       check=True)
        with open(signature, "rb") as der:
            return {"org": org, "keyVersion": 1, "signature": base64.b64encode(der.read()).decode()}
