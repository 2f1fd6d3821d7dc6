//! Subscriptions (and any operation) over a websocket, in graphql-transport-ws.

pub mod protocol;
mod session;
pub mod slots;

pub(crate) use session::serve;
