//! The registry index: instances grouped into services, and contenders
//! grouped into locks and elections, kept up to date key by key from the
//! mirror's changes, so a change costs work in proportion to what it touched,
//! never to the size of the registry.
//!
//! This file applies changes and turns what they touched into patches;
//! `services.rs` reads services, `holdings.rs` reads leases and what each
//! holds, `joins.rs` shows on instances what the keys beside them say
//! (Moleculer's heartbeats, Patroni's leader and status). Lock and election
//! queues are [`Queues`], next to their key shape.
//!
//! Just over 400 lines: applying a change and turning what it touched into
//! patches read the same private maps and belong together; what only reads
//! them lives in the two files named above.

mod holdings;
mod joins;
mod services;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use app::model::{Contender, Event, Instance, LeaseId, PatchOp, Revision, Topic};

use super::classify::{Classifier, Kind};
use super::coordination::{ContenderEntry, Queues};
use super::events::{events_of, Happenings, InstanceChange, LeaseEnd, QueueKind, QueueNow};
use super::leases::{LeaseTable, Sample};
use super::mirror::{ChangeRef, KeyValue};
use super::text::key_id;
use crate::hub::patch_op as op;

pub use holdings::LeaseHoldings;
use joins::Joins;
use services::ServiceAgg;

/// The instances one key stands for: one, or one per service the key lists
/// (a Moleculer node's INFO), each of another service.
type KeyInstances = smallvec::SmallVec<[Instance; 1]>;

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

#[derive(Debug, Default)]
pub struct Index {
    classifier: Classifier,
    instances: HashMap<String, KeyInstances>,
    services: BTreeMap<String, ServiceAgg>,
    queues: Queues,
    leases: LeaseTable,
    /// Key id -> its lease, for every key that has one (plain keys too).
    key_lease: HashMap<String, i64>,
    joins: Joins,
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
        let (id, key, after) = match change {
            ChangeRef::Upserted { after, .. } => (key_id(&after.key), &after.key, Some(after)),
            ChangeRef::Removed(kv) => (key_id(&kv.key), &kv.key, None),
        };
        let instances_before = if touched.quiet {
            KeyInstances::new()
        } else {
            self.instances.get(&id).cloned().unwrap_or_default()
        };
        let contender_before = self
            .queues
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
        self.follow(&id, key, after, touched);
        let contender_now = self.queues.get(&id).map(|e| (e.queue(), e.name.clone()));
        for (queue, name) in contender_before
            .iter()
            .map(|(q, n, _)| (*q, n))
            .chain(contender_now.iter().map(|(q, n)| (*q, n)))
        {
            self.queues.note_head(queue, name, now);
        }

        if touched.quiet {
            return;
        }
        let happenings = &mut touched.happenings;
        let instances_now = self.instances.get(&id).map(|list| list.as_slice()).unwrap_or_default();
        let of = |list: &[Instance], service: &str| list.iter().position(|i| i.service == service);
        for before in &instances_before {
            match of(instances_now, &before.service).map(|at| &instances_now[at]) {
                None => happenings.instances.push(InstanceChange::Deregistered(before.clone())),
                Some(now) if before.value != now.value || before.lease != now.lease => {
                    happenings.instances.push(InstanceChange::Updated(now.clone()));
                }
                Some(_) => {}
            }
        }
        for now in instances_now {
            if of(&instances_before, &now.service).is_none() {
                happenings.instances.push(InstanceChange::Registered(now.clone()));
            }
        }
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
        let head = self.queues.head(queue, name).map(str::to_owned);
        touched
            .happenings
            .heads_before
            .entry((queue, name.to_owned()))
            .or_insert(head);
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
            let head = self.queues.head(queue, name);
            QueueNow {
                head: head.map(str::to_owned),
                proposal: head.and_then(|id| self.queues.get(id)).and_then(|e| e.proposal.clone()),
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
        match self.classifier.classify(kv) {
            Kind::Instance(instance) => self.insert_instances(id, KeyInstances::from_elem(*instance, 1), touched),
            Kind::Instances(instances) => self.insert_instances(id, KeyInstances::from_vec(instances), touched),
            Kind::Heartbeat(_) => {}
            Kind::Contender {
                name,
                lease,
                proposal,
                holder_only,
            } => {
                let queue = if proposal.is_some() {
                    QueueKind::Election
                } else {
                    QueueKind::Lock
                };
                self.note_queue(queue, &name, touched);
                match queue {
                    QueueKind::Election => touched.elections.insert(name.clone()),
                    QueueKind::Lock => touched.locks.insert(name.clone()),
                };
                let contender = Contender {
                    key: String::from_utf8_lossy(&kv.key).into_owned(),
                    lease,
                    create_revision: kv.create_revision,
                    ttl: self.leases.ttl(kv.lease).0,
                    since,
                };
                self.queues.insert(
                    id,
                    ContenderEntry {
                        name,
                        proposal,
                        holder_only,
                        contender,
                    },
                );
            }
            Kind::Plain => {}
        }
    }

