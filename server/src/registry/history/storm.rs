//! The eviction storm: more instances' leases expiring within a window
//! than the registry's size allows, the mark of a partition or an etcd
//! that stopped renewing rather than of services that died.

use std::collections::{BTreeMap, VecDeque};

use app::model::{Storm, StormService};

/// When expiries are a storm: at least `min` instances, and at least
/// `ratio` of the instances there were (those registered now and those
/// expired), within `window_seconds`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StormRule {
    pub window_seconds: u64,
    pub ratio: f64,
    pub min: u64,
}

impl Default for StormRule {
    fn default() -> Self {
        StormRule {
            window_seconds: 60,
            ratio: 0.1,
            min: 20,
        }
    }
}

impl StormRule {
    /// How many expiries within the window make a storm among `instances`
    /// registered now that lost `expired` within it.
    pub fn threshold(&self, instances: u64, expired: u64) -> u64 {
        let share = (self.ratio * (instances + expired) as f64).ceil();
        let share = if share.is_finite() && share > 0.0 {
            share as u64
        } else {
            0
        };
        share.max(self.min).max(1)
    }
}

/// Services named in a storm.
const STORM_SERVICES: usize = 20;

/// What changed in the storm's state.
#[derive(Debug, Clone, PartialEq)]
pub enum StormChange {
    Started(Storm),
    /// More instances expired while it was on.
    Grew(Storm),
    Ended(Storm),
}

/// Expiries of the window, per second, and the storm while one is on.
#[derive(Debug, Default)]
pub struct StormWatch {
    rule: StormRule,
    /// (unix second, service -> instances expired then), oldest first.
    window: VecDeque<(i64, BTreeMap<String, u64>)>,
    on: Option<OnStorm>,
}

#[derive(Debug)]
struct OnStorm {
    since: String,
    /// Expired per service since the storm began.
    services: BTreeMap<String, u64>,
    peak_instances: u64,
}

impl StormWatch {
    pub fn new(rule: StormRule) -> Self {
        StormWatch {
            rule,
            ..StormWatch::default()
        }
    }

    /// `count` instances of `service` expired at `now`.
    pub fn expired(&mut self, now: i64, service: &str, count: u64) {
        match self.window.back_mut() {
            Some((second, services)) if *second == now => *services.entry(service.to_owned()).or_default() += count,
            _ => self
                .window
                .push_back((now, BTreeMap::from([(service.to_owned(), count)]))),
        }
        if let Some(on) = &mut self.on {
            *on.services.entry(service.to_owned()).or_default() += count;
        }
    }

    /// Instances expired within the window ending at `now`.
    fn in_window(&mut self, now: i64) -> u64 {
        let from = now - i64::try_from(self.rule.window_seconds).unwrap_or(i64::MAX);
        while self.window.front().is_some_and(|(second, _)| *second <= from) {
            self.window.pop_front();
        }
        self.window.iter().flat_map(|(_, s)| s.values()).sum()
    }

    /// Whether the expiries within the window make a storm now, with
    /// `instances` registered; what changed, if anything. `at` is now in
    /// RFC 3339, the storm's `since` when it starts.
    /// `instances` is asked only when the window holds at least the rule's
    /// minimum (below it there is no storm whatever the registry's size).
    pub fn evaluate(&mut self, now: i64, instances: impl FnOnce() -> u64, at: &str) -> Option<StormChange> {
        let expired = self.in_window(now);
        let (storming, instances) = if expired >= self.rule.min {
            let instances = instances();
            (expired >= self.rule.threshold(instances, expired), instances)
        } else {
            (false, 0)
        };
        match (&mut self.on, storming) {
            (None, true) => {
                let mut services = BTreeMap::new();
                for (_, second) in &self.window {
                    for (service, n) in second {
                        *services.entry(service.clone()).or_default() += n;
                    }
                }
                self.on = Some(OnStorm {
                    since: at.to_owned(),
                    services,
                    peak_instances: instances + expired,
                });
                self.storm().map(StormChange::Started)
            }
            (Some(on), true) => {
                on.peak_instances = on.peak_instances.max(instances + expired);
                None
            }
            (Some(_), false) => {
                let ended = self.storm();
                self.on = None;
                ended.map(StormChange::Ended)
            }
            (None, false) => None,
        }
    }

