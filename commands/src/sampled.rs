//! One log line per period for events a stranger can cause at will (refused keys, bad
//! webhook signatures): a line per event would let anyone fill the disk and drown the
//! lines that matter, so the count since the last line is written instead.

use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct Sampled {
    every: Duration,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    since_last_line: u64,
    last_line: Option<Instant>,
}

impl Sampled {
    pub const fn every(every: Duration) -> Self {
        Self { every, state: Mutex::new(State { since_last_line: 0, last_line: None }) }
    }

    /// Counts one event at `now`; returns how many to report when a line is due (the
    /// first event, then at most one line per period).
    pub fn count_at(&self, now: Instant) -> Option<u64> {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.since_last_line += 1;
        if s.last_line.is_some_and(|t| now.duration_since(t) < self.every) {
            return None;
        }
        let n = s.since_last_line;
        s.since_last_line = 0;
        s.last_line = Some(now);
        Some(n)
    }

    pub fn count(&self) -> Option<u64> {
        self.count_at(Instant::now())
    }
}

impl Default for Sampled {
    /// A line every ten seconds at most.
    fn default() -> Self {
        Self::every(Duration::from_secs(10))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_event_is_reported_then_one_line_per_period_with_the_count() {
        let log = Sampled::every(Duration::from_secs(10));
        let t0 = Instant::now();
        assert_eq!(log.count_at(t0), Some(1));
        for i in 1..1_000 {
            assert_eq!(log.count_at(t0 + Duration::from_millis(i)), None);
        }
        assert_eq!(log.count_at(t0 + Duration::from_secs(10)), Some(1_000));
        assert_eq!(log.count_at(t0 + Duration::from_secs(11)), None);
    }
}
