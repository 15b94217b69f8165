//! The read side of the store: every REST body and WebSocket snapshot, each
//! built from one consistent read of the model, marked `stale` while etcd is
//! unreachable.

use app::model::{
    ClusterBody, ElectionsBody, EventsBody, Instance, LeaseDetailBody, LeasesBody, LocksBody, Revision, ServiceBody,
    ServicesBody, Topic,
};
use serde::Serialize;
use serde_json::value::{to_raw_value, RawValue};

use super::store::{Model, Store};

/// Events a snapshot of the `events` topic carries, like `GET /events` without `limit`.
const EVENTS_SNAPSHOT: usize = 1000;

/// Instances a `service:<name>` snapshot carries in its first message; the
/// rest follow as upserts, so a page shows its first rows without waiting
/// for a service of 10,000 instances to arrive whole.
pub const SNAPSHOT_FIRST_PART: usize = 200;

/// A topic's full body, serialized, and where it sits in the order of updates.
#[derive(Debug)]
pub struct Snapshot {
    pub seq: u64,
    pub revision: Revision,
    pub data: Box<RawValue>,
    /// The instances `data` leaves out of a large `service:<name>` snapshot,
    /// to send after it as upserts at the same revision; empty when `data` is
    /// whole. Copied in the same read, serialized as they go out.
    pub rest: Vec<Instance>,
}

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("the {0} topic is not served by this version of Leasehold yet")]
    NotServed(Topic),
    #[error("the {0} topic holds more than {1} keys: subscribe to a longer prefix")]
    TooLarge(Topic, usize),
    #[error("the {0} topic's values are over {mib} MiB: subscribe to a longer prefix", mib = .1 >> 20)]
    TooManyBytes(Topic, usize),
    #[error("cannot serialize the {0} topic: {1}")]
    Serialize(Topic, serde_json::Error),
}

impl SnapshotError {
    /// The `code` of the `error` message a session sends for it.
    pub fn code(&self) -> &'static str {
        match self {
            SnapshotError::NotServed(_) => "not_served",
            SnapshotError::TooLarge(..) | SnapshotError::TooManyBytes(..) => "too_large",
            SnapshotError::Serialize(..) => "internal",
        }
    }
}

/// The model as one read sees it.
struct View<'a> {
    model: &'a Model,
    stale: bool,
}

impl View<'_> {
    fn cluster(&self) -> ClusterBody {
        let mut members = self.model.cluster.members.clone();
        members.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
        ClusterBody {
            revision: self.model.revision,
            cluster_id: self.model.cluster.cluster_id,
            leader: self.model.cluster.leader,
            members,
            stale: self.stale,
        }
    }

    fn services(&self, filter: Option<&str>) -> ServicesBody {
        ServicesBody {
            revision: self.model.revision,
            services: self.model.index.service_summaries(filter),
            stale: self.stale,
        }
    }

    /// `None` for a service with no instance.
    fn service(&self, name: &str) -> Option<ServiceBody> {
        Some(ServiceBody {
            revision: self.model.revision,
            name: name.to_owned(),
            instances: self.model.index.service_instances(name)?,
            stale: self.stale,
        })
    }

    fn leases(&self) -> LeasesBody {
        LeasesBody {
            revision: self.model.revision,
            leases: self.model.index.leases(),
            stale: self.stale,
        }
    }

    fn lease(&self, lease: i64) -> Option<LeaseDetailBody> {
        let holdings = self.model.index.lease_holdings(lease)?;
        Some(LeaseDetailBody {
            revision: self.model.revision,
            lease: holdings.lease,
            instances: holdings.instances,
            locks: holdings.locks,
            elections: holdings.elections,
            other_keys: holdings.other_keys,
            stale: self.stale,
        })
    }

    fn locks(&self) -> LocksBody {
        LocksBody {
            revision: self.model.revision,
            locks: self.model.index.locks(),
            stale: self.stale,
        }
    }

    fn elections(&self) -> ElectionsBody {
        ElectionsBody {
            revision: self.model.revision,
            elections: self.model.index.elections(),
            stale: self.stale,
        }
    }

    fn events(&self, since: Revision, limit: usize) -> EventsBody {
        EventsBody {
            revision: self.model.revision,
            events: self.model.events.since(since, limit),
            stale: self.stale,
        }
    }
}

