//! The outbox's settings: a flag, a `LARAS_OUTBOX_*` variable, a key of `[outbox]` in
//! `laras.toml`, or its default (`docs/sends.md` justifies the in-doubt bounds).

use laras_commands::outbox::{InDoubtBounds, OutboxSettings, RetryPolicy};
use serde::Deserialize;
use std::time::Duration;

#[derive(Debug, Default, Clone, Deserialize, clap::Args)]
#[serde(deny_unknown_fields)]
pub struct OutboxOverrides {
    /// Sends in flight at once across conversations (one at a time within one).
    #[arg(long, env = "LARAS_OUTBOX_CONCURRENCY")]
    pub outbox_concurrency: Option<usize>,
    /// Attempts per send before it is recorded as failed.
    #[arg(long, env = "LARAS_OUTBOX_MAX_ATTEMPTS")]
    pub outbox_max_attempts: Option<u32>,
    /// The first retry's delay ceiling in milliseconds (doubles per attempt, with jitter).
    #[arg(long, env = "LARAS_OUTBOX_RETRY_BASE_MS")]
    pub outbox_retry_base_ms: Option<u64>,
    /// The longest delay between two attempts, in seconds.
    #[arg(long, env = "LARAS_OUTBOX_RETRY_MAX_SECONDS")]
    pub outbox_retry_max_seconds: Option<u64>,
    /// Seconds a send in doubt on WhatsApp, Messenger or Instagram waits for the platform's
    /// echo before the Partner's policy applies.
    #[arg(long, env = "LARAS_OUTBOX_IN_DOUBT_SECONDS")]
    pub outbox_in_doubt_seconds: Option<u64>,
    /// The same for Threads, which echoes nothing (default 0: the policy applies at once).
    #[arg(long, env = "LARAS_OUTBOX_THREADS_IN_DOUBT_SECONDS")]
    pub outbox_threads_in_doubt_seconds: Option<u64>,
}

impl OutboxOverrides {
    /// `self` (flags) wins over `file`, which wins over the defaults.
    pub fn merge(&self, file: &OutboxOverrides) -> OutboxSettings {
        let defaults = OutboxSettings::default();
        let retry = RetryPolicy::default();
        let bounds = InDoubtBounds::default();
        macro_rules! pick {
            ($field:ident) => {
                self.$field.or(file.$field)
            };
        }
        let echoed = pick!(outbox_in_doubt_seconds).map(Duration::from_secs);
        OutboxSettings {
            concurrency: pick!(outbox_concurrency).unwrap_or(defaults.concurrency).max(1),
            retry: RetryPolicy {
                max_attempts: pick!(outbox_max_attempts).unwrap_or(retry.max_attempts).max(1),
                base_delay: pick!(outbox_retry_base_ms).map(Duration::from_millis).unwrap_or(retry.base_delay),
                max_delay: pick!(outbox_retry_max_seconds).map(Duration::from_secs).unwrap_or(retry.max_delay),
            },
            in_doubt: InDoubtBounds {
                whatsapp: echoed.unwrap_or(bounds.whatsapp),
                messenger: echoed.unwrap_or(bounds.messenger),
                instagram: echoed.unwrap_or(bounds.instagram),
                threads: pick!(outbox_threads_in_doubt_seconds).map(Duration::from_secs).unwrap_or(bounds.threads),
            },
            poll: defaults.poll,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_win_over_the_file_and_the_file_over_the_defaults() {
        let flags = OutboxOverrides { outbox_in_doubt_seconds: Some(30), ..Default::default() };
        let file =
            OutboxOverrides { outbox_in_doubt_seconds: Some(90), outbox_concurrency: Some(4), ..Default::default() };
        let merged = flags.merge(&file);
        assert_eq!(merged.in_doubt.whatsapp, Duration::from_secs(30));
        assert_eq!(merged.in_doubt.instagram, Duration::from_secs(30));
        assert_eq!(merged.in_doubt.threads, Duration::ZERO);
        assert_eq!(merged.concurrency, 4);
        assert_eq!(merged.retry.max_attempts, RetryPolicy::default().max_attempts);
    }
}
