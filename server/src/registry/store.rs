//! The store: the one writer of the model, and its cheap readers.
//!
//! Writers (the watcher, the cluster poller) call the `apply_*`/`set_*`
//! methods; each takes the write lock, changes the model, bumps `seq` and
//! publishes the resulting patches to the hub *before* releasing the lock, so
//! the hub sees updates in exactly the order the model went through them.
//! Readers (REST handlers, sessions taking snapshots) take the read lock only
//! long enough to serialize what they need.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use app::model::{EtcdState, PatchOp, Revision, Topic};
use serde_json::value::to_raw_value;

use super::classify::Classifier;
use super::cluster::ClusterInfo;
use super::events::{EventLog, LeaseEnd};
use super::index::{Index, Touched};
use super::leases::Sample;
use super::mirror::{Change, ChangeRef, KvEvent, Mirror};
use crate::hub::{Hub, Link, Update};
use crate::metrics::Metrics;

/// Everything Leasehold knows, at one revision.
#[derive(Debug, Default)]
pub(super) struct Model {
    /// Bumped on every published change; sessions order snapshots against updates by it.
    pub(super) seq: u64,
    pub(super) revision: Revision,
    pub(super) cluster: ClusterInfo,
    pub(super) mirror: Mirror,
    pub(super) index: Index,
    /// The first list is done: keys seen from now on are new to this server.
    pub(super) loaded: bool,
    pub(super) events: EventLog,
    /// Leases Leasehold is revoking, so their end reads "revoked", not "expired".
    pub(super) revoking: Vec<(i64, std::time::Instant)>,
}

/// How long a revoke request marks its lease.
const REVOKING_FOR: std::time::Duration = std::time::Duration::from_secs(60);

#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    hub: Hub,
    metrics: Metrics,
    /// std RwLock: never held across an await, and sections are short.
    model: RwLock<Model>,
    /// The model's revision, readable without the lock (status ticks read it
    /// once a second per session).
    revision: AtomicI64,
    /// The index's classifier, for the `kind` of keys read outside the index.
    classifier: Classifier,
}

impl Store {
    pub fn new(hub: Hub, classifier: Classifier, event_history: usize) -> Self {
        let model = Model {
            index: Index::new(classifier.clone()),
            events: EventLog::new(event_history),
            ..Model::default()
        };
        Store {
            inner: Arc::new(Inner {
                hub,
                metrics: Metrics::default(),
                model: RwLock::new(model),
                revision: AtomicI64::new(0),
                classifier,
            }),
        }
    }