impl Store {
    fn view<T>(&self, read: impl FnOnce(&View<'_>) -> T) -> T {
        let stale = !self.link().synced;
        let model = self.read();
        read(&View { model: &model, stale })
    }

    /// `GET /api/v1/cluster`.
    pub fn cluster_body(&self) -> ClusterBody {
        self.view(|v| v.cluster())
    }

    /// `GET /api/v1/services?q=`: services whose name contains `filter`.
    pub fn services_body(&self, filter: Option<&str>) -> ServicesBody {
        self.view(|v| v.services(filter))
    }

    /// `GET /api/v1/services/{name}`; `None` for a service with no instances.
    pub fn service_body(&self, name: &str) -> Option<ServiceBody> {
        self.view(|v| v.service(name))
    }

    /// `GET /api/v1/leases`.
    pub fn leases_body(&self) -> LeasesBody {
        self.view(|v| v.leases())
    }

    /// `GET /api/v1/leases/{id}`; `None` for a lease the model does not know.
    pub fn lease_detail(&self, lease: i64) -> Option<LeaseDetailBody> {
        self.view(|v| v.lease(lease))
    }

    /// `GET /api/v1/locks`.
    pub fn locks_body(&self) -> LocksBody {
        self.view(|v| v.locks())
    }

    /// `GET /api/v1/elections`.
    pub fn elections_body(&self) -> ElectionsBody {
        self.view(|v| v.elections())
    }

    /// `GET /api/v1/events`: events after `since`, the newest `limit`, oldest first.
    pub fn events_body(&self, since: Revision, limit: usize) -> EventsBody {
        self.view(|v| v.events(since, limit))
    }

    /// A topic's snapshot: its REST body, serialized once, with its place in
    /// the order of updates. A service with no instance is an empty list.
    pub fn snapshot(&self, topic: &Topic) -> Result<Snapshot, SnapshotError> {
        fn raw<T: Serialize>(topic: &Topic, body: &T) -> Result<Box<RawValue>, SnapshotError> {
            to_raw_value(body).map_err(|e| SnapshotError::Serialize(topic.clone(), e))
        }
        self.view(|v| {
            let mut rest = Vec::new();
            let data = match topic {
                Topic::Cluster => raw(topic, &v.cluster())?,
                Topic::Services => raw(topic, &v.services(None))?,
                Topic::Service(name) => {
                    let mut body = v.service(name).unwrap_or_else(|| ServiceBody {
                        revision: v.model.revision,
                        name: name.clone(),
                        instances: Vec::new(),
                        stale: v.stale,
                    });
                    if body.instances.len() > SNAPSHOT_FIRST_PART {
                        rest = body.instances.split_off(SNAPSHOT_FIRST_PART);
                    }
                    raw(topic, &body)?
                }
                Topic::Leases => raw(topic, &v.leases())?,
                Topic::Locks => raw(topic, &v.locks())?,
                Topic::Elections => raw(topic, &v.elections())?,
                Topic::Events => raw(topic, &v.events(0, EVENTS_SNAPSHOT))?,
                Topic::Kv(prefix) => {
                    let body = super::kv::snapshot_body(
                        self.classifier(),
                        &v.model.mirror,
                        topic,
                        prefix,
                        v.model.revision,
                        v.stale,
                    )?;
                    raw(topic, &body)?
                }
                Topic::KvDir(prefix) => {
                    let body = super::kv::dir_snapshot_body(
                        self.classifier(),
                        &v.model.mirror,
                        topic,
                        prefix,
                        v.model.revision,
                        v.stale,
                    )?;
                    raw(topic, &body)?
                }
            };
            Ok(Snapshot {
                seq: v.model.seq,
                revision: v.model.revision,
                data,
                rest,
            })
        })
    }
}
