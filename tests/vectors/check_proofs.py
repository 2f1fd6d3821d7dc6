#!/usr/bin/env python3
"""Independent check of tests/vectors/proofs.json and tests/vectors/bundle/, written
from docs/audit-format.md §1-§7 alone (standard library and `cryptography` only).

proofs.json: roots are MTH of the leaves, every inclusion and consistency proof verifies
(RFC 9162 §2.1.3.2, §2.1.4.2), the tree head's bytes and signature. bundle/: the
§7.5 checks. Exit 0 when everything holds.
"""
import hashlib, json, struct, sys, uuid
from pathlib import Path
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

HERE = Path(__file__).parent
sha = lambda b: hashlib.sha256(b).digest()
leaf = lambda d: sha(b"\x00" + d)
node = lambda l, r: sha(b"\x01" + l + r)
s16 = lambda b: struct.pack(">H", len(b)) + b

def mth(leaves):
    if not leaves:
        return sha(b"")
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return node(mth(leaves[:k]), mth(leaves[k:]))

def verify_inclusion(m, n, leaf_hash, path, root):
    if m >= n:
        return False
    fn, sn, r = m, n - 1, leaf_hash
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root

def verify_consistency(m, n, first_root, second_root, path):
    if m == 0 or m > n:
        return False
    if m == n:
        return not path and first_root == second_root
    if m & (m - 1) == 0:          # first is a power of two: its root starts the path
        path = [first_root] + list(path)
    if not path:
        return False
    fn, sn = m - 1, n - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node(c, fr), node(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == first_root and sr == second_root

def key_id(public: bytes) -> str:
    return "ed25519:" + sha(public).hex()[:16]

def head_bytes(partner: str, size: int, root: bytes, ts: int, kid: str) -> bytes:
    return (b"LARASTH1" + uuid.UUID(partner).bytes + struct.pack(">Q", size) + root
            + struct.pack(">q", ts) + s16(kid.encode()))

def check_proofs():
    v = json.loads((HERE / "proofs.json").read_text())
    leaves = [leaf(bytes.fromhex(d)) for d in v["envelope_hashes"]]
    assert [l.hex() for l in leaves] == v["leaf_hashes"], "leaf hashes"
    roots = {r["tree_size"]: bytes.fromhex(r["root_hash"]) for r in v["roots"]}
    for n, root in roots.items():
        assert mth(leaves[:n]) == root, f"root at {n}"
    for p in v["inclusion"]:
        m, n, path = p["leaf_index"], p["tree_size"], [bytes.fromhex(h) for h in p["path"]]
        assert verify_inclusion(m, n, leaves[m], path, roots[n]), f"inclusion {m} in {n}"
        if path:
            bad = list(path); bad[0] = bytes([bad[0][0] ^ 1]) + bad[0][1:]
            assert not verify_inclusion(m, n, leaves[m], bad, roots[n]), "a flipped bit must fail"
    for p in v["consistency"]:
        m, n, path = p["first"], p["second"], [bytes.fromhex(h) for h in p["path"]]
        assert verify_consistency(m, n, roots[m], roots[n], path), f"consistency {m} {n}"
    h = v["tree_head"]
    public = bytes.fromhex(h["signing_key"]["public"])
    assert key_id(public) == h["key_id"]
    signed = head_bytes(h["partner_id"], h["tree_size"], bytes.fromhex(h["root_hash"]), h["timestamp_ms"], h["key_id"])
    assert signed.hex() == h["signed_bytes_hex"], "tree head bytes"
    assert bytes.fromhex(h["root_hash"]) == roots[h["tree_size"]]
    Ed25519PublicKey.from_public_bytes(public).verify(bytes.fromhex(h["signature"]), signed)
    return len(v["inclusion"]), len(v["consistency"])

class Reader:
    def __init__(self, b):
        self.b, self.i = b, 0
    def take(self, n):
        assert self.i + n <= len(self.b), "short"
        out = self.b[self.i:self.i + n]; self.i += n
        return out
    def u(self, fmt):
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0]
    def str16(self):
        return self.take(self.u(">H")).decode()

def parse(canonical: bytes) -> dict:
    r = Reader(canonical)
    assert r.take(8) == b"LARASEV1"
    e = {"event_id": str(uuid.UUID(bytes=r.take(16))), "partner_id": str(uuid.UUID(bytes=r.take(16))),
         "stream_id": r.str16(), "stream_version": r.u(">Q"), "recorded_at": r.u(">q"),
         "actor_kind": r.u(">B"), "actor_id": r.str16()}
    r.take(32)  # causation, correlation
    e.update(event_type=r.str16(), event_version=r.u(">H"), key_id=r.str16(), prev_hash=r.take(32))
    e["payload"] = r.take(r.u(">I"))
    assert r.i == len(canonical), "trailing bytes"
    assert 1 <= e["actor_kind"] <= 4
    return e

