//! `X-Hub-Signature-256`: `sha256=` + hex HMAC-SHA256 of the raw body with the app secret.

use hmac::{Hmac, Mac};
use sha2::Sha256;

#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone, Copy)]
pub enum SignatureError {
    #[error("the X-Hub-Signature-256 header is missing")]
    Missing,
    #[error("the X-Hub-Signature-256 header is not sha256=<64 hex digits>")]
    Malformed,
    #[error("the X-Hub-Signature-256 header does not match the body")]
    Mismatch,
}

/// Checks the signature over the raw body before anything is parsed (constant-time compare).
pub fn verify_signature(app_secret: &[u8], raw_body: &[u8], header: Option<&str>) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let hex_digest = header.trim().strip_prefix("sha256=").ok_or(SignatureError::Malformed)?;
    if hex_digest.len() != 64 {
        return Err(SignatureError::Malformed);
    }
    let expected = hex::decode(hex_digest).map_err(|_| SignatureError::Malformed)?;
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(app_secret).map_err(|_| SignatureError::Mismatch)?;
    mac.update(raw_body);
    mac.verify_slice(&expected).map_err(|_| SignatureError::Mismatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign(secret: &[u8], body: &[u8]) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).unwrap();
        mac.update(body);
        format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
    }

    #[test]
    fn a_good_signature_passes_in_either_case() {
        let header = sign(b"secret", b"{}");
        assert_eq!(verify_signature(b"secret", b"{}", Some(&header)), Ok(()));
        let upper = format!("sha256={}", header[7..].to_uppercase());
        assert_eq!(verify_signature(b"secret", b"{}", Some(&upper)), Ok(()));
    }

    #[test]
    fn missing_malformed_and_wrong_signatures_are_told_apart() {
        assert_eq!(verify_signature(b"s", b"{}", None), Err(SignatureError::Missing));
        assert_eq!(verify_signature(b"s", b"{}", Some("sha1=abc")), Err(SignatureError::Malformed));
        assert_eq!(
            verify_signature(b"s", b"{}", Some(&format!("sha256={}", "zz".repeat(32)))),
            Err(SignatureError::Malformed)
        );
        let other = sign(b"other", b"{}");
        assert_eq!(verify_signature(b"s", b"{}", Some(&other)), Err(SignatureError::Mismatch));
        let tampered = sign(b"s", b"{} ");
        assert_eq!(verify_signature(b"s", b"{}", Some(&tampered)), Err(SignatureError::Mismatch));
    }
}
