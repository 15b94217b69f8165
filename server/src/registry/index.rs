//! The registry index: instances grouped into services, and contenders
//! grouped into locks and elections, kept up to date key by key from the
//! mirror's changes, so a change costs work in proportion to what it touched,
//! never to the size of the registry.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use app::model::{
    Candidate, Contender, Election, Event, Instance, Layout, Lease, LeaseId, Lock, PatchOp, Revision, ServiceSummary,
    Topic,
};
use serde::Serialize;
use serde_json::value::to_raw_value;

use super::classify::{Classifier, Kind};
use super::events::{events_of, Happenings, InstanceChange, LeaseEnd, QueueKind, QueueNow};
use super::leases::{LeaseTable, Sample};
use super::mirror::{ChangeRef, KeyValue};
use super::text::key_id;

/// Counters of one service; the instances themselves live in `Index::instances`.
#[derive(Debug, Default)]
struct ServiceAgg {
    ids: BTreeSet<String>,
    with_lease: usize,
    layouts: BTreeMap<Layout, usize>,
    /// TTL -> how many instances have it: the lowest is the summary's
    /// `min_ttl`, found without visiting every instance on every change.
    ttls: BTreeMap<i64, usize>,
}

impl ServiceAgg {
    fn count_ttl(&mut self, ttl: Option<i64>) {
        if let Some(ttl) = ttl {
            *self.ttls.entry(ttl).or_default() += 1;
        }
    }

