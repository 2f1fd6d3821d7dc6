//! Cheap checks on the encodings inside an Ed25519 signature and public key.
//!
//! The equation that batch verification checks (cofactored, ZIP 215) holds for a
//! small-order `R` or key and does not care how a point is encoded; the audit format
//! refuses both (docs/audit-format.md §3, rules 1 and 2). These byte comparisons do
//! that before a signature enters a batch, without decompressing a point:
//! - a point's `y` (its 255 low bits) must be below p = 2^255 − 19 (canonical);
//! - `y` must not be one of the five values that the eight points of small order take
//!   (0, 1, p − 1 and the two order-8 values), whatever the sign bit;
//! - `S` must be below the group order L.

/// The little-endian `y` of the points of small order (sign bit clear).
const SMALL_ORDER_Y: [[u8; 32]; 5] = [
    // 0: the two points of order 4.
    [0; 32],
    // 1: the identity.
    [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    // p − 1: the point of order 2.
    [
        0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f,
    ],
    // The two values of the four points of order 8 (each other's negation mod p).
    [
        0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98, 0xf0, 0xd5, 0xdf,
        0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53, 0xfc, 0x05,
    ],
    [
        0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67, 0x0f, 0x2a, 0x20,
        0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac, 0x03, 0x7a,
    ],
];

/// p = 2^255 − 19, little-endian.
const P: [u8; 32] = [
    0xed, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f,
];

/// L = 2^252 + 27742317777372353535851937790883648493, little-endian.
const L: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
];

/// `a < b` for little-endian 256-bit numbers.
fn below(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().rev().cmp(b.iter().rev()) == std::cmp::Ordering::Less
}

/// Whether `encoded` is a canonical encoding of a point that is not of small order (the
/// encoding rules for `A` and `R`; whether it is on the curve at all is left to the
/// verification, which decompresses it).
pub fn is_strict_point(encoded: &[u8; 32]) -> bool {
    let mut y = *encoded;
    y[31] &= 0x7f;
    below(&y, &P) && !SMALL_ORDER_Y.contains(&y)
}

/// Whether a signature's `R` is strict (see [`is_strict_point`]) and its `S` is below L.
pub fn has_strict_encoding(signature: &[u8; 64]) -> bool {
    let (r, s) = signature.split_at(32);
    let (Ok(r), Ok(s)) = (<&[u8; 32]>::try_from(r), <&[u8; 32]>::try_from(s)) else { return false };
    is_strict_point(r) && below(s, &L)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signing::LedgerSigningKey;
    use curve25519_dalek::constants::EIGHT_TORSION;
    use curve25519_dalek::edwards::CompressedEdwardsY;
    use proptest::prelude::*;

    #[test]
    fn every_point_of_small_order_is_refused_with_either_sign_bit() {
        for point in EIGHT_TORSION {
            let mut encoded = point.compress().to_bytes();
            assert!(!is_strict_point(&encoded), "{}", hex::encode(encoded));
            encoded[31] ^= 0x80;
            assert!(!is_strict_point(&encoded), "{}", hex::encode(encoded));
        }
    }

    #[test]
    fn an_encoding_of_y_at_or_above_p_is_refused() {
        // p + 2 decompresses to the same point as y = 2 would, but is not its encoding.
        let mut y = P;
        y[0] += 2;
        assert!(!is_strict_point(&y));
        assert!(!is_strict_point(&P));
        let mut below_p = P;
        below_p[0] -= 3;
        assert!(below(&below_p, &P) && is_strict_point(&below_p));
    }

    #[test]
    fn an_s_at_or_above_the_group_order_is_refused() {
        let key = LedgerSigningKey::from_secret([5; 32]);
        let good = key.sign(b"m");
        assert!(has_strict_encoding(&good));
        let mut bad = good;
        bad[32..].copy_from_slice(&L);
        assert!(!has_strict_encoding(&bad));
    }

    proptest! {
        #[test]
        fn every_honest_signature_and_key_is_strict(secret in any::<[u8; 32]>(), message in any::<Vec<u8>>()) {
            let key = LedgerSigningKey::from_secret(secret);
            prop_assert!(is_strict_point(key.public().as_bytes()));
            prop_assert!(has_strict_encoding(&key.sign(&message)));
        }

        #[test]
        fn the_check_agrees_with_decompression_on_small_order(bytes in any::<[u8; 32]>()) {
            // Whenever the bytes decompress to a point of small order, the check refuses them.
            if let Some(point) = CompressedEdwardsY(bytes).decompress() {
                if point.is_small_order() {
                    prop_assert!(!is_strict_point(&bytes));
                }
            }
        }
    }
}
