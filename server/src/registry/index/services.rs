//! Services: the per-service counters the index keeps, and every read of
//! services and their instances.

use std::collections::{BTreeMap, BTreeSet};

use app::model::{Instance, Layout, PatchOp, ServiceSummary};

use super::{op, Index};

/// Counters of one service; the instances themselves live in `Index::instances`.
#[derive(Debug, Default)]
pub(super) struct ServiceAgg {
    pub(super) ids: BTreeSet<String>,
    pub(super) with_lease: usize,
    pub(super) layouts: BTreeMap<Layout, usize>,
    /// TTL -> how many instances have it: the lowest is the summary's
    /// `min_ttl`, found without visiting every instance on every change.
    ttls: BTreeMap<i64, usize>,
}

impl ServiceAgg {
    pub(super) fn count_ttl(&mut self, ttl: Option<i64>) {
        if let Some(ttl) = ttl {
            *self.ttls.entry(ttl).or_default() += 1;
        }
    }

    pub(super) fn uncount_ttl(&mut self, ttl: Option<i64>) {
        if let Some(ttl) = ttl {
            if let Some(count) = self.ttls.get_mut(&ttl) {
                *count -= 1;
                if *count == 0 {
                    self.ttls.remove(&ttl);
                }
            }
        }
    }
}

impl Index {
    /// How many instances `name` has (0 when it has none).
    pub fn instance_count(&self, name: &str) -> usize {
        self.services.get(name).map_or(0, |agg| agg.ids.len())
    }

    /// Every service with its instance count, by name.
    pub fn instance_counts(&self) -> impl Iterator<Item = (&str, usize)> {
        self.services.iter().map(|(name, agg)| (name.as_str(), agg.ids.len()))
    }

    /// The registry's totals, for its history.
    pub fn totals(&self) -> super::super::history::Totals {
        let (locks, elections) = self.queues.counts();
        super::super::history::Totals {
            services: self.services.len(),
            instances: self.services.values().map(|agg| agg.ids.len()).sum(),
            leases: self.leases.len(),
            locks,
            elections,
        }
    }

    pub fn service_summary(&self, name: &str) -> Option<ServiceSummary> {
        let agg = self.services.get(name)?;
        Some(ServiceSummary {
            name: name.to_owned(),
            layouts: agg.layouts.keys().copied().collect(),
            instances: agg.ids.len(),
            with_lease: agg.with_lease,
            min_ttl: agg.ttls.keys().next().copied(),
        })
    }

    /// Every service, sorted by name; with a `filter`, only those it finds
    /// (see [`Index::service_matches`]).
    pub fn service_summaries(&self, filter: Option<&str>) -> Vec<ServiceSummary> {
        let filter = filter.map(str::to_lowercase);
        self.services
            .keys()
            .filter(|name| filter.as_deref().is_none_or(|q| self.service_matches(name, q)))
            .filter_map(|name| self.service_summary(name))
            .collect()
    }

    /// Whether `lowercase_query` is in the service's name or layouts, or in one
    /// of its instances' address, version, or metadata (`name`, `value` or
    /// `name=value`), ignoring case.
    fn service_matches(&self, name: &str, lowercase_query: &str) -> bool {
        let q = lowercase_query;
        let Some(agg) = self.services.get(name) else {
            return false;
        };
        let has = |text: &str| text.to_lowercase().contains(q);
        has(name)
            || agg.layouts.keys().any(|l| l.as_str().contains(q))
            || agg.ids.iter().filter_map(|id| self.instance(id, name)).any(|i| {
                i.address.as_deref().is_some_and(has)
                    || i.version.as_deref().is_some_and(has)
                    || i.metadata
                        .iter()
                        .any(|(k, v)| has(k) || has(v) || (q.contains('=') && has(&format!("{k}={v}"))))
            })
    }

    /// A service's instances in key order; `None` if it has none.
    pub fn service_instances(&self, name: &str) -> Option<Vec<Instance>> {
        let agg = self.services.get(name)?;
        Some(
            agg.ids
                .iter()
                .filter_map(|id| self.instance(id, name).cloned())
                .collect(),
        )
    }

    /// Every instance of a service as upserts, in key order.
    pub fn instance_upserts(&self, name: &str) -> Vec<PatchOp> {
        let ids = self.services.get(name).map(|agg| agg.ids.iter()).into_iter().flatten();
        ids.filter_map(|id| self.instance(id, name).map(|i| op(id, Some(i))))
            .collect()
    }
}