def records(path: Path):
    b, i = path.read_bytes(), 0
    while i < len(b):
        n = struct.unpack(">I", b[i:i + 4])[0]
        canonical, sig = b[i + 4:i + 4 + n], b[i + 4 + n:i + 4 + n + 64]
        assert len(sig) == 64, "truncated"
        yield canonical, sig
        i += 4 + n + 64

def check_bundle(d: Path):
    manifest = json.loads((d / "manifest.json").read_text())
    assert manifest["format"] == "laras-audit-bundle" and manifest["version"] == 1
    partner = manifest["partner_id"]
    published = json.loads((d / "keys.json").read_text())
    anchor = bytes.fromhex(published[0]["public_key"])
    keys, order, chains = {}, [], {}

    def check(canonical, sig, key_events):
        e = parse(canonical)
        h = sha(canonical)
        version, prev = chains.get(e["stream_id"], (-1, bytes(32)))
        assert e["stream_version"] == version + 1 and e["prev_hash"] == prev, "chain"
        chains[e["stream_id"]] = (e["stream_version"], h)
        if key_events:
            p = json.loads(e["payload"])
            public = bytes.fromhex(p["public_key"])
            assert key_id(public) == p["key_id"]
            if p["previous"] is None:
                assert not keys and public == anchor and e["key_id"] == p["key_id"]
                signer = public
            else:
                assert e["key_id"] == p["previous"]
                k = keys[p["previous"]]
                assert k["from"] <= e["recorded_at"] and k["until"] is None
                signer = k["public"]
                k["until"] = e["recorded_at"]
            keys[p["key_id"]] = {"public": public, "from": e["recorded_at"], "until": None}
            order.append(p["key_id"])
        else:
            assert e["partner_id"] == partner, "foreign partner"
            k = keys[e["key_id"]]
            assert k["from"] <= e["recorded_at"] and (k["until"] is None or e["recorded_at"] <= k["until"])
            signer = k["public"]
        Ed25519PublicKey.from_public_bytes(signer).verify(sig, canonical)
        return e, h

    for canonical, sig in records(d / "signing-keys.bin"):
        check(canonical, sig, True)
    leaves, erased = [], set()
    for canonical, sig in records(d / "envelopes.bin"):
        e, h = check(canonical, sig, False)
        leaves.append(leaf(h))
        if e["event_type"] == "ContactErased":
            erased.add((e["stream_id"][len("contact-"):], e["event_id"]))
    assert len(leaves) == manifest["envelopes"] and len(order) == manifest["signing_key_events"]
    assert published == [{"key_id": k, "public_key": keys[k]["public"].hex(), "valid_from_ms": keys[k]["from"],
                          "valid_until_ms": keys[k]["until"]} for k in order], "keys.json"
    heads = json.loads((d / "tree-heads.json").read_text())
    proofs = {(p["first"], p["second"]): [bytes.fromhex(x) for x in p["path"]]
              for p in json.loads((d / "consistency.json").read_text())}
    for h in heads:
        k = keys[h["key_id"]]
        assert k["from"] <= h["timestamp_ms"] and (k["until"] is None or h["timestamp_ms"] <= k["until"])
        root = bytes.fromhex(h["root_hash"])
        signed = head_bytes(partner, h["tree_size"], root, h["timestamp_ms"], h["key_id"])
        Ed25519PublicKey.from_public_bytes(k["public"]).verify(bytes.fromhex(h["signature"]), signed)
    ordered = sorted(heads, key=lambda h: h["tree_size"])
    for a, b in zip(ordered, ordered[1:]):
        if 0 < a["tree_size"] < b["tree_size"]:
            assert verify_consistency(a["tree_size"], b["tree_size"], bytes.fromhex(a["root_hash"]),
                                      bytes.fromhex(b["root_hash"]), proofs[(a["tree_size"], b["tree_size"])])
    for h in heads:
        assert mth(leaves[:h["tree_size"]]).hex() == h["root_hash"], "root"
    assert ordered[-1]["tree_size"] == len(leaves), "covered"
    markers = {(m["contact_id"], m["event_id"]) for m in json.loads((d / "erased.json").read_text())}
    assert markers == erased, "erased markers"
    return len(leaves), len(heads)

def main() -> int:
    inclusion, consistency = check_proofs()
    envelopes, heads = check_bundle(HERE / "bundle")
    print(f"ok: {inclusion} inclusion and {consistency} consistency proofs, a signed tree head, "
          f"and a bundle of {envelopes} envelopes with {heads} tree heads verified independently")
    return 0

if __name__ == "__main__":
    sys.exit(main())