    /// After expiries were recorded while on: the storm as it is now.
    pub fn grown(&self) -> Option<StormChange> {
        self.storm().map(StormChange::Grew)
    }

    /// The storm while one is on.
    pub fn storm(&self) -> Option<Storm> {
        let on = self.on.as_ref()?;
        let mut services: Vec<StormService> = on
            .services
            .iter()
            .map(|(service, expired)| StormService {
                service: service.clone(),
                expired: *expired,
            })
            .collect();
        services.sort_by(|a, b| b.expired.cmp(&a.expired).then_with(|| a.service.cmp(&b.service)));
        let expired = services.iter().map(|s| s.expired).sum();
        services.truncate(STORM_SERVICES);
        Some(Storm {
            since: on.since.clone(),
            services,
            expired,
            instances: on.peak_instances,
            window_seconds: self.rule.window_seconds,
        })
    }

    pub fn is_on(&self) -> bool {
        self.on.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule() -> StormRule {
        StormRule {
            window_seconds: 60,
            ratio: 0.1,
            min: 20,
        }
    }

    #[test]
    fn the_threshold_is_a_share_of_the_registry_with_a_floor() {
        let rule = rule();
        assert_eq!(rule.threshold(1000, 0), 100);
        assert_eq!(rule.threshold(800, 200), 100);
        assert_eq!(rule.threshold(50, 0), 20, "a small registry needs the floor");
        let zero = StormRule {
            ratio: 0.0,
            min: 0,
            ..rule
        };
        assert_eq!(zero.threshold(10, 0), 1, "one expiry at least");
    }

    #[test]
    fn a_burst_raises_the_storm_and_it_clears_when_the_window_passes() {
        let mut watch = StormWatch::new(rule());
        // Ten expiries among a thousand: the usual churn.
        watch.expired(1000, "cart", 10);
        assert_eq!(watch.evaluate(1000, || 990, "t0"), None);
        // Two hundred in the next seconds, most of them payment's.
        watch.expired(1005, "payment", 150);
        watch.expired(1006, "cart", 40);
        let started = watch.evaluate(1006, || 800, "t1");
        let Some(StormChange::Started(storm)) = started else {
            panic!("no storm: {started:?}");
        };
        assert_eq!(storm.since, "t1");
        assert_eq!(storm.expired, 200, "every expiry of the window counts");
        assert_eq!(
            storm.services[0],
            StormService {
                service: "payment".into(),
                expired: 150
            }
        );
        assert_eq!(
            storm.services[1],
            StormService {
                service: "cart".into(),
                expired: 50
            }
        );
        assert_eq!(storm.instances, 1000);
        // More while it is on: the storm grows, it does not start again.
        watch.expired(1030, "payment", 5);
        assert_eq!(watch.evaluate(1030, || 795, "t2"), None);
        assert_eq!(
            watch
                .grown()
                .map(|c| matches!(c, StormChange::Grew(s) if s.expired == 205)),
            Some(true)
        );
        // Still within a minute of the burst: on.
        assert_eq!(watch.evaluate(1060, || 795, "t3"), None);
        assert!(watch.is_on());
        // The burst leaves the window: it ends, with what it took.
        let ended = watch.evaluate(1067, || 795, "t4");
        assert!(
            matches!(&ended, Some(StormChange::Ended(s)) if s.expired == 205 && s.since == "t1"),
            "{ended:?}"
        );
        assert!(!watch.is_on());
        assert_eq!(watch.storm(), None);
    }

    #[test]
    fn the_window_holds_a_bucket_per_second() {
        let mut watch = StormWatch::new(StormRule {
            window_seconds: 10,
            ..rule()
        });
        for i in 0..1000 {
            watch.expired(i, "a", 1);
            watch.evaluate(i, || 1_000_000, "t");
        }
        assert!(watch.window.len() <= 11, "{}", watch.window.len());
    }
}
