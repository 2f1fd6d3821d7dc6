//! Dimensions and durations that the first or last few bytes of a file give away.
//! Anything harder (decoding frames, walking every page) is left out: absent, not guessed.

/// What was measured; every field is absent when it is not cheap to know.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct Probe {
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub duration_ms: Option<u64>,
}

/// Measures a file of the (verified) type `mime`.
pub fn probe(mime: &str, bytes: &[u8]) -> Probe {
    let size = match mime {
        "image/png" => png(bytes),
        "image/gif" => gif(bytes),
        "image/jpeg" => jpeg(bytes),
        "image/webp" => webp(bytes),
        _ => None,
    };
    let duration_ms = match mime {
        "audio/ogg" | "audio/opus" => ogg_opus(bytes),
        m if is_iso_media(m) => mp4(bytes),
        _ => None,
    };
    Probe { width: size.map(|s| s.0), height: size.map(|s| s.1), duration_ms }
}

fn is_iso_media(mime: &str) -> bool {
    matches!(mime, "video/mp4" | "audio/mp4" | "video/3gpp" | "audio/3gpp" | "video/quicktime" | "audio/aac")
}

fn be16(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from(u16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?)))
}
fn le16(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?)))
}
fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}
fn le24(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at + 3)?;
    Some(u32::from(s[0]) | (u32::from(s[1]) << 8) | (u32::from(s[2]) << 16))
}
fn be64(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_be_bytes(b.get(at..at + 8)?.try_into().ok()?))
}
fn le64(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

fn nonzero(w: u32, h: u32) -> Option<(u32, u32)> {
    (w > 0 && h > 0).then_some((w, h))
}

fn png(b: &[u8]) -> Option<(u32, u32)> {
    (b.get(12..16)? == b"IHDR").then_some(())?;
    nonzero(be32(b, 16)?, be32(b, 20)?)
}

fn gif(b: &[u8]) -> Option<(u32, u32)> {
    nonzero(le16(b, 6)?, le16(b, 8)?)
}

/// Walks the JPEG segments to the first start-of-frame marker.
fn jpeg(b: &[u8]) -> Option<(u32, u32)> {
    let mut at = 2;
    while at + 4 <= b.len() {
        if b[at] != 0xFF {
            return None;
        }
        let marker = b[at + 1];
        if marker == 0xFF {
            at += 1;
            continue;
        }
        let len = be16(b, at + 2)? as usize;
        let is_sof = matches!(marker, 0xC0..=0xCF) && !matches!(marker, 0xC4 | 0xC8 | 0xCC);
        if is_sof {
            return nonzero(be16(b, at + 7)?, be16(b, at + 5)?);
        }
        if len < 2 {
            return None;
        }
        at += 2 + len;
    }
    None
}

fn webp(b: &[u8]) -> Option<(u32, u32)> {
    match b.get(12..16)? {
        b"VP8 " => nonzero(le16(b, 26)? & 0x3FFF, le16(b, 28)? & 0x3FFF),
        b"VP8L" => {
            let bits = u32::from_le_bytes(b.get(21..25)?.try_into().ok()?);
            nonzero((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1)
        }
        b"VP8X" => nonzero(le24(b, 24)? + 1, le24(b, 27)? + 1),
        _ => None,
    }
}

/// Opus in Ogg: the last page's granule position (48 kHz samples) less the pre-skip.
fn ogg_opus(b: &[u8]) -> Option<u64> {
    // The identification header is in the first page: "OpusHead", then version, channels, pre-skip.
    let head = b.windows(8).take(512).position(|w| w == b"OpusHead")?;
    let pre_skip = u64::from(le16(b, head + 10)?);
    let tail_from = b.len().saturating_sub(64 * 1024);
    let last = b[tail_from..].windows(4).rposition(|w| w == b"OggS")? + tail_from;
    let granule = le64(b, last + 6)?;
    (granule != u64::MAX).then(|| granule.saturating_sub(pre_skip) * 1000 / 48_000)
}

/// ISO base media: `moov` → `mvhd` gives a timescale and a duration.
fn mp4(b: &[u8]) -> Option<u64> {
    let moov = find_box(b, b"moov")?;
    let mvhd = find_box(moov, b"mvhd")?;
    let (timescale, duration) = match mvhd.first()? {
        0 => (u64::from(be32(mvhd, 12)?), u64::from(be32(mvhd, 16)?)),
        1 => (u64::from(be32(mvhd, 20)?), be64(mvhd, 24)?),
        _ => return None,
    };
    (timescale > 0).then(|| duration.saturating_mul(1000) / timescale)
}

/// The body of the first box of type `kind` among the boxes that fill `b`.
fn find_box<'a>(b: &'a [u8], kind: &[u8; 4]) -> Option<&'a [u8]> {
    let mut at = 0usize;
    while at + 8 <= b.len() {
        let size = be32(b, at)? as usize;
        let (header, size) = match size {
            1 => (16, usize::try_from(be64(b, at + 8)?).ok()?),
            0 => (8, b.len() - at),
            s => (8, s),
        };
        if size < header {
            return None;
        }
        let end = at.checked_add(size)?.min(b.len());
        if &b[at + 4..at + 8] == kind {
            return b.get(at + header..end);
        }
        at = at.checked_add(size)?;
    }
    None
}
