#!/usr/bin/env python3
"""Independent check of tests/vectors/envelopes.json, written from docs/audit-format.md.

Uses only the standard library and `cryptography` (Ed25519, XChaCha20 is not in it, so
sealed fields are checked by length and layout only). Rebuilds every envelope's
canonical bytes from its fields, then checks the hash, the signature, the chain and
the key id. Exit 0 when everything holds.
"""
import base64, hashlib, json, struct, sys, uuid
from pathlib import Path
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

def s16(b: bytes) -> bytes:
    return struct.pack(">H", len(b)) + b

def canonical(e: dict) -> bytes:
    out = b"LARASEV1"
    out += uuid.UUID(e["event_id"]).bytes + uuid.UUID(e["partner_id"]).bytes
    out += s16(e["stream_id"].encode())
    out += struct.pack(">Q", e["stream_version"]) + struct.pack(">q", e["recorded_at"])
    out += bytes([e["actor_kind"]]) + s16(e["actor_id"].encode())
    out += uuid.UUID(e["causation_id"]).bytes + uuid.UUID(e["correlation_id"]).bytes
    out += s16(e["event_type"].encode()) + struct.pack(">H", e["event_version"])
    out += s16(e["key_id"].encode()) + bytes.fromhex(e["prev_hash"])
    payload = bytes.fromhex(e["payload_hex"])
    return out + struct.pack(">I", len(payload)) + payload

def main() -> int:
    vectors = json.loads(Path(__file__).with_name("envelopes.json").read_text())
    key = vectors["signing_key"]
    public = bytes.fromhex(key["public"])
    assert key["key_id"] == "ed25519:" + hashlib.sha256(public).hexdigest()[:16], "key id"
    verifier = Ed25519PublicKey.from_public_bytes(public)
    heads = {}
    for e in vectors["envelopes"]:
        c = canonical(e)
        assert c.hex() == e["canonical_bytes_hex"], f"canonical bytes at {e['position']}"
        h = hashlib.sha256(c).hexdigest()
        assert h == e["hash"], f"hash at {e['position']}"
        verifier.verify(bytes.fromhex(e["signature"]), c)
        version, prev = heads.get(e["stream_id"], (-1, "00" * 32))
        assert e["stream_version"] == version + 1 and e["prev_hash"] == prev, f"chain at {e['position']}"
        heads[e["stream_id"]] = (e["stream_version"], h)
        for field in json.loads(bytes.fromhex(e["payload_hex"])).values():
            if isinstance(field, str) and field.startswith("xc1."):
                raw = base64.urlsafe_b64decode(field[4:] + "=" * (-len(field[4:]) % 4))
                assert len(raw) >= 16 + 24 + 16, "sealed layout"
    print(f"ok: {len(vectors['envelopes'])} envelopes verified independently")
    return 0

if __name__ == "__main__":
    sys.exit(main())
