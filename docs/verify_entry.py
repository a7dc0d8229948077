#!/usr/bin/env python3
"""Check one kt ledger entry on its own: verify_entry.py FILE|- [VERIFIER_KEY]

Reads the first line of FILE (or stdin), recomputes the entry hash
SHA-256("kt/entry/v1\\n" || u64be(seq) || prev_hash || JCS(body)) and, given a
verifier key "name+hash+base64" and the `cryptography` package, checks the
Ed25519 signature over the hash. Exit 0 when everything checked is OK, 1 if not.

Limits: JCS (RFC 8785) is approximated by json.dumps(sort_keys=True,
separators=(",", ":"), ensure_ascii=False). That is exact for strings,
integers, booleans and null, but not for every float (Python writes 1.0 and
1e+16 where JCS writes 1 and 10000000000000000), nor for member names
outside the Basic Multilingual Plane (Python sorts by code point, JCS by UTF-16
code unit). kt verify has neither limit. The signature check does not look at
key_id: pass the key you trust.
"""
import base64, hashlib, json, sys

LEDGER_KEYS = ("seq", "prev_hash", "hash", "sig", "key_id")

src = sys.stdin if len(sys.argv) < 2 or sys.argv[1] == "-" else open(sys.argv[1], encoding="utf-8")
entry = json.loads(src.readline())
body = {k: v for k, v in entry.items() if k not in LEDGER_KEYS}
canon = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
digest = hashlib.sha256(b"kt/entry/v1\n" + entry["seq"].to_bytes(8, "big")
                        + bytes.fromhex(entry["prev_hash"]) + canon).digest()
ok = digest.hex() == entry["hash"]
print("seq %d: hash %s" % (entry["seq"], "OK" if ok else "MISMATCH: recomputed " + digest.hex()))

if len(sys.argv) > 2:
    raw = base64.b64decode(sys.argv[2].split("+", 2)[2])  # 0x01 || Ed25519 public key
    try:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
        from cryptography.exceptions import InvalidSignature
    except ImportError:
        print("signature check skipped: the Python 'cryptography' package is not installed")
    else:
        try:
            Ed25519PublicKey.from_public_bytes(raw[1:]).verify(
                base64.b64decode(entry["sig"]), bytes.fromhex(entry["hash"]))
            print("signature OK (%s)" % entry["key_id"])
        except InvalidSignature:
            print("signature BAD")
            ok = False
sys.exit(0 if ok else 1)
