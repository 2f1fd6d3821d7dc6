#!/usr/bin/env python3
"""A bundle verifier written from docs/audit-format.md §1-§8 alone (standard library
only: §3's cofactored Ed25519 equation is computed here, as stock libraries check the
cofactorless one), run against the conformance cases of §7.6: for each case in
tests/vectors/cases/cases.json it reports ok or the first failure's file, position and
kind, and compares that with the case's `expect`. Exit 0 when every case agrees.
"""
import base64, hashlib, json, re, struct, sys, uuid
from pathlib import Path

HERE = Path(__file__).parent
NIL = "00000000-0000-0000-0000-000000000000"
P = P_ = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
D = -121665 * pow(121666, P - 2, P) % P
SMALL_ORDER_Y = {0, 1, P - 1,
                 int.from_bytes(bytes.fromhex("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05"), "little"),
                 int.from_bytes(bytes.fromhex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"), "little")}
LOWER_HEX = re.compile(r"^[0-9a-f]*$")
UUID_TEXT = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")

sha = lambda b: hashlib.sha256(b).digest()
leaf = lambda d: sha(b"\x00" + d)
node = lambda l, r: sha(b"\x01" + l + r)
s16 = lambda b: struct.pack(">H", len(b)) + b


class Fail(Exception):
    def __init__(self, file, position, kind):
        super().__init__(f"{file} {position} {kind}")
        self.result = {"ok": False, "file": file, "position": position, "kind": kind}


# §3 --------------------------------------------------------------------------------
def strict_point(enc: bytes) -> bool:
    """Rule 2: canonical y, not of small order, and (for a key) on the curve."""
    y = int.from_bytes(enc, "little") & ((1 << 255) - 1)
    return y < P and y not in SMALL_ORDER_Y

def on_curve(enc: bytes) -> bool:
    return decompress(enc) is not None

# Points in extended coordinates (X, Y, Z, T), as in RFC 8032 §6.
def point_add(P, Q):
    a, b = (P[1] - P[0]) * (Q[1] - Q[0]) % P_, (P[1] + P[0]) * (Q[1] + Q[0]) % P_
    c, d = 2 * P[3] * Q[3] * D % P_, 2 * P[2] * Q[2] % P_
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % P_, g * h % P_, f * g % P_, e * h % P_)

def point_mul(s, P):
    Q = (0, 1, 1, 0)
    while s > 0:
        if s & 1:
            Q = point_add(Q, P)
        P = point_add(P, P)
        s >>= 1
    return Q

def point_equal(P, Q):
    return (P[0] * Q[2] - Q[0] * P[2]) % P_ == 0 and (P[1] * Q[2] - Q[1] * P[2]) % P_ == 0

def decompress(enc: bytes):
    y = int.from_bytes(enc, "little")
    sign, y = y >> 255, y & ((1 << 255) - 1)
    if y >= P_:
        return None
    x2 = (y * y - 1) * pow(D * y * y + 1, P_ - 2, P_) % P_
    if x2 == 0:
        return None if sign else (0, y, 1, 0)
    x = pow(x2, (P_ + 3) // 8, P_)
    if (x * x - x2) % P_:
        x = x * pow(2, (P_ - 1) // 4, P_) % P_
    if (x * x - x2) % P_:
        return None
    if x & 1 != sign:
        x = P_ - x
    return (x, y, 1, x * y % P_)

BASE = decompress((4 * pow(5, P_ - 2, P_) % P_).to_bytes(32, "little"))

def verify(public: bytes, message: bytes, signature: bytes) -> bool:
    """§3: rules 1 and 2 on the bytes, then [8][S]B = [8]R + [8][k]A."""
    if len(signature) != 64 or int.from_bytes(signature[32:], "little") >= L:
        return False
    if not strict_point(signature[:32]) or not strict_point(public):
        return False
    A, R = decompress(public), decompress(signature[:32])
    if A is None or R is None:
        return False
    k = int.from_bytes(hashlib.sha512(signature[:32] + public + message).digest(), "little") % L
    s = int.from_bytes(signature[32:], "little")
    return point_equal(point_mul(8 * s, BASE), point_mul(8, point_add(R, point_mul(k, A))))

def key_id(public: bytes) -> str:
    return "ed25519:" + sha(public).hex()[:16]


# §1.1, §7.4 records -------------------------------------------------------------------
class Short(Exception):
    pass

class Reader:
    def __init__(self, b):
        self.b, self.i = b, 0
    def take(self, n):
        if self.i + n > len(self.b):
            raise Short()
        out = self.b[self.i:self.i + n]; self.i += n
        return out
    def u(self, fmt):
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0]
    def str16(self):
        return self.take(self.u(">H")).decode("utf-8")   # UnicodeDecodeError: malformed

def parse(canonical: bytes):
    """The envelope's fields, or None when the bytes are not a canonical envelope."""
    try:
        r = Reader(canonical)
        if r.take(8) != b"LARASEV1":
            return None
        e = {"event_id": str(uuid.UUID(bytes=r.take(16))), "partner_id": str(uuid.UUID(bytes=r.take(16))),
             "stream_id": r.str16(), "stream_version": r.u(">Q"), "recorded_at": r.u(">q"),
             "actor_kind": r.u(">B"), "actor_id": r.str16()}
        r.take(32)  # causation, correlation
        e.update(event_type=r.str16(), event_version=r.u(">H"), key_id=r.str16(), prev_hash=r.take(32))
        e["payload"] = r.take(r.u(">I"))
    except (Short, UnicodeDecodeError):
        return None
    if r.i != len(canonical) or not 1 <= e["actor_kind"] <= 4:
        return None
    if e["actor_kind"] in (1, 3) and not UUID_TEXT.match(e["actor_id"]):
        return None
    return e

def records(path: Path):
    """(position, canonical, signature) or (position, None, None) when the file ends inside it."""
    b, i, n = path.read_bytes(), 0, 0
    while i < len(b):
        n += 1
        if i + 4 > len(b):
            yield n, None, None; return
        size = struct.unpack(">I", b[i:i + 4])[0]
        if i + 4 + size + 64 > len(b):
            yield n, None, None; return
        yield n, b[i + 4:i + 4 + size], b[i + 4 + size:i + 4 + size + 64]
        i += 4 + size + 64


# §7.4 JSON, read exactly --------------------------------------------------------------
def is_int(v, signed=False):
    return isinstance(v, int) and not isinstance(v, bool) and (signed or v >= 0)

def read_json(d: Path, name: str, fields: dict, is_list: bool):
    try:
        value = json.loads((d / name).read_bytes().decode("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        raise Fail(name, 0, "malformed")
    items = value if is_list else [value]
    if not isinstance(items, list):
        raise Fail(name, 0, "malformed")
    for item in items:
        if not isinstance(item, dict) or set(item) != set(fields):
            raise Fail(name, 0, "malformed")
        for k, check in fields.items():
            if not check(item[k]):
                raise Fail(name, 0, "malformed")
    return value

string = lambda v: isinstance(v, str)
u64 = lambda v: is_int(v)
i64 = lambda v: is_int(v, True)
MANIFEST = {"format": string, "version": u64, "partner_id": lambda v: string(v) and UUID_TEXT.match(v),
            "exported_at": string, "exported_at_ms": i64, "envelopes": u64, "signing_key_events": u64,
            "tree_heads": u64}
KEYS = {"key_id": string, "public_key": string, "valid_from_ms": i64,
        "valid_until_ms": lambda v: v is None or i64(v)}
HEADS = {"tree_size": u64, "root_hash": string, "timestamp_ms": i64, "key_id": string, "signature": string}
PROOFS = {"first": u64, "second": u64, "path": lambda v: isinstance(v, list) and all(map(string, v))}
ERASED = {"contact_id": string, "event_id": string, "erased_at_ms": i64}
COSIGNATURES = {"tree_size": u64, "root_hash": string, "witness_name": string, "witness_key": string,
                "timestamp": u64, "signature": string}

def hex_bytes(text, size):
    if not isinstance(text, str) or len(text) != 2 * size or not LOWER_HEX.match(text):
        return None
    return bytes.fromhex(text)


# §7.1-§7.3 ---------------------------------------------------------------------------
def mth(leaves):
    if not leaves:
        return sha(b"")
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return node(mth(leaves[:k]), mth(leaves[k:]))

def verify_consistency(m, n, first_root, second_root, path):
    if m == 0 or m > n:
        return False
    if m == n:
        return not path and first_root == second_root
    if m & (m - 1) == 0:
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

def head_bytes(partner, size, root, ts, kid):
    return (b"LARASTH1" + uuid.UUID(partner).bytes + struct.pack(">Q", size) + root
            + struct.pack(">q", ts) + s16(kid.encode()))


# §4 and §3: the walk over both files ---------------------------------------------------
class Log:
    def __init__(self, anchors):
        self.anchors, self.keys, self.order, self.chains, self.ids = anchors, {}, [], {}, set()

    def valid_key(self, kid, at):
        k = self.keys.get(kid)
        if k is None:
            return "unknown_key", None
        if at < k["from"] or (k["until"] is not None and at > k["until"]):
            return "key_not_valid_at", None
        return None, k["public"]

    def key_event(self, e):
        """(failure kind or None, signer)"""
        bad = ("bad_key_event", None)
        if e["event_version"] != 1:
            return bad
        try:
            p = json.loads(e["payload"])
        except ValueError:
            return bad
        if not isinstance(p, dict) or not all(k in p for k in ("key_id", "public_key", "previous")):
            return bad
        kid, hexkey, previous = p["key_id"], p["public_key"], p["previous"]
        if not isinstance(kid, str) or not (previous is None or isinstance(previous, str)):
            return bad
        public = hex_bytes(hexkey, 32)
        if public is None or not on_curve(public) or not strict_point(public):
            return bad
        new_id = key_id(public)
        if new_id != kid or new_id in self.keys:
            return bad
        if previous is None:
            if self.keys or e["key_id"] != new_id or public not in self.anchors:
                return bad
            signer = public
        else:
            if not self.order or self.order[-1] != previous or e["key_id"] != previous:
                return bad
            kind, signer = self.valid_key(previous, e["recorded_at"])
            if kind:
                return kind, None
            self.keys[previous]["until"] = e["recorded_at"]
        self.keys[new_id] = {"public": public, "from": e["recorded_at"], "until": None}
        self.order.append(new_id)
        return None, signer

    def check(self, file, position, canonical, signature, member):
        if canonical is None:
            raise Fail(file, position, "truncated")
        e = parse(canonical)
        if e is None:
            raise Fail(file, position, "malformed")
        member_kind = member(e)
        if member_kind:
            raise Fail(file, position, member_kind)
        if e["event_id"] in self.ids:
            raise Fail(file, position, "duplicate_event")
        self.ids.add(e["event_id"])
        h = sha(canonical)
        version, prev = self.chains.get(e["stream_id"], (-1, bytes(32)))
        if e["stream_version"] != version + 1:
            raise Fail(file, position, "version_gap")
        if e["prev_hash"] != prev:
            raise Fail(file, position, "chain_broken")
        self.chains[e["stream_id"]] = (e["stream_version"], h)
        is_key_event, in_key_stream = e["event_type"] == "SigningKeyRotated", e["stream_id"] == "signing-keys"
        if is_key_event != in_key_stream or (in_key_stream and e["partner_id"] != NIL):
            raise Fail(file, position, "bad_key_event")
        if is_key_event:
            kind, signer = self.key_event(e)
        else:
            kind, signer = self.valid_key(e["key_id"], e["recorded_at"])
        if kind:
            raise Fail(file, position, kind)
        if not verify(signer, canonical, signature):
            raise Fail(file, position, "bad_signature")
        return e, h


def count_matches(file, found, declared):
    if found < declared:
        raise Fail(file, found + 1, "truncated")
    if found > declared:
        raise Fail(file, declared + 1, "malformed")


# §7.5 ---------------------------------------------------------------------------------
# §8 -----------------------------------------------------------------------------------
def cosigned_message(partner, size, root, timestamp):
    body = f"laras/partner/{partner}\n{size}\n{base64.b64encode(root).decode()}\n"
    return f"cosignature/v1\ntime {timestamp}\n{body}".encode()

def read_cosignatures(d: Path):
    """Absent: no cosignatures. Present: read exactly, each entry's hex and key checked."""
    if not (d / "cosignatures.json").exists():
        return []
    entries = read_json(d, "cosignatures.json", COSIGNATURES, True)
    out = []
    for i, c in enumerate(entries, 1):
        root, key, sig = hex_bytes(c["root_hash"], 32), hex_bytes(c["witness_key"], 32), hex_bytes(c["signature"], 64)
        if root is None or key is None or sig is None or not strict_point(key) or not on_curve(key):
            raise Fail("cosignatures.json", i, "malformed")
        out.append({"tree_size": c["tree_size"], "root": root, "key": key, "timestamp": c["timestamp"], "sig": sig})
    return out


def verify_bundle(d: Path, trust, known=(), witness_keys=(), min_witnesses=0):
    manifest = read_json(d, "manifest.json", MANIFEST, False)
    if manifest["format"] != "laras-audit-bundle" or manifest["version"] != 1:
        raise Fail("manifest.json", 0, "malformed")
    partner = manifest["partner_id"]
    published = read_json(d, "keys.json", KEYS, True)
    heads = read_json(d, "tree-heads.json", HEADS, True)
    proofs = read_json(d, "consistency.json", PROOFS, True)
    markers = read_json(d, "erased.json", ERASED, True)
    cosignatures = read_cosignatures(d)
    for i, h in enumerate(heads, 1):
        if hex_bytes(h["root_hash"], 32) is None or hex_bytes(h["signature"], 64) is None:
            raise Fail("tree-heads.json", i, "malformed")
    if len(heads) != manifest["tree_heads"] or not heads:
        raise Fail("tree-heads.json", 0, "malformed")
    for i in range(1, len(heads)):
        if heads[i]["tree_size"] < heads[i - 1]["tree_size"]:
            raise Fail("tree-heads.json", i + 1, "malformed")
    if trust:
        anchors = trust
    else:
        if not published:
            raise Fail("keys.json", 0, "malformed")
        first = hex_bytes(published[0]["public_key"], 32)
        if first is None or not on_curve(first):
            raise Fail("keys.json", 1, "malformed")
        anchors = [first]
    log = Log(anchors)

    # Step 2: the key stream.
    found = 0
    for n, canonical, sig in records(d / "signing-keys.bin"):
        log.check("signing-keys.bin", n, canonical, sig,
                  lambda e: None if e["stream_id"] == "signing-keys" else "bad_key_event")
        found = n
    count_matches("signing-keys.bin", found, manifest["signing_key_events"])

    # Step 3: the Partner's envelopes.
    leaves, erased, found = [], [], 0
    for n, canonical, sig in records(d / "envelopes.bin"):
        e, h = log.check("envelopes.bin", n, canonical, sig,
                         lambda e: None if e["partner_id"] == partner else "foreign_partner")
        leaves.append(leaf(h))
        found = n
        if e["event_type"] == "ContactErased":
            erased.append({"contact_id": e["stream_id"][len("contact-"):], "event_id": e["event_id"],
                           "erased_at_ms": e["recorded_at"]})
    count_matches("envelopes.bin", found, manifest["envelopes"])

    # Step 4.
    derived = [{"key_id": k, "public_key": log.keys[k]["public"].hex(), "valid_from_ms": log.keys[k]["from"],
                "valid_until_ms": log.keys[k]["until"]} for k in log.order]
    if published != derived:
        raise Fail("keys.json", 0, "malformed")

    # Step 5.
    for i, h in enumerate(heads, 1):
        kind, public = log.valid_key(h["key_id"], h["timestamp_ms"])
        if kind:
            raise Fail("tree-heads.json", i, kind)
        signed = head_bytes(partner, h["tree_size"], bytes.fromhex(h["root_hash"]), h["timestamp_ms"], h["key_id"])
        if not verify(public, signed, bytes.fromhex(h["signature"])):
            raise Fail("tree-heads.json", i, "bad_tree_head_signature")

    # Step 6.
    pairs = [(a["tree_size"], b["tree_size"]) for a, b in zip(heads, heads[1:])
             if 0 < a["tree_size"] < b["tree_size"]]
    for i, p in enumerate(proofs):
        if i >= len(pairs) or (p["first"], p["second"]) != pairs[i]:
            raise Fail("consistency.json", i + 1, "malformed")
    for a, b in zip(heads, heads[1:]):
        if a["tree_size"] == b["tree_size"]:
            if a["root_hash"] != b["root_hash"]:
                raise Fail("tree-heads.json", 0, "inconsistent_tree_heads")
            continue
        if a["tree_size"] == 0:
            continue
        index = pairs.index((a["tree_size"], b["tree_size"]))
        if index >= len(proofs):
            raise Fail("consistency.json", 0, "malformed")
        path = [hex_bytes(x, 32) for x in proofs[index]["path"]]
        if None in path:
            raise Fail("consistency.json", index + 1, "malformed")
        if not verify_consistency(a["tree_size"], b["tree_size"], bytes.fromhex(a["root_hash"]),
                                  bytes.fromhex(b["root_hash"]), path):
            raise Fail("consistency.json", index + 1, "inconsistent_tree_heads")

    # Steps 7 and 8.
    for i, h in enumerate(heads, 1):
        if h["tree_size"] > len(leaves):
            raise Fail("tree-heads.json", i, "truncated")
        if mth(leaves[:h["tree_size"]]).hex() != h["root_hash"]:
            raise Fail("tree-heads.json", i, "root_mismatch")
    if len(leaves) > heads[-1]["tree_size"]:
        raise Fail("tree-heads.json", 0, "not_covered")

    # Step 9.
    for i in range(max(len(markers), len(erased))):
        if i >= len(markers) or i >= len(erased) or markers[i] != erased[i]:
            raise Fail("erased.json", i + 1, "bad_erasure_marker")

    # Step 10: heads the auditor kept from earlier (named "known-heads" in the cases).
    for i, h in enumerate(known, 1):
        root, sig = hex_bytes(h["root_hash"], 32), hex_bytes(h["signature"], 64)
        if root is None or sig is None:
            raise Fail("known-heads", i, "malformed")
        kind, public = log.valid_key(h["key_id"], h["timestamp_ms"])
        if kind:
            raise Fail("known-heads", i, kind)
        if not verify(public, head_bytes(partner, h["tree_size"], root, h["timestamp_ms"], h["key_id"]), sig):
            raise Fail("known-heads", i, "bad_tree_head_signature")
        if h["tree_size"] > len(leaves) or mth(leaves[:h["tree_size"]]) != root:
            raise Fail("known-heads", i, "inconsistent_with_known_head")

    # Step 11: the auditor's witnesses on the covering head (the last).
    size, root = heads[-1]["tree_size"], bytes.fromhex(heads[-1]["root_hash"])
    cosigned = {k for k in witness_keys for c in cosignatures
                if c["key"] == k and c["tree_size"] == size and c["root"] == root and c["timestamp"] < 2**63
                and verify(k, cosigned_message(partner, size, root, c["timestamp"]), c["sig"])}
    if len(cosigned) < min_witnesses:
        raise Fail("cosignatures.json", 0, "not_witnessed")
    return {"ok": True}


def main() -> int:
    cases = json.loads((HERE / "cases" / "cases.json").read_text())
    wrong = 0
    for case in cases:
        trust = [bytes.fromhex(case["trust_key"])] if case["trust_key"] else []
        try:
            witnesses = [bytes.fromhex(k) for k in case.get("witness_keys", [])]
            result = verify_bundle(HERE / "cases" / case["name"], trust, case["known_heads"], witnesses,
                                   case.get("min_witnesses", 0))
        except Fail as f:
            result = f.result
        if result != case["expect"]:
            wrong += 1
            print(f"{case['name']}: expected {case['expect']}, found {result}")
    print(f"{len(cases) - wrong} of {len(cases)} conformance cases agree with cases.json")
    return 1 if wrong else 0

if __name__ == "__main__":
    sys.exit(main())
