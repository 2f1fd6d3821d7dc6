#!/usr/bin/env python3
"""Writes each fuzz target's seed corpus from the repository's fixtures and vectors.

Usage: fuzz/seeds.py OUT_DIR  (one subdirectory per target; existing files are kept)."""

import hashlib
import hmac
import json
import pathlib
import struct
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
META = ROOT / "adapters/tests/fixtures/meta"
VECTORS = ROOT / "tests/vectors"
BUNDLE_FILES = ["manifest.json", "keys.json", "signing-keys.bin", "envelopes.bin",
                "tree-heads.json", "consistency.json", "erased.json", "cosignatures.json"]


def event_types():
    """The event types in the order fuzz_targets/event_decode.rs lists them."""
    text = (ROOT / "fuzz/fuzz_targets/event_decode.rs").read_text()
    block = text.split("const TYPES: &[&str] = &[", 1)[1].split("];", 1)[0]
    return [t.strip().strip('"') for t in block.split(",") if t.strip()]


def records(path):
    data = path.read_bytes()
    while len(data) >= 4:
        (n,) = struct.unpack(">I", data[:4])
        yield data[:4 + n + 64]
        data = data[4 + n + 64:]


def event_of(canonical):
    """(event_type, version, payload) of canonical envelope bytes (docs/audit-format.md)."""
    at = 8 + 16 + 16

    def str16():
        nonlocal at
        (n,) = struct.unpack(">H", canonical[at:at + 2])
        at += 2 + n
        return canonical[at - n:at].decode()

    str16()
    at += 8 + 8 + 1
    str16()
    at += 32
    event_type = str16()
    (version,) = struct.unpack(">H", canonical[at:at + 2])
    at += 2
    str16()
    at += 32 + 4
    return event_type, version, canonical[at:]


def bundle(directory):
    out = b""
    for i, name in enumerate(BUNDLE_FILES):
        f = directory / name
        if f.exists():
            body = f.read_bytes()
            out += bytes([i]) + struct.pack(">I", len(body)) + body
    return out


def main(out):
    seeds = {t: [] for t in ["webhook_whatsapp", "webhook_messaging", "webhook_threads",
                             "webhook_signature", "envelope_decode", "event_decode",
                             "audit_records", "audit_bundle"]}
    for f in sorted(META.glob("*.json")):
        body = f.read_bytes()
        name = f.name
        if name.startswith(("wa_", "whatsapp")):
            seeds["webhook_whatsapp"].append(body)
        elif name.startswith("messenger"):
            seeds["webhook_messaging"].append(b"\x00" + body)
        elif name.startswith("instagram"):
            seeds["webhook_messaging"].append(b"\x01" + body)
        elif name.startswith("threads"):
            seeds["webhook_threads"].append(b"\x00" + body)
            seeds["webhook_threads"].append(b"\x01" + body)
        else:
            for target in ["webhook_whatsapp", "webhook_messaging", "webhook_threads"]:
                seeds[target].append(b"\x00" + body if target != "webhook_whatsapp" else body)
        secret = b"app-secret"
        header = b"sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest().encode()
        seeds["webhook_signature"].append(bytes([len(secret)]) + secret + bytes([len(header)]) + header + body)
    types = event_types()
    vectors = json.loads((VECTORS / "envelopes.json").read_text())
    for e in vectors["envelopes"]:
        seeds["envelope_decode"].append(bytes.fromhex(e["canonical_bytes_hex"]))
        if e["event_type"] in types:
            pick = types.index(e["event_type"])
            seeds["event_decode"].append(bytes([pick]) + struct.pack(">H", e["event_version"])
                                         + bytes.fromhex(e["payload_hex"]))
    bundles = [VECTORS / "bundle"] + sorted(p for p in (VECTORS / "cases").iterdir() if p.is_dir())
    for directory in bundles:
        seeds["audit_bundle"].append(bundle(directory))
        for name in ["envelopes.bin", "signing-keys.bin"]:
            f = directory / name
            if f.exists():
                seeds["audit_records"].append(f.read_bytes())
                for r in records(f):
                    seeds["envelope_decode"].append(r[4:-64])
                    try:
                        event_type, version, payload = event_of(r[4:-64])
                    except (UnicodeDecodeError, struct.error):
                        continue  # a case's deliberately broken record
                    if event_type in types:
                        seeds["event_decode"].append(bytes([types.index(event_type)])
                                                     + struct.pack(">H", version) + payload)
    for target, items in seeds.items():
        d = pathlib.Path(out) / target
        d.mkdir(parents=True, exist_ok=True)
        for body in items:
            (d / ("seed-" + hashlib.sha1(body).hexdigest())).write_bytes(body)
        print(f"{target}: {len(items)} seeds")


if __name__ == "__main__":
    main(sys.argv[1])
