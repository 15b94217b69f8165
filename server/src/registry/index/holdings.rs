//! Leases as the index sees them: the lease entity with the services its
//! instances belong to, what revoking it would remove, and which leases to
//! sample next.

use std::collections::BTreeSet;

use app::model::{Instance, Lease, Topic};

use super::Index;
use crate::registry::events::QueueKind;

/// What revoking a lease would remove.
#[derive(Debug)]
pub struct LeaseHoldings {
    pub lease: Lease,
    pub instances: Vec<Instance>,
    pub locks: Vec<String>,
    pub elections: Vec<String>,
    pub other_keys: Vec<String>,
    /// Every key id on the lease, sorted.
    pub keys: Vec<String>,
}

impl Index {
    pub fn leases(&self) -> Vec<Lease> {
        self.leases.all().into_iter().map(|l| self.with_services(l)).collect()
    }

    /// The lease entity, with the services its instances belong to.
    pub(super) fn lease(&self, lease: i64) -> Option<Lease> {
        self.leases.get(lease).map(|l| self.with_services(l))
    }

    fn with_services(&self, mut lease: Lease) -> Lease {
        let services: BTreeSet<&str> = self
            .leases
            .keys(lease.id.0)
            .filter_map(|id| self.instances.get(id))
            .flatten()
            .map(|i| i.service.as_str())
            .collect();
        lease.services = services.into_iter().map(str::to_owned).collect();
        lease
    }

    /// Leases to sample next, at most `limit`.
    pub fn lease_sampling_order(&self, limit: usize, fresh_for: std::time::Duration, watched: &[Topic]) -> Vec<i64> {
        let mut preferred = BTreeSet::new();
        for topic in watched {
            match topic {
                Topic::Service(name) => {
                    let ids = self.services.get(name).map(|agg| agg.ids.iter()).into_iter().flatten();
                    for id in ids {
                        let instance = self.instance(id, name);
                        preferred.extend(instance.and_then(|i| i.lease).map(|l| l.0));
                        // A Moleculer node's TTL is its heartbeat's.
                        preferred.extend(self.joins.beat_lease(id));
                    }
                }
                Topic::Locks | Topic::Elections => {
                    let queue = if *topic == Topic::Locks {
                        QueueKind::Lock
                    } else {
                        QueueKind::Election
                    };
                    let contenders = self.queues.entries().filter(|e| e.queue() == queue);
                    preferred.extend(contenders.map(|e| e.contender.lease.0));
                }
                _ => {}
            }
        }
        self.leases.sampling_order(limit, fresh_for, &preferred)
    }

    /// The lease and everything attached to it; `None` for an unknown lease.
    pub fn lease_holdings(&self, lease: i64) -> Option<LeaseHoldings> {
        let entity = self.lease(lease)?;
        let mut holdings = LeaseHoldings {
            lease: entity,
            instances: Vec::new(),
            locks: Vec::new(),
            elections: Vec::new(),
            other_keys: Vec::new(),
            keys: self.leases.keys(lease).cloned().collect(),
        };
        for id in self.leases.keys(lease) {
            if let Some(instances) = self.instances.get(id) {
                holdings.instances.extend(instances.iter().cloned());
            } else if let Some(entry) = self.queues.get(id) {
                if entry.proposal.is_some() {
                    holdings.elections.push(entry.name.clone());
                } else {
                    holdings.locks.push(entry.name.clone());
                }
            } else {
                holdings.other_keys.push(id.clone());
            }
        }
        Some(holdings)
    }
}
