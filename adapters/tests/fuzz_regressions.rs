//! Inputs that once panicked a parser (found while building the fuzz targets of
//! `scripts/fuzz`, and replayed through them), kept so the normal suite covers them
//! without nightly: each now gives a typed outcome.

use laras_adapters::audit_bundle::format::{RecordError, RecordReader};
use laras_adapters::meta_webhook::{parse, Signal};
use laras_domain::time::Timestamp;

const RECEIVED: Timestamp = Timestamp(1_767_225_600_000);

/// `timestamp: i64::MIN` overflowed `abs()` while telling seconds from milliseconds.
#[test]
fn a_messenger_time_of_i64_min_is_an_unreadable_time() {
    for time in ["-9223372036854775808", "\"-9223372036854775808\"", "9223372036854775807", "-1"] {
        let body = format!(
            r#"{{"object":"page","entry":[{{"id":"1","messaging":[
                {{"sender":{{"id":"2"}},"timestamp":{time},"message":{{"mid":"m","text":"hi"}}}},
                {{"sender":{{"id":"2"}},"timestamp":1458692752478,"delivery":{{"watermark":{time}}}}}]}}]}}"#
        );
        let batch = parse(body.as_bytes(), RECEIVED).expect("a JSON object");
        assert!(batch.signals.is_empty(), "{time}: {:?}", batch.signals);
        let reasons: Vec<_> = batch.malformed.iter().map(|m| m.reason).collect();
        assert_eq!(reasons, ["no readable timestamp", "delivery without a watermark"], "{time}");
    }
}

#[test]
fn a_whatsapp_time_past_9999_is_an_unreadable_time() {
    let body = br#"{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"messages","value":{
        "metadata":{"phone_number_id":"1"},
        "messages":[{"id":"wamid.1","from":"62812","timestamp":"9223372036854775807","type":"text","text":{"body":"x"}}]}}]}]}"#;
    let batch = parse(body, RECEIVED).expect("a JSON object");
    assert!(batch.signals.is_empty());
    assert_eq!(batch.malformed[0].reason, "no readable timestamp");
}

/// A 5-byte UTC offset with a multi-byte character was sliced inside the character, and a
/// huge year overflowed the day count. The reply still counts, at the time it was received.
#[test]
fn a_threads_time_with_a_broken_offset_or_year_falls_back_to_the_received_time() {
    for time in
        ["2024-08-07T10:33:16\u{e9}000", "2024-08-07T10:33:16+\u{e9}00", "9223372036854775807-08-07T10:33:16+0000"]
    {
        let body = format!(
            r#"{{"object":"threads","target_id":"1","values":{{"field":"mentions",
                "value":{{"id":"9","username":"u","timestamp":"{time}"}}}}}}"#
        );
        let batch = parse(body.as_bytes(), RECEIVED).expect("a JSON object");
        match batch.signals.as_slice() {
            [Signal::Comment(c)] => assert_eq!(c.sent_at, RECEIVED, "{time:?}"),
            other => panic!("{time:?}: {other:?}"),
        }
    }
}

/// A record length of 64 MiB in a 4-byte file: truncated (the reader now grows the record
/// as its bytes arrive instead of allocating the declared length first).
#[test]
fn a_record_length_past_the_end_is_truncated() {
    let data = (64u32 << 20).to_be_bytes();
    let mut reader = RecordReader::new(&data[..]);
    assert_eq!(reader.next_record(), Some(Err(RecordError::Truncated)));
}
