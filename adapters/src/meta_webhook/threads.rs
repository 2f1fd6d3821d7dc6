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

/// Parses Meta's `2024-08-07T10:33:16+0000` (UTC offsets `+hhmm`) into a timestamp.
pub(super) fn parse_meta_time(text: &str) -> Option<Timestamp> {
    let (date, rest) = text.split_once('T')?;
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let time = rest.get(..8)?;
    let mut t = time.split(':').map(|p| p.parse::<i64>().ok());
    let (hh, mm, ss) = (t.next()??, t.next()??, t.next()??);
    let offset = rest.get(8..).unwrap_or("");
    let offset_s = match offset {
        "" | "Z" => 0,
        o if o.len() == 5 => {
            let sign = if o.starts_with('-') { -1 } else { 1 };
            sign * (o[1..3].parse::<i64>().ok()? * 3600 + o[3..5].parse::<i64>().ok()? * 60)
        }
        _ => return None,
    };
    // Days from civil (Howard Hinnant).
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
}
