//! Canonical envelope bytes, as an auditor's tool reads them. Beyond not panicking: an
//! envelope that decodes re-encodes to the very same bytes, and a payload that decodes
//! into an event re-encodes into one that decodes to the same event.
#![no_main]

use laras_domain::envelope::Envelope;
use laras_domain::event::decode;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(envelope) = Envelope::from_canonical(data, [7; 64]) else { return };
    let again = envelope.canonical_bytes().expect("a decoded envelope encodes");
    assert_eq!(again, data, "canonical bytes do not round-trip");
    if let Ok(event) = envelope.event() {
        let payload = event.encode_payload();
        assert_eq!(decode(event.event_type(), event.event_version(), &payload).as_ref(), Ok(&event));
    }
});
