//! The brake on audit entries of refused requests: a page elsewhere can
//! make a browser send thousands of refused requests a second, and each
//! would otherwise be a line in the audit file and an event in the timeline,
//! pushing operators' real actions out of it.
//!
//! Each client address has a token bucket ([`BURST`] entries at once, then
//! [`PER_MINUTE`]), and all clients together share a larger one, so that
//! many addresses cannot flood either. What is held back is counted and
//! reported: a client's next entry that gets through is preceded by "N
//! refused requests from X suppressed", and every suppression not reported
//! yet is summed up in one entry before any other action is recorded and
//! once a minute ([`SUMMARY_EVERY`]). Entries of actions that were allowed
//! or that failed in etcd are never held back.
//!
//! At most [`MAX_CLIENTS`] addresses are tracked: beyond that the idle ones
//! are forgotten, then the longest quiet eighth, whose unreported counts move
//! to the summary.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Refused-request entries a client may have recorded at once.
pub const BURST: f64 = 20.0;
/// Then this many a minute.
pub const PER_MINUTE: f64 = 10.0;
/// Refused-request entries of all clients together, at once and a minute.
pub const ALL_BURST: f64 = 100.0;
pub const ALL_PER_MINUTE: f64 = 60.0;
/// Client addresses tracked at most.
pub const MAX_CLIENTS: usize = 4096;
/// How often suppressions not yet reported are summed up.
pub const SUMMARY_EVERY: Duration = Duration::from_secs(60);
/// Addresses a summary names by their count (the rest only in the total).
const SUMMARY_NAMES: usize = 5;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
    burst: f64,
    per_second: f64,
}

impl Bucket {
    fn full(burst: f64, per_minute: f64, now: Instant) -> Self {
        Bucket {
            tokens: burst,
            at: now,
            burst,
            per_second: per_minute / 60.0,
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.burst);
        self.at = now;
    }
}

struct Tracked {
    bucket: Bucket,
    /// Entries held back since the last report.
    suppressed: u64,
    last_seen: Instant,
}

/// What to do with one refused-request entry.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Record it; `suppressed` of this client's were held back before it.
    Record { suppressed: u64 },
    /// Hold it back (it is counted).
    Suppress,
}

/// Suppressions not reported yet: the total and the noisiest addresses.
#[derive(Debug, PartialEq, Eq)]
pub struct Summary {
    pub total: u64,
    pub clients: usize,
    /// The addresses with the most, most first (at most [`SUMMARY_NAMES`]).
    pub top: Vec<(Option<IpAddr>, u64)>,
}

pub struct Limiter {
    clients: HashMap<Option<IpAddr>, Tracked>,
    all: Bucket,
    /// Held back from clients no longer tracked.
    forgotten: u64,
}

impl Limiter {
    pub fn new(now: Instant) -> Self {
        Limiter {
            clients: HashMap::new(),
            all: Bucket::full(ALL_BURST, ALL_PER_MINUTE, now),
            forgotten: 0,
        }
    }

    /// Whether a refused-request entry of `client` is recorded now.
    pub fn admit(&mut self, client: Option<IpAddr>, now: Instant) -> Verdict {
        if !self.clients.contains_key(&client) && self.clients.len() >= MAX_CLIENTS {
            self.make_room(now);
        }
        let tracked = self.clients.entry(client).or_insert_with(|| Tracked {
            bucket: Bucket::full(BURST, PER_MINUTE, now),
            suppressed: 0,
            last_seen: now,
        });
        tracked.last_seen = now;
        tracked.bucket.refill(now);
        self.all.refill(now);
        if tracked.bucket.tokens >= 1.0 && self.all.tokens >= 1.0 {
            tracked.bucket.tokens -= 1.0;
            self.all.tokens -= 1.0;
            Verdict::Record {
                suppressed: std::mem::take(&mut tracked.suppressed),
            }
        } else {
            tracked.suppressed = tracked.suppressed.saturating_add(1);
            Verdict::Suppress
        }
    }

