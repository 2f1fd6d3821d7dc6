//! Lenient reads of Meta's JSON: the shapes seen in the field differ from the documented
//! ones (numbers sent as strings, ids sent as numbers, optional objects missing or null),
//! so each item is read field by field and a field of an unexpected type reads as absent.

use laras_domain::time::Timestamp;
use serde_json::Value;

/// A non-empty string field; a number is read as its decimal text (ids sometimes come as numbers).
pub(super) fn text(v: &Value, key: &str) -> Option<String> {
    match v.get(key)? {
        Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// An integer field, given as a JSON number or as a numeric string.
pub(super) fn int(v: &Value, key: &str) -> Option<i64> {
    match v.get(key)? {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().filter(|f| f.is_finite()).map(|f| f as i64)),
        Value::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    }
}

/// A boolean field, given as `true`/`false` or as the strings `"true"`/`"false"`.
pub(super) fn flag(v: &Value, key: &str) -> bool {
    match v.get(key) {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

/// An object field; anything else (missing, null, a string) reads as absent.
pub(super) fn object<'v>(v: &'v Value, key: &str) -> Option<&'v Value> {
    v.get(key).filter(|o| o.is_object())
}

/// An array field; anything else reads as empty.
pub(super) fn list<'v>(v: &'v Value, key: &str) -> &'v [Value] {
    match v.get(key) {
        Some(Value::Array(items)) => items,
        _ => &[],
    }
}

/// Meta's epoch times: WhatsApp sends seconds, Messenger milliseconds, and some documented
/// examples (a postback's `timestamp`) seconds where milliseconds are specified. A value
/// below 10^11 cannot be milliseconds of any time after March 1973, so it is read as seconds.
/// A time before 1970 or after 9999 is no time Meta sends: it reads as absent.
pub(super) fn epoch(raw: i64) -> Option<Timestamp> {
    if raw < 100_000_000_000 {
        epoch_seconds(raw)
    } else {
        Some(Timestamp::from_millis(raw)).filter(|t| t.millis() <= LAST_MILLIS)
    }
}

/// Epoch seconds (WhatsApp's times), absent outside 1970 to 9999.
pub(super) fn epoch_seconds(raw: i64) -> Option<Timestamp> {
    (0..=LAST_MILLIS / 1_000).contains(&raw).then_some(Timestamp::from_seconds(raw))
}

/// 9999-12-31T23:59:59.999Z.
const LAST_MILLIS: i64 = 253_402_300_799_999;

/// A bounded, printable label for logs (never content: callers pass kinds and field names).
pub(super) fn label(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_and_numeric_strings_read_alike() {
        let v = json!({"a": "1527459824", "b": 1527459824, "c": 1.5e3, "d": "x", "e": null, "f": 12});
        assert_eq!(int(&v, "a"), Some(1_527_459_824));
        assert_eq!(int(&v, "b"), Some(1_527_459_824));
        assert_eq!(int(&v, "c"), Some(1500));
        assert_eq!(int(&v, "d"), None);
        assert_eq!(int(&v, "e"), None);
        assert_eq!(text(&v, "f").as_deref(), Some("12"));
        assert_eq!(text(&v, "e"), None);
    }

    #[test]
    fn seconds_and_milliseconds_are_told_apart() {
        assert_eq!(epoch(1_527_459_824), Some(Timestamp(1_527_459_824_000)));
        assert_eq!(epoch(1_458_692_752_478), Some(Timestamp(1_458_692_752_478)));
    }

    #[test]
    fn times_before_1970_or_after_9999_read_as_absent() {
        for raw in [i64::MIN, -1, LAST_MILLIS + 1, i64::MAX] {
            assert_eq!(epoch(raw), None, "{raw}");
        }
        assert_eq!(epoch(0), Some(Timestamp(0)));
        assert_eq!(epoch(LAST_MILLIS), Some(Timestamp(LAST_MILLIS)));
        assert_eq!(epoch_seconds(-1), None);
        assert_eq!(epoch_seconds(i64::MAX), None);
        assert_eq!(epoch_seconds(LAST_MILLIS / 1_000), Some(Timestamp::from_seconds(253_402_300_799)));
    }
}
