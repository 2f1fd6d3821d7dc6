use super::*;
use crate::ids::DataKeyId;
use crate::sealed::SecretKey;
use proptest::prelude::*;
use rand::{rngs::StdRng, SeedableRng};
use uuid::Uuid;

fn png(width: u32, height: u32) -> Vec<u8> {
    let mut b = b"\x89PNG\r\n\x1A\n\0\0\0\x0DIHDR".to_vec();
    b.extend_from_slice(&width.to_be_bytes());
    b.extend_from_slice(&height.to_be_bytes());
    b.extend_from_slice(&[8, 6, 0, 0, 0]);
    b
}

fn jpeg(width: u16, height: u16) -> Vec<u8> {
    let mut b = vec![0xFF, 0xD8, 0xFF, 0xE0, 0, 4, b'J', b'F'];
    b.extend_from_slice(&[0xFF, 0xC0, 0, 11, 8]);
    b.extend_from_slice(&height.to_be_bytes());
    b.extend_from_slice(&width.to_be_bytes());
    b.extend_from_slice(&[1, 1, 0x11, 0]);
    b
}

/// An Ogg Opus file's first page (with `OpusHead`) and a last page at `granule`.
fn ogg_opus(pre_skip: u16, granule: u64) -> Vec<u8> {
    let mut b = b"OggS\0\x02".to_vec();
    b.extend_from_slice(&[0; 22]);
    b.extend_from_slice(b"OpusHead\x01\x01");
    b.extend_from_slice(&pre_skip.to_le_bytes());
    b.extend_from_slice(&[0; 40]);
    b.extend_from_slice(b"OggS\0\x04");
    b.extend_from_slice(&granule.to_le_bytes());
    b.extend_from_slice(&[0; 20]);
    b
}

