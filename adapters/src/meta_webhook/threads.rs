//! Threads reply webhooks: `{ "target_id", "values": { "field": "replies", "value": {…} } }`.

use super::json::{label, object, text};
use super::signal::{Signal, Skip, WebhookBatch};
use laras_commands::handlers::inbound::{IncomingComment, SenderIdentity};
use laras_domain::blind::IdentityKind;
use laras_domain::channel::ChannelKind;
use laras_domain::time::Timestamp;
use serde_json::Value;

/// Reads a Threads delivery: `values` is one `{field, value}` object (as documented) or a
/// list of them (as other Meta webhooks batch), each read on its own.
pub(super) fn read(delivery: &Value, received_at: Timestamp, out: &mut WebhookBatch) {
    let target = text(delivery, "target_id");
    let values: Vec<&Value> = match delivery.get("values") {
        Some(Value::Array(items)) => items.iter().collect(),
        Some(one) => vec![one],
        None => vec![],
    };
    for (i, v) in values.into_iter().enumerate() {
        let field = text(v, "field").unwrap_or_default();
        let outcome = match field.as_str() {
            "replies" | "mentions" => {
                comment(target.as_deref(), &field, v.get("value").unwrap_or(&Value::Null), received_at).map(|c| vec![c])
            }
            other => Err(Skip::Ignored(format!("threads field {:?}", label(other)))),
        };
        out.item("threads value", target.as_deref(), || format!("value {i}"), outcome);
    }
}

/// A reply under one of the Partner's posts, or a post that mentions the Partner: both are
/// public comments, the first on the root post, the second on the mentioning post itself.
fn comment(target: Option<&str>, field: &str, r: &Value, received_at: Timestamp) -> Result<Signal, Skip> {
    if !r.is_object() {
        return Err("value is not an object".into());
    }
    let id = text(r, "id").ok_or("no post id")?;
    let username = text(r, "username").ok_or("no author username")?;
    let root = object(r, "root_post");
    let (post, parent) = if field == "mentions" {
        (root.and_then(|p| text(p, "id")).unwrap_or_else(|| id.clone()), None)
    } else {
        let post = root.and_then(|p| text(p, "id")).ok_or("reply without a root post")?;
        (post, object(r, "replied_to").and_then(|p| text(p, "id")))
    };
    let account =
        target.map(str::to_owned).or_else(|| root.and_then(|p| text(p, "owner_id"))).ok_or("no receiving account")?;
    let sent_at = text(r, "timestamp").as_deref().and_then(parse_meta_time).unwrap_or(received_at);
    Ok(Signal::Comment(IncomingComment {
        channel: ChannelKind::Threads,
        account_id: account,
        sender: SenderIdentity { kind: IdentityKind::Username, value: username.clone(), name: Some(username) },
        post_id: post,
        comment_id: id,
        parent_id: parent,
        text: text(r, "text").unwrap_or_default(),
        sent_at,
    }))
}

/// Parses Meta's `2024-08-07T10:33:16+0000` (UTC offsets `+hhmm`) into a timestamp; a
/// field out of its range (month 13, hour 24, year 10000) reads as no time at all.
pub(super) fn parse_meta_time(text: &str) -> Option<Timestamp> {
    let (date, rest) = text.split_once('T')?;
    let number = |part: Option<&str>, range: std::ops::RangeInclusive<i64>| {
        let part = part?;
        let n = part.parse::<i64>().ok().filter(|n| range.contains(n))?;
        part.bytes().all(|b| b.is_ascii_digit()).then_some(n)
    };
    let mut d = date.split('-');
    let (y, m, day) = (number(d.next(), 0..=9999)?, number(d.next(), 1..=12)?, number(d.next(), 1..=31)?);
    let mut t = rest.get(..8)?.split(':');
    let (hh, mm, ss) = (number(t.next(), 0..=23)?, number(t.next(), 0..=59)?, number(t.next(), 0..=60)?);
    let offset_s = match rest.get(8..)? {
        "" | "Z" => 0,
        o if o.len() == 5 => {
            let sign = match o.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            sign * (number(o.get(1..3), 0..=23)? * 3600 + number(o.get(3..5), 0..=59)? * 60)
        }
        _ => return None,
    };
    // Days from civil (Howard Hinnant); every field is in range, so nothing overflows.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(Timestamp::from_seconds(days * 86_400 + hh * 3600 + mm * 60 + ss - offset_s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_times_parse_with_their_offset() {
        assert_eq!(parse_meta_time("2024-08-07T10:33:16+0000"), Some(Timestamp::from_seconds(1_723_026_796)));
        assert_eq!(parse_meta_time("2024-08-07T17:33:16+0700"), Some(Timestamp::from_seconds(1_723_026_796)));
        assert_eq!(parse_meta_time("yesterday"), None);
    }

    #[test]
    fn out_of_range_fields_and_broken_offsets_read_as_no_time() {
        for text in [
            "2024-13-07T10:33:16+0000",
            "2024-08-07T24:33:16+0000",
            "99999999999999-08-07T10:33:16+0000",
            "2024-08-9223372036854775807T10:33:16+0000",
            "2024-08-07T10:33:16\u{e9}000",
            "2024-08-07T10:33:16+\u{e9}00",
            "2024-08-07T10:33:16x0700",
            "2024-08-07T10:33:16+-100",
            "2024-08-07T10:33:1\u{e9}",
        ] {
            assert_eq!(parse_meta_time(text), None, "{text:?}");
        }
    }
}
