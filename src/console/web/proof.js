// The audit format's bytes and hashes (docs/audit-format.md §1, §3, §7), with WebCrypto
// and nothing else: no DOM, so the same module is checked against tests/vectors in Node.

export function fromHex(hex) {
  const s = String(hex).trim().toLowerCase();
  if (s.length % 2 !== 0 || !/^[0-9a-f]*$/.test(s)) throw new Error(`not hex: ${s.slice(0, 16)}…`);
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return out;
}

export function toHex(bytes) {
  return [...new Uint8Array(bytes)].map(b => b.toString(16).padStart(2, '0')).join('');
}

export function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

export async function sha256(bytes) { return new Uint8Array(await crypto.subtle.digest('SHA-256', bytes)); }


/// §7.1: a leaf is SHA-256(0x00 ‖ hash(envelope)), hash(envelope) = SHA-256(canonical bytes).
export async function leafOf(canonical) { return sha256(concat(Uint8Array.of(0), await sha256(canonical))); }

const node = (left, right) => sha256(concat(Uint8Array.of(1), left, right));

/// RFC 9162 §2.1.3.2: the root an inclusion path leads to, or null when the path's
/// shape does not fit the leaf index and tree size.
export async function rootFromPath(leafIndex, treeSize, leaf, path) {
  if (leafIndex >= treeSize) return null;
  let fn = BigInt(leafIndex);
  let sn = BigInt(treeSize) - 1n;
  let r = leaf;
  for (const p of path) {
    if (sn === 0n) return null;
    if ((fn & 1n) === 1n || fn === sn) {
      r = await node(p, r);
      if ((fn & 1n) === 0n) while ((fn & 1n) === 0n && fn !== 0n) { fn >>= 1n; sn >>= 1n; }
    } else {
      r = await node(r, p);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  return sn === 0n ? r : null;
}

function uuidBytes(uuid) { return fromHex(String(uuid).replaceAll('-', '')); }

function str16(text) {
  const bytes = new TextEncoder().encode(text);
  const len = new Uint8Array(2);
  new DataView(len.buffer).setUint16(0, bytes.length);
  return concat(len, bytes);
}

/// §7.2's tree_head_bytes, rebuilt from the head's fields.
export function treeHeadBytes(partnerId, head) {
  const size = new Uint8Array(8);
  new DataView(size.buffer).setBigUint64(0, BigInt(head.treeSize));
  const stamp = new Uint8Array(8);
  new DataView(stamp.buffer).setBigInt64(0, BigInt(head.timestampMs));
  return concat(new TextEncoder().encode('LARASTH1'), uuidBytes(partnerId), size, fromHex(head.rootHash), stamp, str16(head.keyId));
}

/// §3: `ed25519:` ‖ hex(SHA-256(public key)[0..8]).
export async function keyIdOf(publicKey) { return `ed25519:${toHex((await sha256(publicKey)).slice(0, 8))}`; }

/// WebCrypto's Ed25519 (RFC 8032 verification; every signature Laras makes passes it).
export async function ed25519(publicKey, signature, message) {
  const key = await crypto.subtle.importKey('raw', publicKey, { name: 'Ed25519' }, false, ['verify']);
  return crypto.subtle.verify({ name: 'Ed25519' }, key, signature, message);
}