fn mp4(timescale: u32, duration: u32) -> Vec<u8> {
    let mut b = vec![0, 0, 0, 16];
    b.extend_from_slice(b"ftypisom\0\0\0\0");
    let mut mvhd = vec![0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    mvhd.extend_from_slice(&timescale.to_be_bytes());
    mvhd.extend_from_slice(&duration.to_be_bytes());
    let mvhd_box = [&((8 + mvhd.len()) as u32).to_be_bytes()[..], b"mvhd", &mvhd].concat();
    b.extend_from_slice(&((8 + mvhd_box.len()) as u32).to_be_bytes());
    b.extend_from_slice(b"moov");
    b.extend_from_slice(&mvhd_box);
    b
}

#[test]
fn magic_numbers_name_the_common_types() {
    assert_eq!(sniff(&png(1, 1)), Some("image/png"));
    assert_eq!(sniff(&jpeg(1, 1)), Some("image/jpeg"));
    assert_eq!(sniff(b"GIF89a\x01\0\x01\0"), Some("image/gif"));
    assert_eq!(sniff(b"RIFF\0\0\0\0WEBPVP8 "), Some("image/webp"));
    assert_eq!(sniff(&ogg_opus(0, 0)), Some("audio/ogg"));
    assert_eq!(sniff(b"#!AMR\n"), Some("audio/amr"));
    assert_eq!(sniff(&mp4(1, 1)), Some("video/mp4"));
    assert_eq!(sniff(b"\0\0\0\x18ftyp3gp4"), Some("video/3gpp"));
    assert_eq!(sniff(b"%PDF-1.7"), Some("application/pdf"));
    assert_eq!(sniff(b"PK\x03\x04"), Some("application/zip"));
    assert_eq!(sniff(b"hello, plain text"), None);
}

#[test]
fn a_declared_type_the_bytes_agree_with_is_kept_without_parameters() {
    let v = check_type(Some("audio/ogg; codecs=opus"), &ogg_opus(312, 48_000));
    assert_eq!(v, TypeVerdict::Verified("audio/ogg".into()));
    let docx = "application/vnd.openxmlformats-officedocument.wordprocessingml.document";
    assert_eq!(check_type(Some(docx), b"PK\x03\x04rest"), TypeVerdict::Verified(docx.into()));
    assert_eq!(check_type(Some("text/csv"), b"a,b\n1,2\n"), TypeVerdict::Verified("text/csv".into()));
    assert_eq!(check_type(None, &png(2, 2)), TypeVerdict::Verified("image/png".into()));
    assert_eq!(check_type(None, b"???"), TypeVerdict::Verified("application/octet-stream".into()));
}

#[test]
fn a_declared_type_the_bytes_contradict_is_a_mismatch() {
    assert_eq!(check_type(Some("image/jpeg"), &png(1, 1)), TypeVerdict::Mismatch);
    assert_eq!(check_type(Some("image/jpeg"), b"<html><script>"), TypeVerdict::Mismatch);
    assert_eq!(check_type(Some("application/pdf"), b"PK\x03\x04"), TypeVerdict::Mismatch);
    assert_eq!(check_type(Some("text/plain"), &jpeg(1, 1)), TypeVerdict::Mismatch);
}

#[test]
fn a_kind_admits_only_types_of_its_own() {
    assert!(MediaKind::Image.admits("image/jpeg"));
    assert!(!MediaKind::Image.admits("image/svg+xml"));
    assert!(!MediaKind::Image.admits("application/pdf"));
    assert!(MediaKind::Audio.admits("audio/ogg"));
    assert!(!MediaKind::Audio.admits("video/mp4"));
    assert!(MediaKind::Sticker.admits("image/webp"));
    assert!(MediaKind::Document.admits("application/pdf"));
    assert_eq!(MediaKind::Image.whatsapp_limit(), 5 * 1024 * 1024);
}

#[test]
fn dimensions_and_durations_are_read_where_cheap() {
    assert_eq!(probe("image/png", &png(640, 480)), Probe { width: Some(640), height: Some(480), duration_ms: None });
    assert_eq!(probe("image/jpeg", &jpeg(1024, 768)).width, Some(1024));
    assert_eq!(probe("image/jpeg", &jpeg(1024, 768)).height, Some(768));
    assert_eq!(probe("image/gif", b"GIF89a\x20\0\x10\0").width, Some(32));
    // 2.5 s at 48 kHz, after a 312-sample pre-skip.
    assert_eq!(probe("audio/ogg", &ogg_opus(312, 120_000 + 312)).duration_ms, Some(2_500));
    assert_eq!(probe("video/mp4", &mp4(1_000, 4_200)).duration_ms, Some(4_200));
    assert_eq!(probe("application/pdf", b"%PDF-1.7"), Probe::default());
    // Cut-off headers give nothing rather than a guess.
    assert_eq!(probe("image/png", &png(640, 480)[..18]), Probe::default());
    assert_eq!(probe("image/jpeg", &[0xFF, 0xD8, 0xFF, 0xC0, 0]), Probe::default());
}

fn key() -> (DataKeyId, SecretKey) {
    (DataKeyId(Uuid::from_u128(5)), SecretKey::from_bytes([7; 32]))
}

#[test]
fn a_sealed_file_opens_only_with_its_key_and_only_whole() {
    let (id, k) = key();
    let plain: Vec<u8> = (0..200_000u32).map(|i| i as u8).collect();
    let blob = seal_blob(id, &k, &plain, &mut StdRng::seed_from_u64(1));
    assert_eq!(BlobHeader::parse(&blob).map(|h| (h.key, h.len)), Ok((id, 200_000)));
    assert_eq!(open_blob(&blob, &k).as_deref(), Ok(&plain[..]));
    assert_eq!(open_blob(&blob, &SecretKey::from_bytes([8; 32])), Err(BlobError::Unopenable));
    assert_eq!(open_blob(&blob[..blob.len() - 1], &k), Err(BlobError::Unopenable));
    let mut flipped = blob.clone();
    flipped[BlobHeader::LEN + 70_000] ^= 1;
    assert_eq!(open_blob(&flipped, &k), Err(BlobError::Unopenable));
    let mut relabelled = blob.clone();
    relabelled[40] ^= 1; // the length
    assert!(open_blob(&relabelled, &k).is_err());
    assert!(!blob.windows(16).any(|w| w == &plain[1000..1016]));
}

#[test]
fn an_empty_file_seals_and_opens() {
    let (id, k) = key();
    let blob = seal_blob(id, &k, b"", &mut StdRng::seed_from_u64(2));
    assert_eq!(open_blob(&blob, &k), Ok(vec![]));
    assert_eq!(open_blob_range(&blob, &k, 0..1), Err(BlobError::OutOfRange));
}

proptest! {
    #[test]
    fn any_range_opens_to_the_same_bytes(len in 1usize..300_000, a in any::<u64>(), b in any::<u64>()) {
        let (id, k) = key();
        let plain: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
        let blob = seal_blob(id, &k, &plain, &mut StdRng::seed_from_u64(3));
        let (x, y) = (a % len as u64, b % len as u64);
        let range = x.min(y)..x.max(y) + 1;
        let opened = open_blob_range(&blob, &k, range.clone()).unwrap();
        prop_assert_eq!(&opened[..], &plain[range.start as usize..range.end as usize]);
    }
}

#[test]
fn a_file_is_kept_only_when_every_check_passes() {
    use crate::event::MediaUnavailableReason as Why;
    use base64::Engine;
    use sha2::Digest;
    let photo = jpeg(800, 600);
    let digest: [u8; 32] = sha2::Sha256::digest(&photo).into();
    let b64 = base64::engine::general_purpose::STANDARD.encode(digest);
    let checked = check_file(MediaKind::Image, Some("image/jpeg"), Some(&b64), 1_000, &photo).unwrap();
    assert_eq!(
        (checked.size, checked.mime.as_str(), checked.probe.width),
        (photo.len() as u64, "image/jpeg", Some(800))
    );
    assert_eq!(
        check_file(MediaKind::Image, None, Some(&hex::encode(digest)), 1_000, &photo).map(|c| c.sha256),
        Ok(digest)
    );
    assert_eq!(check_file(MediaKind::Image, None, None, 10, &photo), Err(Why::TooLarge { limit: 10 }));
    assert_eq!(check_file(MediaKind::Image, None, Some(&"00".repeat(32)), 1_000, &photo), Err(Why::HashMismatch));
    assert_eq!(check_file(MediaKind::Image, None, Some("not a hash"), 1_000, &photo), Err(Why::HashMismatch));
    assert_eq!(check_file(MediaKind::Image, Some("image/png"), None, 1_000, &photo), Err(Why::TypeMismatch));
    assert_eq!(check_file(MediaKind::Audio, None, None, 1_000, &photo), Err(Why::TypeMismatch));
    assert_eq!(check_file(MediaKind::Image, None, None, 1_000, b""), Err(Why::Truncated));
}
