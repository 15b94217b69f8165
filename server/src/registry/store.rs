//! The store: the one writer of the model, and its cheap readers.
//!
//! Writers (the watcher, the cluster poller) call the `apply_*`/`set_*`
//! methods; each takes the write lock, changes the model, bumps `seq` and
//! publishes the resulting patches to the hub *before* releasing the lock, so
//! the hub sees updates in exactly the order the model went through them.
//! Readers (REST handlers, sessions taking snapshots) take the read lock only
//! long enough to serialize what they need.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use app::model::{ClusterBody, EtcdState, PatchOp, Revision, Topic};
use serde_json::value::{to_raw_value, RawValue};

use super::cluster::ClusterInfo;
use super::mirror::{KeyValue, KvEvent, Mirror};
use crate::hub::{Hub, Link, Update};

/// Everything Leasehold knows, at one revision.
#[derive(Debug, Default)]
struct Model {
    /// Bumped on every published change; sessions order snapshots against updates by it.
    seq: u64,
    revision: Revision,
    cluster: ClusterInfo,
    mirror: Mirror,
}

/// A topic's full body, serialized, and where it sits in the order of updates.
#[derive(Debug)]
pub struct Snapshot {
    pub seq: u64,
    pub revision: Revision,
    pub data: Box<RawValue>,
}

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("the {0} topic is not served by this version of Leasehold yet")]
    NotServed(Topic),
    #[error("cannot serialize the {0} topic: {1}")]
    Serialize(Topic, serde_json::Error),
}

#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    hub: Hub,
    /// std RwLock: never held across an await, and sections are short.
    model: RwLock<Model>,
    /// The model's revision, readable without the lock (status ticks read it
    /// once a second per session).
    revision: AtomicI64,
}

impl Store {
    pub fn new(hub: Hub) -> Self {
        Store {
            inner: Arc::new(Inner {
                hub,
                model: RwLock::default(),
                revision: AtomicI64::new(0),
            }),
        }
    }

    fn read(&self) -> RwLockReadGuard<'_, Model> {
        self.inner.model.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Model> {
        self.inner.model.write().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn hub(&self) -> &Hub {
        &self.inner.hub
    }

    pub fn revision(&self) -> Revision {
        self.inner.revision.load(Ordering::Acquire)
    }

    /// The model's place in the order of updates and its revision, read together.
    pub fn position(&self) -> (u64, Revision) {
        let model = self.read();
        (model.seq, model.revision)
    }

    pub fn link(&self) -> Link {
        self.inner.hub.link()
    }

    /// Reports the link state; `synced` only in [`EtcdState::Connected`].
    pub fn set_link(&self, state: EtcdState, error: Option<String>) {
        self.inner.hub.set_link(Link {
            state,
            synced: state == EtcdState::Connected,
            error,
        });
    }

    /// Number of keys mirrored.
    pub fn key_count(&self) -> usize {
        self.read().mirror.len()
    }

    /// The mirrored key, if present.
    pub fn key(&self, key: &[u8]) -> Option<KeyValue> {
        self.read().mirror.get(key).cloned()
    }

    /// Publishes `patches` at the model's current state. Called with the write
    /// lock held so updates reach the hub in model order.
    fn publish(&self, model: &mut Model, patches: Vec<(Topic, Vec<PatchOp>)>) {
        self.inner.revision.store(model.revision, Ordering::Release);
        if patches.iter().all(|(_, ops)| ops.is_empty()) {
            return;
        }
        model.seq += 1;
        self.inner.hub.publish(Update {
            seq: model.seq,
            revision: model.revision,
            patches: patches.into_iter().filter(|(_, ops)| !ops.is_empty()).collect(),
        });
    }

    /// Replaces the whole mirror with a fresh list taken at `revision`.
    ///
    /// Used after the first list and after every relist (compaction, lost
    /// stream); the diff against the old mirror is what clients receive.
    pub fn replace_mirror(&self, revision: Revision, next: Mirror) {
        let mut model = self.write();
        let changes = model.mirror.diff(&next);
        tracing::debug!(revision, keys = next.len(), changes = changes.len(), "mirror replaced");
        model.mirror = next;
        model.revision = model.revision.max(revision);
        // Registry topics (services, leases, ...) derive their patches from
        // `changes` once they are served.
        self.publish(&mut model, Vec::new());
    }

    /// Applies every event of one etcd revision, atomically.
    pub fn apply_revision(&self, revision: Revision, events: Vec<KvEvent>) {
        let mut model = self.write();
        if revision <= model.revision {
            // Already reflected (a resumed watch may repeat the list's revision).
            return;
        }
        for event in events {
            model.mirror.apply(event);
        }
        model.revision = revision;
        self.publish(&mut model, Vec::new());
    }

    /// etcd says every event up to `revision` has been delivered (a progress
    /// notification or an empty watch response).
    pub fn advance(&self, revision: Revision) {
        let mut model = self.write();
        if revision > model.revision {
            model.revision = revision;
            self.publish(&mut model, Vec::new());
        }
    }

    /// Records a fresh poll of the cluster.
    pub fn set_cluster(&self, next: ClusterInfo) {
        let mut model = self.write();
        let ops = model.cluster.diff(&next);
        let cluster_changed = model.cluster.cluster_id != next.cluster_id;
        model.cluster = next;
        if cluster_changed {
            tracing::info!(cluster_id = ?model.cluster.cluster_id, "cluster id changed");
        }
        self.publish(&mut model, vec![(Topic::Cluster, ops)]);
    }

    /// The `GET /api/v1/cluster` body.
    pub fn cluster_body(&self) -> ClusterBody {
        let stale = !self.link().synced;
        let model = self.read();
        cluster_body(&model, stale)
    }

    /// A topic's snapshot: its REST body, serialized once.
    pub fn snapshot(&self, topic: &Topic) -> Result<Snapshot, SnapshotError> {
        let stale = !self.link().synced;
        let model = self.read();
        let data = match topic {
            Topic::Cluster => to_raw_value(&cluster_body(&model, stale)),
            other => return Err(SnapshotError::NotServed(other.clone())),
        }
        .map_err(|e| SnapshotError::Serialize(topic.clone(), e))?;
        Ok(Snapshot {
            seq: model.seq,
            revision: model.revision,
            data,
        })
    }
}

fn cluster_body(model: &Model, stale: bool) -> ClusterBody {
    let mut members = model.cluster.members.clone();
    members.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
    ClusterBody {
        revision: model.revision,
        cluster_id: model.cluster.cluster_id,
        leader: model.cluster.leader,
        members,
        stale,
    }
}