    /// Puts the instances of the key `id` in their services, with their
    /// lease's TTL and what the keys beside them say.
    fn insert_instances(&mut self, id: String, mut instances: KeyInstances, touched: &mut Touched) {
        for instance in &mut instances {
            if let Some(lease) = instance.lease {
                (instance.ttl, instance.granted_ttl) = self.leases.ttl(lease.0);
            }
            self.decorate(instance);
            let agg = self.services.entry(instance.service.clone()).or_default();
            agg.ids.insert(id.clone());
            agg.with_lease += usize::from(instance.lease.is_some());
            agg.count_ttl(instance.ttl);
            *agg.layouts.entry(instance.layout).or_default() += 1;
            touched.services.insert(instance.service.clone());
            if !touched.quiet {
                touched.instances.insert((instance.service.clone(), id.clone()));
            }
        }
        self.instances.insert(id, instances);
    }

    /// The instance of the key `id` in `service`.
    fn instance(&self, id: &str, service: &str) -> Option<&Instance> {
        self.instances.get(id)?.iter().find(|i| i.service == service)
    }

    fn remove(&mut self, id: &str, touched: &mut Touched) {
        if let Some(lease) = self.key_lease.remove(id) {
            self.leases.detach(lease, id);
            touched.leases.insert(lease);
        }
        for instance in self.instances.remove(id).into_iter().flatten() {
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
        if let Some((queue, name)) = self.queues.get(id).map(|e| (e.queue(), e.name.clone())) {
            self.note_queue(queue, &name, touched);
        }
        if let Some(entry) = self.queues.remove(id) {
            match entry.queue() {
                QueueKind::Election => touched.elections.insert(entry.name),
                QueueKind::Lock => touched.locks.insert(entry.name),
            };
        }
    }

    /// Records the leases etcd listed.
    pub fn set_polled_leases(&mut self, listed: &BTreeSet<i64>, touched: &mut Touched) {
        touched.leases.extend(self.leases.set_polled(listed));
    }

    /// Records a TTL sample and refreshes the TTL of everything on the lease.
    pub fn apply_sample(&mut self, lease: i64, sample: Sample, touched: &mut Touched) {
        let ttl = Some(sample.ttl);
        if !self.leases.set_sample(lease, sample) {
            return;
        }
        touched.leases.insert(lease);
        let keys: Vec<String> = self.leases.keys(lease).cloned().collect();
        for id in keys {
            self.refresh(&id, touched);
            if let Some(info) = self.joins.info_of_beat(&id) {
                self.refresh(&info, touched);
            }
            if let Some(entry) = self.queues.get_mut(&id) {
                entry.contender.ttl = ttl;
                if entry.proposal.is_some() {
                    touched.elections.insert(entry.name.clone());
                } else {
                    touched.locks.insert(entry.name.clone());
                }
            }
        }
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
            let current = self.instance(&id, &service);
            per_service.entry(service).or_default().push(op(&id, current));
        }
        for (service, ops) in per_service {
            out.push((Topic::Service(service), ops));
        }
        let locks = touched
            .locks
            .iter()
            .map(|name| op(name, self.queues.lock(name)))
            .collect();
        out.push((Topic::Locks, locks));
        let elections = touched
            .elections
            .iter()
            .map(|name| op(name, self.queues.election(name)))
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

    pub fn lock(&self, name: &str) -> Option<app::model::Lock> {
        self.queues.lock(name)
    }

    pub fn locks(&self) -> Vec<app::model::Lock> {
        self.queues.locks()
    }

    pub fn elections(&self) -> Vec<app::model::Election> {
        self.queues.elections()
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
