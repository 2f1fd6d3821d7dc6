//! The graphql-transport-ws protocol's messages and close codes, as written in
//! `graphql-ws`'s PROTOCOL.md: the only websocket subprotocol `/graphql` speaks.

use serde::Deserialize;
use serde_json::{json, Value};

/// The subprotocol a client must ask for in `Sec-WebSocket-Protocol`.
pub const SUBPROTOCOL: &str = "graphql-transport-ws";

/// A message from the client.
#[derive(Debug, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientMessage {
    ConnectionInit {
        #[serde(default)]
        payload: Option<Value>,
    },
    Ping {
        #[serde(default)]
        payload: Option<Value>,
    },
    Pong {
        #[serde(default)]
        payload: Option<Value>,
    },
    Subscribe {
        id: String,
        payload: SubscribePayload,
    },
    Complete {
        id: String,
    },
}

/// A `subscribe` message's operation.
#[derive(Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SubscribePayload {
    pub query: String,
    #[serde(default)]
    pub operation_name: Option<String>,
    #[serde(default)]
    pub variables: Option<Value>,
    #[serde(default)]
    pub extensions: Option<Value>,
}

impl ClientMessage {
    /// Reads one text frame; the error is the reason a 4400 close gives.
    pub fn parse(text: &str) -> Result<Self, String> {
        let value: Value = serde_json::from_str(text).map_err(|e| format!("Invalid message: {e}"))?;
        // serde would also read a variant from an array; the protocol sends objects only.
        if !value.is_object() {
            return Err("Invalid message: not a JSON object".to_owned());
        }
        serde_json::from_value(value).map_err(|e| format!("Invalid message: {e}"))
    }
}

/// Why the server closes a connection: the protocol's codes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Close {
    /// 4400: a message that is not one of the protocol's.
    BadRequest(String),
    /// 4401: `subscribe` before the connection was acknowledged.
    Unauthorized,
    /// 4403: the key was refused at `connection_init`, or revoked since.
    Forbidden,
    /// 4406: the client did not ask for graphql-transport-ws.
    SubprotocolNotAcceptable,
    /// 4408: no `connection_init` within the wait.
    InitTimeout,
    /// 4409: an operation id already in flight.
    SubscriberExists(String),
    /// 4429: a second `connection_init`.
    TooManyInits,
    /// 1011: the server failed.
    Internal,
}

/// RFC 6455 §5.5: a control frame's payload is at most 125 bytes, two of which are the code.
pub const MAX_REASON_BYTES: usize = 123;

impl Close {
    pub fn code(&self) -> u16 {
        match self {
            Self::BadRequest(_) => 4400,
            Self::Unauthorized => 4401,
            Self::Forbidden => 4403,
            Self::SubprotocolNotAcceptable => 4406,
            Self::InitTimeout => 4408,
            Self::SubscriberExists(_) => 4409,
            Self::TooManyInits => 4429,
            Self::Internal => 1011,
        }
    }

    /// The reason, cut on a character boundary to fit a close frame.
    pub fn reason(&self) -> String {
        let reason = match self {
            Self::BadRequest(why) => why.clone(),
            Self::Unauthorized => "Unauthorized".to_owned(),
            Self::Forbidden => "Forbidden".to_owned(),
            Self::SubprotocolNotAcceptable => "Subprotocol not acceptable".to_owned(),
            Self::InitTimeout => "Connection initialisation timeout".to_owned(),
            Self::SubscriberExists(id) => format!("Subscriber for {id} already exists"),
            Self::TooManyInits => "Too many initialisation requests".to_owned(),
            Self::Internal => "Internal server error".to_owned(),
        };
        truncate(reason, MAX_REASON_BYTES)
    }
}

fn truncate(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut cut = max;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    text
}

pub fn connection_ack() -> String {
    json!({ "type": "connection_ack" }).to_string()
}

pub fn pong() -> String {
    json!({ "type": "pong" }).to_string()
}

pub fn next(id: &str, payload: Value) -> String {
    json!({ "type": "next", "id": id, "payload": payload }).to_string()
}

/// Errors that ended an operation before it ran (parse, validation, cost, limits).
pub fn error(id: &str, errors: Value) -> String {
    json!({ "type": "error", "id": id, "payload": errors }).to_string()
}

pub fn complete(id: &str) -> String {
    json!({ "type": "complete", "id": id }).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_protocol_messages_parse_and_anything_else_is_a_bad_request() {
        assert_eq!(
            ClientMessage::parse(r#"{"type":"connection_init","payload":{"Authorization":"Bearer k"}}"#),
            Ok(ClientMessage::ConnectionInit { payload: Some(json!({"Authorization": "Bearer k"})) })
        );
        assert_eq!(ClientMessage::parse(r#"{"type":"ping"}"#), Ok(ClientMessage::Ping { payload: None }));
        let subscribe = ClientMessage::parse(
            r#"{"id":"1","type":"subscribe","payload":{"query":"{ a }","operationName":null,"variables":{"x":1}}}"#,
        );
        assert!(matches!(subscribe, Ok(ClientMessage::Subscribe { ref id, .. }) if id == "1"));
        assert_eq!(
            ClientMessage::parse(r#"{"id":"1","type":"complete"}"#),
            Ok(ClientMessage::Complete { id: "1".into() })
        );
        for bad in [
            "",
            "not json",
            r#"{"type":"start","id":"1"}"#,
            r#"{"type":"subscribe","payload":{"query":"{a}"}}"#,
            r#"{"type":"subscribe","id":"1"}"#,
            r#"{"type":"complete"}"#,
            r#"{"type":"connection_init","extra":1}"#,
            r#"["connection_init"]"#,
        ] {
            assert!(ClientMessage::parse(bad).is_err(), "{bad:?} is not a protocol message");
        }
    }

    #[test]
    fn close_codes_follow_the_protocol() {
        assert_eq!(Close::BadRequest("x".into()).code(), 4400);
        assert_eq!(Close::Unauthorized.code(), 4401);
        assert_eq!(Close::Forbidden.code(), 4403);
        assert_eq!(Close::SubprotocolNotAcceptable.code(), 4406);
        assert_eq!(Close::InitTimeout.code(), 4408);
        assert_eq!(Close::SubscriberExists("1".into()).code(), 4409);
        assert_eq!(Close::TooManyInits.code(), 4429);
    }

    proptest! {
        #[test]
        fn a_close_reason_always_fits_a_control_frame(why in ".{0,400}", id in ".{0,400}") {
            for close in [Close::BadRequest(why.clone()), Close::SubscriberExists(id.clone())] {
                let reason = close.reason();
                prop_assert!(reason.len() <= MAX_REASON_BYTES);
                prop_assert!(why.starts_with(&reason) || reason.starts_with("Subscriber for "));
            }
        }
    }
}
