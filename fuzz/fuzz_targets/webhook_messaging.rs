//! Messenger (`object: page`) and Instagram (`object: instagram`) deliveries; the
//! input's first byte picks the channel.
#![no_main]

use laras_domain::channel::ChannelKind;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else { return };
    if pick % 2 == 0 {
        laras_fuzz::webhook(body, Some("page"), &[ChannelKind::Messenger]);
    } else {
        laras_fuzz::webhook(body, Some("instagram"), &[ChannelKind::Instagram]);
    }
});
