//! Threads deliveries (`object: threads`, or no object with `values`).
#![no_main]

use laras_domain::channel::ChannelKind;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else { return };
    let object = if pick % 2 == 0 { Some("threads") } else { None };
    laras_fuzz::webhook(body, object, &[ChannelKind::Threads]);
});
