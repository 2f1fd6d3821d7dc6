//! The record files of an audit bundle (`envelopes.bin`, `signing-keys.bin`), read from
//! bytes. Beyond not panicking: the records read before the first error, written back,
//! are exactly the bytes they were read from.
#![no_main]

use laras_adapters::audit_bundle::format::{write_record, RecordReader};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut written = Vec::new();
    for record in RecordReader::new(data) {
        let Ok(envelope) = record else { break };
        write_record(&mut written, &envelope).expect("a record read back writes");
    }
    assert_eq!(&data[..written.len()], &written[..], "records do not round-trip");
});
