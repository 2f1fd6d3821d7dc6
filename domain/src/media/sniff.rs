//! A file's type from its first bytes, and whether the type a platform declared agrees.

/// The MIME type the magic numbers at the start of `bytes` name, if they are known.
pub fn sniff(bytes: &[u8]) -> Option<&'static str> {
    let starts = |magic: &[u8]| bytes.starts_with(magic);
    let at = |offset: usize, magic: &[u8]| bytes.get(offset..offset + magic.len()) == Some(magic);
    if starts(b"\xFF\xD8\xFF") {
        Some("image/jpeg")
    } else if starts(b"\x89PNG\r\n\x1A\n") {
        Some("image/png")
    } else if starts(b"GIF87a") || starts(b"GIF89a") {
        Some("image/gif")
    } else if starts(b"RIFF") && at(8, b"WEBP") {
        Some("image/webp")
    } else if starts(b"RIFF") && at(8, b"WAVE") {
        Some("audio/wav")
    } else if starts(b"OggS") {
        Some("audio/ogg")
    } else if starts(b"#!AMR") {
        Some("audio/amr")
    } else if starts(b"ID3") || (bytes.len() > 1 && bytes[0] == 0xFF && bytes[1] & 0xE0 == 0xE0 && bytes[1] & 0x06 != 0)
    {
        Some("audio/mpeg")
    } else if bytes.len() > 1 && bytes[0] == 0xFF && bytes[1] & 0xF6 == 0xF0 {
        Some("audio/aac")
    } else if at(4, b"ftyp") {
        Some(ftyp(bytes))
    } else if starts(b"\x1A\x45\xDF\xA3") {
        Some("video/webm")
    } else if starts(b"%PDF-") {
        Some("application/pdf")
    } else if starts(b"PK\x03\x04") {
        Some("application/zip")
    } else if starts(b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1") {
        Some("application/x-ole-storage")
    } else {
        None
    }
}

/// ISO base media files name their brand after `ftyp`.
fn ftyp(bytes: &[u8]) -> &'static str {
    match bytes.get(8..12) {
        Some(b"3gp4" | b"3gp5" | b"3gp6" | b"3gp7" | b"3gg6" | b"3ge6") => "video/3gpp",
        Some(b"M4A " | b"M4B ") => "audio/mp4",
        Some(b"qt  ") => "video/quicktime",
        _ => "video/mp4",
    }
}

/// Types whose files always carry magic numbers: declared without them, they are a lie.
const MAGIC_BEARING: &[&str] = &[
    "image/jpeg",
    "image/png",
    "image/gif",
    "image/webp",
    "audio/ogg",
    "audio/amr",
    "audio/mpeg",
    "audio/mp4",
    "video/mp4",
    "video/3gpp",
    "video/quicktime",
    "video/webm",
    "application/pdf",
];

/// Declared types that a sniffed container may legitimately carry.
fn compatible(declared: &str, sniffed: &str) -> bool {
    if declared == sniffed {
        return true;
    }
    match sniffed {
        // Office documents, APKs and the like are ZIP files; old Office files are OLE.
        "application/zip" => !MAGIC_BEARING.contains(&declared) && declared.starts_with("application/"),
        "application/x-ole-storage" => !MAGIC_BEARING.contains(&declared) && declared.starts_with("application/"),
        // The ISO base media family: the brand does not always say audio or video.
        "video/mp4" | "audio/mp4" | "video/3gpp" | "video/quicktime" => {
            matches!(
                declared,
                "video/mp4" | "audio/mp4" | "video/3gpp" | "audio/3gpp" | "video/quicktime" | "audio/aac"
            )
        }
        "audio/ogg" => matches!(declared, "audio/opus" | "video/ogg" | "application/ogg"),
        "audio/mpeg" => declared == "audio/mp3",
        "audio/aac" => declared == "audio/x-aac",
        "audio/wav" => matches!(declared, "audio/x-wav" | "audio/wave"),
        _ => false,
    }
}

/// What the bytes say about a declared type.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum TypeVerdict {
    /// The type to record: the declared one (without parameters) when the bytes agree,
    /// else what the bytes are.
    Verified(String),
    /// The bytes contradict the declared type.
    Mismatch,
}

/// Checks a declared MIME type (`None` when the platform gave none) against the bytes.
pub fn check_type(declared: Option<&str>, bytes: &[u8]) -> TypeVerdict {
    let declared = declared
        .map(|d| d.split(';').next().unwrap_or_default().trim().to_ascii_lowercase())
        .filter(|d| d.contains('/'));
    match (declared, sniff(bytes)) {
        (None, Some(sniffed)) => TypeVerdict::Verified(sniffed.to_owned()),
        (None, None) => TypeVerdict::Verified("application/octet-stream".to_owned()),
        (Some(d), Some(sniffed)) if compatible(&d, sniffed) => TypeVerdict::Verified(d),
        (Some(_), Some(_)) => TypeVerdict::Mismatch,
        (Some(d), None) if MAGIC_BEARING.contains(&d.as_str()) => TypeVerdict::Mismatch,
        // Text, CSV and other types without magic numbers: nothing contradicts them.
        (Some(d), None) => TypeVerdict::Verified(d),
    }
}
