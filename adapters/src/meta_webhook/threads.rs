//! Threads reply webhooks: `{ "target_id", "values": { "field": "replies", "value": {…} } }`.

use super::signal::{Ignored, Signal, WebhookBatch};
use laras_commands::handlers::inbound::{IncomingComment, SenderIdentity};
use laras_domain::blind::IdentityKind;
use laras_domain::channel::ChannelKind;
use laras_domain::time::Timestamp;
use serde::Deserialize;

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct Delivery {
    target_id: Option<String>,
    values: Values,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Values {
    field: String,
    value: Reply,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Reply {
    id: String,
    username: String,
    text: String,
    timestamp: Option<String>,
    replied_to: Option<Ref>,
    root_post: Option<RootPost>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Ref {
    id: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RootPost {
    id: String,
    owner_id: Option<String>,
}

pub(super) fn read(delivery: Delivery, received_at: Timestamp, out: &mut WebhookBatch) {
    if delivery.values.field != "replies" {
        out.ignored.push(Ignored {
            reason: format!("threads field {:?}", delivery.values.field.chars().take(40).collect::<String>()),
        });
        return;
    }
    let r = delivery.values.value;
    let root = r.root_post.unwrap_or_default();
    let account = delivery.target_id.filter(|t| !t.is_empty()).or(root.owner_id).unwrap_or_default();
    if r.id.is_empty() || r.username.is_empty() || root.id.is_empty() || account.is_empty() {
        out.ignored.push(Ignored { reason: "threads reply without id, author, root post or account".into() });
        return;
    }
    let sent_at = r.timestamp.as_deref().and_then(parse_meta_time).unwrap_or(received_at);
    out.signals.push(Signal::Comment(IncomingComment {
        channel: ChannelKind::Threads,
        account_id: account,
        sender: SenderIdentity { kind: IdentityKind::Username, value: r.username.clone(), name: Some(r.username) },
        post_id: root.id,
        comment_id: r.id,
        parent_id: r.replied_to.map(|p| p.id),
        text: r.text,
        sent_at,
    }));
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
