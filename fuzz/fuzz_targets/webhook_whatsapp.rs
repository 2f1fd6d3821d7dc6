//! WhatsApp Cloud API deliveries (`object: whatsapp_business_account`).
#![no_main]

use laras_domain::channel::ChannelKind;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    laras_fuzz::webhook(data, Some("whatsapp_business_account"), &[ChannelKind::WhatsApp]);
});
