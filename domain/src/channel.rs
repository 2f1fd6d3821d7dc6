//! The Meta channels a Partner can connect.

use serde::{Deserialize, Serialize};
use std::fmt;

/// One of Meta's messaging surfaces.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelKind {
    #[serde(rename = "whatsapp")]
    WhatsApp,
    Instagram,
    Messenger,
    Threads,
}

impl ChannelKind {
    pub const ALL: [ChannelKind; 4] = [Self::WhatsApp, Self::Instagram, Self::Messenger, Self::Threads];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::WhatsApp => "whatsapp",
            Self::Instagram => "instagram",
            Self::Messenger => "messenger",
            Self::Threads => "threads",
        }
    }
}

impl fmt::Display for ChannelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ChannelKind {
    type Err = UnknownChannel;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|c| c.as_str().eq_ignore_ascii_case(s)).ok_or(UnknownChannel)
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unknown channel kind (expected whatsapp, instagram, messenger or threads)")]
pub struct UnknownChannel;
