//! Leases: which exist, what each holds, and their last sampled TTL.
//!
//! etcd has no watch for leases. Their existence comes from two sources: keys
//! attached to them (exact, through the watch) and the lease poller's
//! `LeaseLeases` (leases holding no key). Their TTL comes from sampling
//! `TimeToLive` on a budget; the browser counts down between samples.

use std::collections::{BTreeMap, BTreeSet};

use app::model::{Lease, LeaseId};
use tokio::time::Instant;

/// One `TimeToLive` answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    /// Remaining seconds; -1 when the lease no longer exists.
    pub ttl: i64,
    pub granted_ttl: i64,
    /// RFC 3339, for the API.
    pub at: String,
}

#[derive(Debug, Default)]
struct LeaseInfo {
    sample: Option<Sample>,
    sampled: Option<Instant>,
    /// Listed by the last `LeaseLeases`.
    polled: bool,
    /// Ids of the keys attached to it.
    keys: BTreeSet<String>,
}

impl LeaseInfo {
    fn expired(&self) -> bool {
        self.sample.as_ref().is_some_and(|s| s.ttl < 0)
    }

    /// Worth keeping: it holds keys, or etcd listed it and did not say it is gone.
    fn alive(&self) -> bool {
        !self.keys.is_empty() || (self.polled && !self.expired())
    }
}

#[derive(Debug, Default)]
pub struct LeaseTable {
    leases: BTreeMap<i64, LeaseInfo>,
}

impl LeaseTable {
    /// How many leases are known.
    pub fn len(&self) -> usize {
        self.leases.len()
    }

    pub fn attach(&mut self, lease: i64, key: &str) {
        self.leases.entry(lease).or_default().keys.insert(key.to_owned());
    }

    pub fn detach(&mut self, lease: i64, key: &str) {
        if let Some(info) = self.leases.get_mut(&lease) {
            info.keys.remove(key);
            if !info.alive() {
                self.leases.remove(&lease);
            }
        }
    }

    /// Records the leases etcd listed; returns the ids whose entity changed.
    pub fn set_polled(&mut self, listed: &BTreeSet<i64>) -> Vec<i64> {
        let mut changed = Vec::new();
        for id in listed {
            let info = self.leases.entry(*id).or_default();
            if !info.polled {
                info.polled = true;
                changed.push(*id);
            }
        }
        let gone: Vec<i64> = self
            .leases
            .iter_mut()
            .filter(|(id, info)| info.polled && !listed.contains(id))
            .map(|(id, info)| {
                info.polled = false;
                *id
            })
            .collect();
        for id in gone {
            if self.leases.get(&id).is_some_and(|info| !info.alive()) {
                self.leases.remove(&id);
            }
            changed.push(id);
        }
        changed
    }

    /// Records a sample; false when the lease is unknown (then it is ignored,
    /// unless it is alive: a lease the poller has not listed yet).
    pub fn set_sample(&mut self, lease: i64, sample: Sample) -> bool {
        let info = match self.leases.get_mut(&lease) {
            Some(info) => info,
            None if sample.ttl >= 0 => self.leases.entry(lease).or_default(),
            None => return false,
        };
        info.sample = Some(sample);
        info.sampled = Some(Instant::now());
        if !info.alive() {
            self.leases.remove(&lease);
        }
        true
    }

    pub fn ttl(&self, lease: i64) -> (Option<i64>, Option<i64>) {
        match self.leases.get(&lease).and_then(|i| i.sample.as_ref()) {
            Some(sample) => (Some(sample.ttl), Some(sample.granted_ttl)),
            None => (None, None),
        }
    }

    pub fn keys(&self, lease: i64) -> impl Iterator<Item = &String> {
        self.leases.get(&lease).into_iter().flat_map(|info| info.keys.iter())
    }

    pub fn get(&self, lease: i64) -> Option<Lease> {
        self.leases.get(&lease).map(|info| entity(lease, info))
    }

    /// Every lease, by id.
    pub fn all(&self) -> Vec<Lease> {
        self.leases.iter().map(|(id, info)| entity(*id, info)).collect()
    }

    /// Leases in the order they should be sampled: those in `preferred`
    /// (what clients are looking at) first, and within each group the never
    /// sampled, then the longest ago; none sampled within `fresh_for`. At
    /// most `limit`.
    pub fn sampling_order(&self, limit: usize, fresh_for: std::time::Duration, preferred: &BTreeSet<i64>) -> Vec<i64> {
        let mut order: Vec<(bool, Option<Instant>, i64)> = self
            .leases
            .iter()
            .filter(|(_, info)| info.sampled.is_none_or(|at| at.elapsed() >= fresh_for))
            .map(|(id, info)| (!preferred.contains(id), info.sampled, *id))
            .collect();
        order.sort_unstable();
        order.into_iter().take(limit).map(|(_, _, id)| id).collect()
    }
}

fn entity(id: i64, info: &LeaseInfo) -> Lease {
    Lease {
        id: LeaseId(id),
        ttl: info.sample.as_ref().map(|s| s.ttl),
        granted_ttl: info.sample.as_ref().map(|s| s.granted_ttl),
        keys: info.keys.len(),
        sampled_at: info.sample.as_ref().map(|s| s.at.clone()),
        services: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(ttl: i64) -> Sample {
        Sample {
            ttl,
            granted_ttl: 30,
            at: "2026-11-24T12:00:00Z".to_owned(),
        }
    }

    #[test]
    fn leases_live_while_they_hold_keys_or_etcd_lists_them() {
        let mut table = LeaseTable::default();
        table.attach(7, "/a");
        assert_eq!(table.get(7).map(|l| l.keys), Some(1));
        table.detach(7, "/a");
        assert!(table.get(7).is_none(), "no keys and not listed: gone");

        assert_eq!(table.set_polled(&BTreeSet::from([8])), vec![8]);
        assert!(table.get(8).is_some(), "listed by etcd without keys");
        table.set_polled(&BTreeSet::new());
        assert!(table.get(8).is_none(), "no longer listed");
    }

    #[test]
    fn samples_fill_ttls_and_expiry_removes_an_empty_lease() {
        let mut table = LeaseTable::default();
        table.set_polled(&BTreeSet::from([9]));
        assert!(table.set_sample(9, sample(12)));
        assert_eq!(table.ttl(9), (Some(12), Some(30)));
        assert!(table.set_sample(9, sample(-1)));
        assert!(table.get(9).is_none());
        assert!(!table.set_sample(10, sample(-1)), "an unknown dead lease is ignored");
    }

    #[test]
    fn sampling_prefers_the_never_sampled() {
        let mut table = LeaseTable::default();
        table.set_polled(&BTreeSet::from([1, 2, 3]));
        table.set_sample(2, sample(5));
        let none = BTreeSet::new();
        let order = table.sampling_order(10, std::time::Duration::ZERO, &none);
        assert_eq!(order.last(), Some(&2));
        assert_eq!(order.len(), 3);
        let stale_only = table.sampling_order(10, std::time::Duration::from_secs(60), &none);
        assert_eq!(stale_only, vec![1, 3], "a fresh sample is not taken again");
        let seen = table.sampling_order(10, std::time::Duration::ZERO, &BTreeSet::from([3]));
        assert_eq!(seen, vec![3, 1, 2], "what clients look at comes first");
    }
}
