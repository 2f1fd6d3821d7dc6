//! One module per area; each handler is load, decide, append.

pub mod channel;
pub mod contact;
pub mod conversation;
pub mod handover;
pub mod inbound;
pub mod opportunity;
pub mod partner;
pub mod send;
pub mod signing_keys;
pub mod status;
