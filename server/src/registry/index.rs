//! The registry index: instances grouped into services, and contenders
//! grouped into locks and elections, kept up to date key by key from the
//! mirror's changes, so a change costs work in proportion to what it touched,
//! never to the size of the registry.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use app::model::{
    Candidate, Contender, Election, Instance, Layout, Lock, PatchOp, Revision, ServiceSummary,
    Topic,
};
use serde::Serialize;
use serde_json::value::to_raw_value;

use super::classify::{Classifier, Kind};
use super::mirror::{Change, KeyValue};
use super::text::key_id;

/// Counters of one service; the instances themselves live in `Index::instances`.
#[derive(Debug, Default)]
struct ServiceAgg {
    ids: BTreeSet<String>,
    with_lease: usize,
    layouts: BTreeMap<Layout, usize>,
}

#[derive(Debug, Clone)]
struct ContenderEntry {
    name: String,
    proposal: Option<String>,
    contender: Contender,
}

/// What a batch of changes touched, resolved into patches afterwards.
#[derive(Debug, Default)]
pub struct Touched {
    services: BTreeSet<String>,
    /// (service, instance id)
    instances: BTreeSet<(String, String)>,
    locks: BTreeSet<String>,
    elections: BTreeSet<String>,
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
    pub fn apply(&mut self, change: &Change, now: Option<&str>, touched: &mut Touched) {
        match change {
            Change::Upserted { after, .. } => {
                let id = key_id(&after.key);
                let since = self.contenders.get(&id).map(|e| e.contender.since.clone());
                self.remove(&id, touched);
                self.add(
                    id,
                    after,
                    since.unwrap_or_else(|| now.map(str::to_owned)),
                    touched,
                );
            }
            Change::Removed(kv) => self.remove(&key_id(&kv.key), touched),
        }
    }

    fn add(&mut self, id: String, kv: &KeyValue, since: Option<String>, touched: &mut Touched) {
        match self.classifier.classify(kv) {
            Kind::Instance(instance) => {
                let agg = self.services.entry(instance.service.clone()).or_default();
                agg.ids.insert(id.clone());
                agg.with_lease += usize::from(instance.lease.is_some());
                *agg.layouts.entry(instance.layout).or_default() += 1;
                touched.services.insert(instance.service.clone());
                touched
                    .instances
                    .insert((instance.service.clone(), id.clone()));
                self.instances.insert(id, *instance);
            }
            Kind::Contender {
                name,
                lease,
                proposal,
            } => {
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
                    ttl: None,
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
        if let Some(instance) = self.instances.remove(id) {
            if let Some(agg) = self.services.get_mut(&instance.service) {
                agg.ids.remove(id);
                agg.with_lease -= usize::from(instance.lease.is_some());
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
            touched.instances.insert((instance.service, id.to_owned()));
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
            per_service
                .entry(service)
                .or_default()
                .push(op(&id, current));
        }
        for (service, ops) in per_service {
            out.push((Topic::Service(service), ops));
        }
        let locks = touched
            .locks
            .iter()
            .map(|name| op(name, self.lock(name)))
            .collect();
        out.push((Topic::Locks, locks));
        let elections = touched
            .elections
            .iter()
            .map(|name| op(name, self.election(name)))
            .collect();
        out.push((Topic::Elections, elections));
        out
    }

    pub fn service_summary(&self, name: &str) -> Option<ServiceSummary> {
        let agg = self.services.get(name)?;
        Some(ServiceSummary {
            name: name.to_owned(),
            layouts: agg.layouts.keys().copied().collect(),
            instances: agg.ids.len(),
            with_lease: agg.with_lease,
            min_ttl: None,
        })
    }

    /// Every service, sorted by name, optionally only those whose name contains `filter`.
    pub fn service_summaries(&self, filter: Option<&str>) -> Vec<ServiceSummary> {
        self.services
            .keys()
            .filter(|name| filter.is_none_or(|q| name.contains(q)))
            .filter_map(|name| self.service_summary(name))
            .collect()
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

    fn queue(&self, ids: &BTreeSet<(Revision, String)>) -> Vec<&ContenderEntry> {
        ids.iter()
            .filter_map(|(_, id)| self.contenders.get(id))
            .collect()
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
        self.locks
            .keys()
            .filter_map(|name| self.lock(name))
            .collect()
    }

    pub fn election(&self, name: &str) -> Option<Election> {
        let mut queue = self
            .queue(self.elections.get(name)?)
            .into_iter()
            .map(|e| Candidate {
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
        self.elections
            .keys()
            .filter_map(|name| self.election(name))
            .collect()
    }
}

/// An upsert of `value` under `id`, or a removal when there is none.
fn op<T: Serialize>(id: &str, value: Option<T>) -> PatchOp {
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