    pub(super) fn read(&self) -> RwLockReadGuard<'_, Model> {
        self.inner.model.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Model> {
        self.inner.model.write().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn hub(&self) -> &Hub {
        &self.inner.hub
    }

    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    pub(super) fn classifier(&self) -> &Classifier {
        &self.inner.classifier
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

    /// Publishes `patches` at the model's current state. Called with the write
    /// lock held so updates reach the hub in model order.
    fn publish(&self, model: &mut Model, patches: Vec<(Topic, Vec<PatchOp>)>) {
        self.inner.revision.store(model.revision, Ordering::Release);
        if patches.iter().all(|(_, ops)| ops.is_empty()) {
            return;
        }
        model.seq += 1;
        self.inner.hub.publish(Update::new(
            model.seq,
            model.revision,
            patches.into_iter().filter(|(_, ops)| !ops.is_empty()).collect(),
        ));
    }

    /// Replaces the whole mirror with a fresh list taken at `revision`.
    ///
    /// Used after the first list and after every relist (compaction, lost
    /// stream, etcd gone back in time); the diff against the old mirror is
    /// what clients receive. The model's revision becomes the list's, also
    /// when that is lower (`went_back`): the mirror is etcd at that revision.
    pub fn replace_mirror(&self, revision: Revision, next: Mirror, went_back: Option<WentBack>) {
        let mut guard = self.write();
        let model = &mut *guard;
        let was_loaded = model.loaded;
        let now = was_loaded.then(now_rfc3339).flatten();
        // The first list is what predates the server: it makes no events, and
        // instances reach only the sessions already watching their service
        // (below), instead of a patch per instance that nobody may read.
        let mut touched = if was_loaded {
            Touched::default()
        } else {
            Touched::quiet()
        };
        let changes: Vec<ChangeRef<'_>> = model.mirror.diff(&next).collect();
        for change in &changes {
            model.index.apply(*change, now.as_deref(), &mut touched);
        }
        tracing::debug!(revision, keys = next.len(), changes = changes.len(), "mirror replaced");
        let mut patches = super::kv::patches(self.hub(), self.classifier(), &changes);
        patches.extend(super::kv::dir_patches(self.hub(), self.classifier(), &next, &changes));
        drop(changes);
        model.mirror = next;
        model.loaded = true;
        model.revision = revision;
        // A relist's differences are what happened while the watch was lost.
        let mut events = match &now {
            Some(at) => model.index.events(&touched, &BTreeMap::new(), model.revision, at),
            None => Vec::new(),
        };
        if let Some(went_back) = went_back {
            tracing::warn!(from = went_back.from, to = went_back.to, cluster_id = ?went_back.cluster_id, "etcd went back in time");
            // What the hub kept from before is another history: every client
            // that saw any of it takes a snapshot instead of resuming.
            self.inner.hub.start_history(went_back.from.max(revision) + 1);
            events.insert(0, went_back_event(went_back, revision, now.clone().unwrap_or_default()));
        }
        patches.extend(model.index.patches(touched));
        if !was_loaded {
            for topic in self.inner.hub.watched_topics() {
                if let Topic::Service(name) = &topic {
                    let ops = model.index.instance_upserts(name);
                    patches.push((topic, ops));
                }
            }
        }
        self.publish_with_events(model, patches, events);
        if !was_loaded {
            self.inner.hub.start_history(model.revision);
        }
    }

    /// Applies every event of one etcd revision, atomically.
    pub fn apply_revision(&self, revision: Revision, events: Vec<KvEvent>, ended: &BTreeMap<i64, LeaseEnd>) {
        let mut model = self.write();
        // The watcher's one watch delivers each revision once, in order. One
        // below the model's can still come after a progress notification
        // that overtook it (etcd 3.4 before 3.4.24 answers a progress request
        // before a catching-up watch has sent everything): it is applied, not
        // dropped, and the model keeps the higher revision.
        let now = now_rfc3339();
        let mut touched = Touched::default();
        let mut changes = Vec::with_capacity(events.len());
        for event in events {
            if let Some(change) = model.mirror.apply(event) {
                model.index.apply(change.as_ref(), now.as_deref(), &mut touched);
                changes.push(change);
            }
        }
        model.revision = model.revision.max(revision);
        let events = match &now {
            Some(at) => model.index.events(&touched, ended, revision, at),
            None => Vec::new(),
        };
        let mut patches = model.index.patches(touched);
        let changes: Vec<ChangeRef<'_>> = changes.iter().map(Change::as_ref).collect();
        patches.extend(super::kv::patches(self.hub(), self.classifier(), &changes));
        patches.extend(super::kv::dir_patches(
            self.hub(),
            self.classifier(),
            &model.mirror,
            &changes,
        ));
        self.publish_with_events(&mut model, patches, events);
    }

    /// Puts an operator's action (an audit entry) on the timeline. It carries
    /// the revision the registry was at when it was recorded: the actions are
    /// not etcd's, so they have none of their own.
    pub fn record_action(&self, subject: String, detail: serde_json::Value) {
        let mut model = self.write();
        let event = app::model::Event {
            revision: model.revision,
            at: now_rfc3339().unwrap_or_default(),
            kind: "audit".to_owned(),
            subject,
            detail,
        };
        self.publish_with_events(&mut model, Vec::new(), vec![event]);
    }

    /// Adds `events` to the history and publishes them with `patches`.
    fn publish_with_events(
        &self,
        model: &mut Model,
        mut patches: Vec<(Topic, Vec<PatchOp>)>,
        events: Vec<app::model::Event>,
    ) {
        let mut appends = Vec::with_capacity(events.len());
        for event in events {
            match to_raw_value(&event) {
                Ok(value) => appends.push(PatchOp::Append { value }),
                Err(error) => tracing::error!(%error, "cannot serialize an event"),
            }
            model.events.push(event);
        }
        patches.push((Topic::Events, appends));
        self.publish(model, patches);
    }

    /// Leases whose every key is deleted by `events`: they may have expired
    /// or been revoked, which only etcd can tell.
    pub fn leases_emptied_by(&self, events: &[KvEvent]) -> Vec<i64> {
        let deleted: Vec<String> = events
            .iter()
            .filter_map(|e| match e {
                KvEvent::Delete { key } => Some(super::text::key_id(key)),
                KvEvent::Put(_) => None,
            })
            .collect();
        if deleted.is_empty() {
            return Vec::new();
        }
        self.read().index.leases_emptied_by(&deleted)
    }

    /// Marks `lease` as being revoked by Leasehold.
    pub fn note_revoking(&self, lease: i64) {
        let mut model = self.write();
        model.revoking.retain(|(_, at)| at.elapsed() < REVOKING_FOR);
        model.revoking.push((lease, std::time::Instant::now()));
    }

    /// How `lease`, gone from etcd, ended.
    pub fn lease_end(&self, lease: i64) -> LeaseEnd {
        let mut model = self.write();
        let before = model.revoking.len();
        model.revoking.retain(|(id, _)| *id != lease);
        if model.revoking.len() < before {
            LeaseEnd::Revoked
        } else {
            LeaseEnd::Expired
        }
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

    /// Records the leases etcd's `LeaseLeases` listed.
    pub fn set_polled_leases(&self, listed: &std::collections::BTreeSet<i64>) {
        let mut model = self.write();
        let mut touched = Touched::default();
        model.index.set_polled_leases(listed, &mut touched);
        let patches = model.index.patches(touched);
        self.publish(&mut model, patches);
    }

    /// Records one `TimeToLive` answer (`ttl` -1: the lease is gone).
    pub fn set_lease_sample(&self, lease: i64, ttl: i64, granted_ttl: i64) {
        let Some(at) = now_rfc3339() else { return };
        let mut model = self.write();
        let mut touched = Touched::default();
        model
            .index
            .apply_sample(lease, Sample { ttl, granted_ttl, at }, &mut touched);
        let patches = model.index.patches(touched);
        self.publish(&mut model, patches);
    }

    /// The leases to sample next (none sampled within `fresh_for`), at most `limit`.
    /// Leases on what clients are looking at come first.
    pub fn lease_sampling_order(&self, limit: usize, fresh_for: std::time::Duration) -> Vec<i64> {
        let watched = self.inner.hub.watched_topics();
        self.read().index.lease_sampling_order(limit, fresh_for, &watched)
    }

    /// Records a fresh poll of the cluster.
    pub fn set_cluster(&self, next: ClusterInfo) {
        let mut model = self.write();
        let ops = model.cluster.diff(&next);
        let cluster_changed = model.cluster.cluster_id != next.cluster_id;
        model.cluster = next;
        if cluster_changed {
            let cluster_id = model.cluster.cluster_id.map(|id| id.to_string());
            tracing::info!(
                cluster_id = cluster_id.as_deref().unwrap_or("unknown"),
                "cluster identified"
            );
        }
        self.publish(&mut model, vec![(Topic::Cluster, ops)]);
    }
}

/// etcd's revision went back, or its cluster changed, between two lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WentBack {
    /// The revision the mirror showed.
    pub from: Revision,
    /// The revision of the new list.
    pub to: Revision,
    /// The new cluster's id, when it is another cluster.
    pub cluster_id: Option<u64>,
}

/// The timeline's record of etcd going back in time.
fn went_back_event(went_back: WentBack, revision: Revision, at: String) -> app::model::Event {
    let cluster_id = went_back.cluster_id.map(|id| format!("{id:x}"));
    let (from, to) = (went_back.from, went_back.to);
    let what = if cluster_id.is_some() {
        format!("another cluster answers at the same endpoints (revision {from} before, {to} now)")
    } else {
        format!(
            "etcd's revision went back from {from} to {to}: it was restored from a backup, or another cluster \
             answers at the same endpoints"
        )
    };
    app::model::Event {
        revision,
        at,
        kind: "etcd_went_back".to_owned(),
        subject: "etcd".to_owned(),
        detail: serde_json::json!({
            "from_revision": went_back.from,
            "to_revision": went_back.to,
            "cluster_id": cluster_id,
            "message": format!("{what}; the registry was listed again"),
        }),
    }
}

/// Now, as API.md writes times: RFC 3339 in UTC, whole seconds.
pub fn now_rfc3339() -> Option<String> {
    let now = time::OffsetDateTime::now_utc().replace_nanosecond(0).ok()?;
    now.format(&time::format_description::well_known::Rfc3339).ok()
}
