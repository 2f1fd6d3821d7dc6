//! Addresses that keep posting bad signatures. Only Meta knows the app secret, so an
//! address that fails the signature check again and again is not Meta: past its budget
//! its deliveries are refused for a minute before their bodies are read, so a stranger
//! cannot make Laras hash megabytes for ever.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The budget a window allows, and the window (also how long an address stays refused).
const WINDOW: Duration = Duration::from_secs(60);
/// Addresses remembered at most; a flood from many addresses forgets the settled ones.
const MAX_REMEMBERED: usize = 100_000;

#[derive(Debug)]
pub struct BadSenders {
    per_minute: u32,
    seen: Mutex<HashMap<IpAddr, Failures>>,
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    since: Instant,
    count: u32,
}

impl BadSenders {
    /// `per_minute` bad signatures from one address are allowed in a minute (0: no limit).
    pub fn new(per_minute: u32) -> Self {
        Self { per_minute, seen: Mutex::default() }
    }

    /// Whether `ip` has spent its budget and is still inside that window.
    pub fn refused_at(&self, ip: IpAddr, now: Instant) -> bool {
        if self.per_minute == 0 {
            return false;
        }
        let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        seen.get(&ip).is_some_and(|f| f.count >= self.per_minute && now.duration_since(f.since) < WINDOW)
    }

    /// Counts one bad signature from `ip`.
    pub fn failed_at(&self, ip: IpAddr, now: Instant) {
        if self.per_minute == 0 {
            return;
        }
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if seen.len() >= MAX_REMEMBERED && !seen.contains_key(&ip) {
            seen.retain(|_, f| now.duration_since(f.since) < WINDOW);
            if seen.len() >= MAX_REMEMBERED {
                return;
            }
        }
        let f = seen.entry(ip).or_insert(Failures { since: now, count: 0 });
        if now.duration_since(f.since) >= WINDOW {
            *f = Failures { since: now, count: 0 };
        }
        f.count = f.count.saturating_add(1);
    }
}

impl Default for BadSenders {
    /// Thirty bad signatures a minute, as for failed API keys.
    fn default() -> Self {
        Self::new(30)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_past_its_budget_is_refused_for_the_rest_of_the_minute_and_others_are_not() {
        let senders = BadSenders::new(3);
        let (stranger, meta): (IpAddr, IpAddr) = ("203.0.113.9".parse().unwrap(), "198.51.100.1".parse().unwrap());
        let t0 = Instant::now();
        for i in 0..3 {
            assert!(!senders.refused_at(stranger, t0), "refused after {i}");
            senders.failed_at(stranger, t0);
        }
        assert!(senders.refused_at(stranger, t0 + Duration::from_secs(59)));
        assert!(!senders.refused_at(meta, t0));
        assert!(!senders.refused_at(stranger, t0 + WINDOW), "a new minute, a new budget");
    }

    #[test]
    fn no_limit_refuses_nobody() {
        let senders = BadSenders::new(0);
        let ip: IpAddr = "203.0.113.9".parse().unwrap();
        let now = Instant::now();
        for _ in 0..1_000 {
            senders.failed_at(ip, now);
        }
        assert!(!senders.refused_at(ip, now));
    }
}
