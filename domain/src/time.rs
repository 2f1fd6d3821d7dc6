//! Time as the domain sees it: milliseconds since the Unix epoch, UTC, injected.
//!
//! Nothing in the domain reads the system clock; handlers pass `now` in, and tests
//! move it by hand.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};

/// An instant, in milliseconds since 1970-01-01T00:00:00Z.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
#[serde(transparent)]
pub struct Timestamp(pub i64);

/// A span of time in milliseconds.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Span(pub i64);

impl Span {
    pub const fn millis(ms: i64) -> Self {
        Self(ms)
    }
    pub const fn seconds(s: i64) -> Self {
        Self(s * 1_000)
    }
    pub const fn hours(h: i64) -> Self {
        Self(h * 3_600_000)
    }
    pub const fn days(d: i64) -> Self {
        Self(d * 86_400_000)
    }
}

impl Timestamp {
    /// 2000-01-01T00:00:00Z: no message, sale or reminder of a Partner's is older.
    pub const EARLIEST_PLAUSIBLE: Timestamp = Timestamp(946_684_800_000);
    /// 2200-01-01T00:00:00Z: later than any date a person means.
    pub const LATEST_PLAUSIBLE: Timestamp = Timestamp(7_258_118_400_000);

    /// Whether a time given by a caller can be meant: inside the range above. Times that
    /// `-1` or `2^62` milliseconds stand for are typing slips or probes, not dates.
    pub const fn is_plausible(self) -> bool {
        self.0 >= Self::EARLIEST_PLAUSIBLE.0 && self.0 <= Self::LATEST_PLAUSIBLE.0
    }

    pub const fn from_millis(ms: i64) -> Self {
        Self(ms)
    }
    pub const fn from_seconds(s: i64) -> Self {
        Self(s.saturating_mul(1_000))
    }
    pub const fn millis(self) -> i64 {
        self.0
    }
    /// `self + span`, saturating rather than wrapping on absurd inputs.
    pub const fn plus(self, span: Span) -> Self {
        Self(self.0.saturating_add(span.0))
    }
    /// How long after `earlier` this instant is (negative when it is before).
    pub const fn since(self, earlier: Timestamp) -> Span {
        Span(self.0.saturating_sub(earlier.0))
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", rfc3339(*self))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&rfc3339(*self))
    }
}

/// Formats as RFC 3339 UTC with milliseconds (civil-from-days, Howard Hinnant's algorithm).
pub fn rfc3339(ts: Timestamp) -> String {
    let ms = ts.0.rem_euclid(1000);
    let secs = ts.0.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{ms:03}Z", sod / 3600, (sod % 3600) / 60, sod % 60)
}

/// Where "now" comes from. The system clock lives in the binary; tests use [`ManualClock`].
pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;
}

/// A clock that only moves when told to.
#[derive(Debug, Default)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    pub fn at(ts: Timestamp) -> Self {
        Self(AtomicI64::new(ts.0))
    }
    pub fn set(&self, ts: Timestamp) {
        self.0.store(ts.0, Ordering::SeqCst);
    }
    pub fn advance(&self, span: Span) {
        self.0.fetch_add(span.0, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.0.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_rfc3339() {
        assert_eq!(rfc3339(Timestamp(0)), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(Timestamp(1_767_225_600_123)), "2026-01-01T00:00:00.123Z");
        assert_eq!(rfc3339(Timestamp(951_782_400_000)), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn manual_clock_moves_only_when_told() {
        let clock = ManualClock::at(Timestamp(10));
        assert_eq!(clock.now(), Timestamp(10));
        clock.advance(Span::seconds(2));
        assert_eq!(clock.now(), Timestamp(2_010));
    }
}