    fn make_room(&mut self, now: Instant) {
        // Idle: nothing to report, and a full bucket again.
        self.clients.retain(|_, t| {
            t.bucket.refill(now);
            t.suppressed > 0 || t.bucket.tokens < t.bucket.burst
        });
        if self.clients.len() < MAX_CLIENTS {
            return;
        }
        // The longest quiet eighth goes at once, so that a stream of new
        // addresses does not cost a scan each.
        let mut by_age: Vec<(Instant, Option<IpAddr>)> = self.clients.iter().map(|(c, t)| (t.last_seen, *c)).collect();
        let evict = (MAX_CLIENTS / 8).max(1).min(by_age.len());
        if evict < by_age.len() {
            by_age.select_nth_unstable(evict);
        }
        for (_, client) in by_age.iter().take(evict) {
            if let Some(gone) = self.clients.remove(client) {
                self.forgotten = self.forgotten.saturating_add(gone.suppressed);
            }
        }
    }

    /// Every suppression not reported yet, now reported (`None`: there are none).
    pub fn summary(&mut self) -> Option<Summary> {
        let mut counts: Vec<(Option<IpAddr>, u64)> = self
            .clients
            .iter_mut()
            .filter(|(_, t)| t.suppressed > 0)
            .map(|(client, t)| (*client, std::mem::take(&mut t.suppressed)))
            .collect();
        let forgotten = std::mem::take(&mut self.forgotten);
        let total = counts.iter().map(|(_, n)| *n).fold(forgotten, u64::saturating_add);
        if total == 0 {
            return None;
        }
        let clients = counts.len() + usize::from(forgotten > 0);
        counts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        counts.truncate(SUMMARY_NAMES);
        Some(Summary {
            total,
            clients,
            top: counts,
        })
    }

    /// Addresses tracked now.
    #[cfg(test)]
    pub fn tracked(&self) -> usize {
        self.clients.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u32) -> Option<IpAddr> {
        Some(IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + last)))
    }

    #[test]
    fn a_burst_then_a_trickle_and_every_suppression_is_counted() {
        let start = Instant::now();
        let mut limiter = Limiter::new(start);
        let recorded = (0..1000)
            .filter(|_| matches!(limiter.admit(ip(1), start), Verdict::Record { .. }))
            .count();
        assert_eq!(recorded, BURST as usize);
        // One token comes back every 60 / PER_MINUTE seconds, with the count of what was held back.
        let later = start + Duration::from_secs_f64(60.0 / PER_MINUTE);
        assert_eq!(
            limiter.admit(ip(1), later),
            Verdict::Record {
                suppressed: 1000 - BURST as u64
            }
        );
        assert_eq!(limiter.admit(ip(1), later), Verdict::Suppress);
        assert_eq!(
            limiter.admit(ip(2), later),
            Verdict::Record { suppressed: 0 },
            "another client has its own bucket"
        );
        let summary = limiter.summary();
        assert_eq!(
            summary,
            Some(Summary {
                total: 1,
                clients: 1,
                top: vec![(ip(1), 1)]
            })
        );
        assert_eq!(limiter.summary(), None, "reported once");
    }

    #[test]
    fn many_addresses_share_one_budget_and_memory_stays_bounded() {
        let now = Instant::now();
        let mut limiter = Limiter::new(now);
        let mut recorded = 0;
        for client in 0..(MAX_CLIENTS as u32 * 3) {
            if matches!(limiter.admit(ip(client), now), Verdict::Record { .. }) {
                recorded += 1;
            }
            assert!(limiter.tracked() <= MAX_CLIENTS);
        }
        assert_eq!(recorded, ALL_BURST as usize);
        let Some(summary) = limiter.summary() else {
            panic!("suppressions to report")
        };
        assert_eq!(
            summary.total + recorded as u64,
            u64::from(MAX_CLIENTS as u32 * 3),
            "forgotten clients' counts are kept"
        );
        assert!(summary.top.len() <= SUMMARY_NAMES);
    }
}
