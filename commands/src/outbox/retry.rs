//! When to try a failed send again: exponential backoff with full jitter, bounded, and
//! each account's `Retry-After`, so one throttled account holds only its own sends.

use laras_domain::channel::ChannelKind;
use laras_domain::ids::PartnerId;
use rand::Rng;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

#[derive(Clone, Debug)]
pub struct RetryPolicy {
    /// Attempts per send, the first included; then `ReplySendFailed`.
    pub max_attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self { max_attempts: 6, base_delay: Duration::from_millis(500), max_delay: Duration::from_secs(60) }
    }
}

impl RetryPolicy {
    /// Full jitter: uniform in [0, base · 2^(attempt-1)], capped; never below what the
    /// platform asked for.
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let ceiling = self.base_delay.saturating_mul(1 << attempt.saturating_sub(1).min(16)).min(self.max_delay);
        let jittered = Duration::from_millis(rand::thread_rng().gen_range(0..=ceiling.as_millis() as u64));
        jittered.max(retry_after.unwrap_or_default())
    }
}

/// The receiving account a send goes out from.
pub type AccountKey = (PartnerId, ChannelKind, String);

/// Accounts that asked to wait (`Retry-After`), until when.
#[derive(Default)]
pub struct Throttles(Mutex<HashMap<AccountKey, Instant>>);

impl Throttles {
    pub fn hold(&self, account: AccountKey, until: Instant) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let entry = map.entry(account).or_insert(until);
        *entry = (*entry).max(until);
    }

    /// When `account` may be called again, if it is held now.
    pub fn held_until(&self, account: &AccountKey) -> Option<Instant> {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match map.get(account) {
            Some(until) if *until > Instant::now() => Some(*until),
            Some(_) => {
                map.remove(account);
                None
            }
            None => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    #[test]
    fn delays_grow_stay_under_the_cap_and_never_undercut_retry_after() {
        let policy =
            RetryPolicy { max_attempts: 5, base_delay: Duration::from_millis(100), max_delay: Duration::from_secs(1) };
        for attempt in 1..40 {
            let ceiling = Duration::from_millis(100 * (1u64 << (attempt - 1).min(16))).min(Duration::from_secs(1));
            assert!(policy.delay(attempt, None) <= ceiling);
            assert!(policy.delay(attempt, Some(Duration::from_secs(7))) >= Duration::from_secs(7));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_throttled_account_holds_only_itself_and_only_until_its_time() {
        let throttles = Throttles::default();
        let a = (PartnerId(Uuid::from_u128(1)), ChannelKind::WhatsApp, "a".to_owned());
        let b = (PartnerId(Uuid::from_u128(1)), ChannelKind::WhatsApp, "b".to_owned());
        throttles.hold(a.clone(), Instant::now() + Duration::from_secs(30));
        assert!(throttles.held_until(&a).is_some());
        assert!(throttles.held_until(&b).is_none());
        tokio::time::advance(Duration::from_secs(31)).await;
        assert!(throttles.held_until(&a).is_none());
    }
}