    fn uncount_ttl(&mut self, ttl: Option<i64>) {
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

#[derive(Debug, Clone)]
struct ContenderEntry {
    name: String,
    proposal: Option<String>,
    contender: Contender,
}

impl ContenderEntry {
    fn queue(&self) -> QueueKind {
        if self.proposal.is_some() {
            QueueKind::Election
        } else {
            QueueKind::Lock
        }
    }
}

/// What a batch of changes touched, resolved into patches afterwards.
#[derive(Debug, Default)]
pub struct Touched {
    services: BTreeSet<String>,
    /// (service, instance id)
    instances: BTreeSet<(String, String)>,
    locks: BTreeSet<String>,
    elections: BTreeSet<String>,
    leases: BTreeSet<i64>,
    /// What happened, for the timeline.
    happenings: Happenings,
    /// Loading what predates the server: no timeline, and no instance
    /// patches (nobody holds a snapshot with instances to patch yet).
    quiet: bool,
}

impl Touched {
    /// For the first list: what it touches is not recorded instance by
    /// instance, nor as happenings; services, queues and leases still are.
    pub fn quiet() -> Self {
        Touched {
            quiet: true,
            ..Touched::default()
        }
    }
}

/// What revoking a lease would remove.
#[derive(Debug)]
pub struct LeaseHoldings {
    pub lease: Lease,
    pub instances: Vec<Instance>,
    pub locks: Vec<String>,
    pub elections: Vec<String>,
    pub other_keys: Vec<String>,
}

#[derive(Debug, Default)]
pub struct Index {
    classifier: Classifier,
    instances: HashMap<String, Instance>,
    services: BTreeMap<String, ServiceAgg>,
    contenders: HashMap<String, ContenderEntry>,
    /// name -> (create revision, key id), so iteration is queue order.
    locks: BTreeMap<String, BTreeSet<(Revision, String)>>,
    elections: BTreeMap<String, BTreeSet<(Revision, String)>>,
    leases: LeaseTable,
    /// Key id -> its lease, for every key that has one (plain keys too).
    key_lease: HashMap<String, i64>,
}

impl Index {
    pub fn new(classifier: Classifier) -> Self {
        Index {
            classifier,
            ..Index::default()
        }
    }

    /// Applies one mirror change. `now` is the time to record as a new
    /// contender's `since` (`None` while loading what predates the server).
    pub fn apply(&mut self, change: ChangeRef<'_>, now: Option<&str>, touched: &mut Touched) {
        let (id, after) = match change {
            ChangeRef::Upserted { after, .. } => (key_id(&after.key), Some(after)),
            ChangeRef::Removed(kv) => (key_id(&kv.key), None),
        };
        let instance_before = if touched.quiet {
            None
        } else {
            self.instances.get(&id).cloned()
        };
        let contender_before = self
            .contenders
            .get(&id)
            .map(|e| (e.queue(), e.name.clone(), e.contender.since.clone()));
        if after.is_none() {
            if let Some(&lease) = self.key_lease.get(&id) {
                let deleted = touched.happenings.deleted_by_lease.entry(lease).or_default();
                deleted.push(id.clone());
            }
        }
        self.remove(&id, touched);
        if let Some(after) = after {
            let since = match &contender_before {
                Some((_, _, since)) => since.clone(),
                None => now.map(str::to_owned),
            };
            self.add(id.clone(), after, since, touched);
        }

        if touched.quiet {
            return;
        }
        let happenings = &mut touched.happenings;
        match (instance_before, self.instances.get(&id)) {
            (None, Some(now)) => happenings.instances.push(InstanceChange::Registered(now.clone())),
            (Some(before), Some(now)) if before.value != now.value || before.lease != now.lease => {
                happenings.instances.push(InstanceChange::Updated(now.clone()));
            }
            (Some(before), None) => happenings.instances.push(InstanceChange::Deregistered(before)),
            _ => {}
        }
        let contender_now = self.contenders.get(&id).map(|e| (e.queue(), e.name.clone()));
        let before = contender_before.map(|(queue, name, _)| (queue, name));
        if before != contender_now {
            if let Some((queue, name)) = before {
                happenings.left.push((queue, name, id.clone()));
            }
            if let Some((queue, name)) = contender_now {
                happenings.joined.push((queue, name, id));
            }
        }
    }

    /// Records a queue's head before its first change in this batch.
    fn note_queue(&self, queue: QueueKind, name: &str, touched: &mut Touched) {
        let head = self.queue_head(queue, name).map(str::to_owned);
        touched
            .happenings
            .heads_before
            .entry((queue, name.to_owned()))
            .or_insert(head);
    }

    /// The key id holding the lock (leading the election) `name`.
    fn queue_head(&self, queue: QueueKind, name: &str) -> Option<&str> {
        let queues = match queue {
            QueueKind::Lock => &self.locks,
            QueueKind::Election => &self.elections,
        };
        queues.get(name)?.first().map(|(_, id)| id.as_str())
    }

    /// The events of the batch `touched` describes; `ended` are the leases
    /// that lost all their keys in it because they expired or were revoked.
    pub fn events(
        &self,
        touched: &Touched,
        ended: &BTreeMap<i64, LeaseEnd>,
        revision: Revision,
        at: &str,
    ) -> Vec<Event> {
        let queue_now = |queue: QueueKind, name: &str| {
            let head = self.queue_head(queue, name);
            QueueNow {
                head: head.map(str::to_owned),
                proposal: head
                    .and_then(|id| self.contenders.get(id))
                    .and_then(|e| e.proposal.clone()),
            }
        };
        events_of(&touched.happenings, ended, queue_now, revision, at)
    }

    /// Leases all of whose keys are among `deleted` (key ids): candidates
    /// for having expired or been revoked.
    pub fn leases_emptied_by(&self, deleted: &[String]) -> Vec<i64> {
        let mut counts: BTreeMap<i64, usize> = BTreeMap::new();
        for id in deleted {
            if let Some(&lease) = self.key_lease.get(id) {
                *counts.entry(lease).or_default() += 1;
            }
        }
        counts
            .into_iter()
            .filter(|(lease, count)| self.leases.keys(*lease).count() == *count)
            .map(|(lease, _)| lease)
            .collect()
    }

    fn add(&mut self, id: String, kv: &KeyValue, since: Option<String>, touched: &mut Touched) {
        if kv.lease != 0 {
            self.leases.attach(kv.lease, &id);
            self.key_lease.insert(id.clone(), kv.lease);
            touched.leases.insert(kv.lease);
        }
        let (ttl, granted_ttl) = self.leases.ttl(kv.lease);
        match self.classifier.classify(kv) {
            Kind::Instance(mut instance) => {
                if instance.lease.is_some() {
                    instance.ttl = ttl;
                    instance.granted_ttl = granted_ttl;
                }
                let agg = self.services.entry(instance.service.clone()).or_default();
                agg.ids.insert(id.clone());
                agg.with_lease += usize::from(instance.lease.is_some());
                agg.count_ttl(instance.ttl);
                *agg.layouts.entry(instance.layout).or_default() += 1;
                touched.services.insert(instance.service.clone());
                if !touched.quiet {
                    touched.instances.insert((instance.service.clone(), id.clone()));
                }
                self.instances.insert(id, *instance);
            }
            Kind::Contender { name, lease, proposal } => {
                let queue = if proposal.is_some() {
                    QueueKind::Election
                } else {
                    QueueKind::Lock
                };
                self.note_queue(queue, &name, touched);
                let queues = if proposal.is_some() {
                    touched.elections.insert(name.clone());
                    &mut self.elections
                } else {
                    touched.locks.insert(name.clone());
                    &mut self.locks
                };
                queues
                    .entry(name.clone())
                    .or_default()
                    .insert((kv.create_revision, id.clone()));
                let contender = Contender {
                    key: String::from_utf8_lossy(&kv.key).into_owned(),
                    lease,
                    create_revision: kv.create_revision,
                    ttl,
                    since,
                };
                self.contenders.insert(
                    id,
                    ContenderEntry {
                        name,
                        proposal,
                        contender,
                    },
                );
            }
            Kind::Plain => {}
        }
    }

    fn remove(&mut self, id: &str, touched: &mut Touched) {
        if let Some(lease) = self.key_lease.remove(id) {
            self.leases.detach(lease, id);
            touched.leases.insert(lease);
        }
        if let Some(instance) = self.instances.remove(id) {
            if let Some(agg) = self.services.get_mut(&instance.service) {
                agg.ids.remove(id);
                agg.with_lease -= usize::from(instance.lease.is_some());
                agg.uncount_ttl(instance.ttl);
                if let Some(count) = agg.layouts.get_mut(&instance.layout) {
                    *count -= 1;
                    if *count == 0 {
                        agg.layouts.remove(&instance.layout);
                    }
                }
                if agg.ids.is_empty() {
                    self.services.remove(&instance.service);
                }
            }
            touched.services.insert(instance.service.clone());
            if !touched.quiet {
                touched.instances.insert((instance.service, id.to_owned()));
            }
        }
        if let Some((queue, name)) = self.contenders.get(id).map(|e| (e.queue(), e.name.clone())) {
            self.note_queue(queue, &name, touched);
        }
        if let Some(entry) = self.contenders.remove(id) {
            let (queues, names) = if entry.proposal.is_some() {
                (&mut self.elections, &mut touched.elections)
            } else {
                (&mut self.locks, &mut touched.locks)
            };
            if let Some(queue) = queues.get_mut(&entry.name) {
                queue.remove(&(entry.contender.create_revision, id.to_owned()));
                if queue.is_empty() {
                    queues.remove(&entry.name);
                }
            }
            names.insert(entry.name);
        }
    }

    /// Records the leases etcd listed.
    pub fn set_polled_leases(&mut self, listed: &BTreeSet<i64>, touched: &mut Touched) {
        touched.leases.extend(self.leases.set_polled(listed));
    }

    /// Records a TTL sample and refreshes the TTL of everything on the lease.
    pub fn apply_sample(&mut self, lease: i64, sample: Sample, touched: &mut Touched) {
        let (ttl, granted_ttl) = (Some(sample.ttl), Some(sample.granted_ttl));
        if !self.leases.set_sample(lease, sample) {
            return;
        }
        touched.leases.insert(lease);
        let keys: Vec<String> = self.leases.keys(lease).cloned().collect();
        for id in keys {
            if let Some(instance) = self.instances.get_mut(&id) {
                if let Some(agg) = self.services.get_mut(&instance.service) {
                    agg.uncount_ttl(instance.ttl);
                    agg.count_ttl(ttl);
                }
                instance.ttl = ttl;
                instance.granted_ttl = granted_ttl;
                touched.services.insert(instance.service.clone());
                touched.instances.insert((instance.service.clone(), id.clone()));
            }
            if let Some(entry) = self.contenders.get_mut(&id) {
                entry.contender.ttl = ttl;
                if entry.proposal.is_some() {
                    touched.elections.insert(entry.name.clone());
                } else {
                    touched.locks.insert(entry.name.clone());
                }
            }
        }
    }

    pub fn leases(&self) -> Vec<Lease> {
        self.leases.all().into_iter().map(|l| self.with_services(l)).collect()
    }

    /// The lease entity, with the services its instances belong to.
    fn lease(&self, lease: i64) -> Option<Lease> {
        self.leases.get(lease).map(|l| self.with_services(l))
    }

    fn with_services(&self, mut lease: Lease) -> Lease {
        let services: BTreeSet<&str> = self
            .leases
            .keys(lease.id.0)
            .filter_map(|id| self.instances.get(id))
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
                    preferred.extend(ids.filter_map(|id| self.instances.get(id)?.lease).map(|l| l.0));
                }
                Topic::Locks | Topic::Elections => {
                    let queue = if *topic == Topic::Locks {
                        QueueKind::Lock
                    } else {
                        QueueKind::Election
                    };
                    let contenders = self.contenders.values().filter(|e| e.queue() == queue);
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
        };
        for id in self.leases.keys(lease) {
            if let Some(instance) = self.instances.get(id) {
                holdings.instances.push(instance.clone());
            } else if let Some(entry) = self.contenders.get(id) {
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

    /// The patches, per topic, for what `touched` names, from the index as it is now.
    pub fn patches(&self, touched: Touched) -> Vec<(Topic, Vec<PatchOp>)> {
        let mut out = Vec::new();
        let services = touched
            .services
            .iter()
            .map(|name| op(name, self.service_summary(name)))
            .collect();
        out.push((Topic::Services, services));
        let mut per_service: BTreeMap<String, Vec<PatchOp>> = BTreeMap::new();
        for (service, id) in touched.instances {
            let current = self.instances.get(&id).filter(|i| i.service == service);
            per_service.entry(service).or_default().push(op(&id, current));
        }
        for (service, ops) in per_service {
            out.push((Topic::Service(service), ops));
        }
        let locks = touched.locks.iter().map(|name| op(name, self.lock(name))).collect();
        out.push((Topic::Locks, locks));
        let elections = touched
            .elections
            .iter()
            .map(|name| op(name, self.election(name)))
            .collect();
        out.push((Topic::Elections, elections));
        let leases = touched
            .leases
            .iter()
            .map(|id| op(&LeaseId(*id).to_string(), self.lease(*id)))
            .collect();
        out.push((Topic::Leases, leases));
        out
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
            || agg.ids.iter().filter_map(|id| self.instances.get(id)).any(|i| {
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
                .filter_map(|id| self.instances.get(id).cloned())
                .collect(),
        )
    }

    /// Every instance of a service as upserts, in key order.
    pub fn instance_upserts(&self, name: &str) -> Vec<PatchOp> {
        let ids = self.services.get(name).map(|agg| agg.ids.iter()).into_iter().flatten();
        ids.filter_map(|id| self.instances.get(id).map(|i| op(id, Some(i))))
            .collect()
    }

    fn queue(&self, ids: &BTreeSet<(Revision, String)>) -> Vec<&ContenderEntry> {
        ids.iter().filter_map(|(_, id)| self.contenders.get(id)).collect()
    }

    pub fn lock(&self, name: &str) -> Option<Lock> {
        let mut queue = self
            .queue(self.locks.get(name)?)
            .into_iter()
            .map(|e| e.contender.clone());
        Some(Lock {
            name: name.to_owned(),
            holder: queue.next(),
            waiters: queue.collect(),
        })
    }

    pub fn locks(&self) -> Vec<Lock> {
        self.locks.keys().filter_map(|name| self.lock(name)).collect()
    }

    pub fn election(&self, name: &str) -> Option<Election> {
        let mut queue = self.queue(self.elections.get(name)?).into_iter().map(|e| Candidate {
            contender: e.contender.clone(),
            value: e.proposal.clone().unwrap_or_default(),
        });
        Some(Election {
            name: name.to_owned(),
            leader: queue.next(),
            candidates: queue.collect(),
        })
    }

    pub fn elections(&self) -> Vec<Election> {
        self.elections.keys().filter_map(|name| self.election(name)).collect()
    }
}

/// An upsert of `value` under `id`, or a removal when there is none.
pub fn op<T: Serialize>(id: &str, value: Option<T>) -> PatchOp {
    let Some(value) = value else {
        return PatchOp::Remove { id: id.to_owned() };
    };
    match to_raw_value(&value) {
        Ok(value) => PatchOp::Upsert {
            id: id.to_owned(),
            value,
        },
        Err(error) => {
            // Our own types always serialize; if one ever does not, the
            // client loses the entity rather than the whole stream.
            tracing::error!(%error, id, "cannot serialize an entity");
            PatchOp::Remove { id: id.to_owned() }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(index: &mut Index, key: &str, lease: i64) {
        let value = r#"{"id":"x","name":"pay","endpoints":["grpc://10.0.0.1:9000"]}"#;
        let after = KeyValue::sample(key, value).with_lease(lease);
        index.apply(
            ChangeRef::Upserted {
                before: None,
                after: &after,
            },
            None,
            &mut Touched::default(),
        );
    }

    fn sample(index: &mut Index, lease: i64, ttl: i64) {
        let sample = Sample {
            ttl,
            granted_ttl: 60,
            at: String::new(),
        };
        index.apply_sample(lease, sample, &mut Touched::default());
    }

    fn min_ttl(index: &Index) -> Option<i64> {
        index.service_summary("pay").and_then(|s| s.min_ttl)
    }

    #[test]
    fn the_lowest_ttl_follows_samples_and_departures() {
        let mut index = Index::new(Classifier::new(Vec::new()));
        put(&mut index, "/microservices/pay/p1", 1);
        put(&mut index, "/microservices/pay/p2", 2);
        put(&mut index, "/microservices/pay/p3", 0);
        assert_eq!(index.service_summary("pay").map(|s| s.instances), Some(3));
        assert_eq!(min_ttl(&index), None, "not sampled yet");
        sample(&mut index, 1, 40);
        sample(&mut index, 2, 25);
        assert_eq!(min_ttl(&index), Some(25));
        sample(&mut index, 2, 50);
        assert_eq!(min_ttl(&index), Some(40), "a renewed lease is no longer the lowest");
        index.apply(
            ChangeRef::Removed(&KeyValue::sample("/microservices/pay/p1", "")),
            None,
            &mut Touched::default(),
        );
        assert_eq!(min_ttl(&index), Some(50));
        // Registering again on a sampled lease takes its TTL at once.
        put(&mut index, "/microservices/pay/p1", 2);
        assert_eq!(min_ttl(&index), Some(50));
        assert_eq!(index.service_summary("pay").map(|s| s.instances), Some(3));
    }
}
