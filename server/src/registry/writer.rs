//! The one writer of the model, and the few narrow side writes the model
//! takes from elsewhere.
//!
//! [`Writer`] is not `Clone`: the watcher owns it, and only it lists,
//! applies revisions and reports the link. The side writes each have a
//! handle of their own that can do that one thing and nothing else:
//! [`LeaseSamples`] (the lease sampler's `TimeToLive` answers),
//! [`ClusterStatus`] (the cluster poller), [`Maintenance`] (the maintenance
//! actions: the horizon, the defragmentation's steps), [`Timeline`] (operators' actions,
//! from the audit log) and [`Revocations`] (a revoke request marking its
//! lease). Readers are [`Store`]s.
//!
//! Every write takes the write lock, changes the model, bumps `seq` and
//! publishes the resulting patches to the hub *before* releasing the lock, so
//! the hub sees updates in exactly the order the model went through them.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use app::model::{DefragStep, EtcdState, EventKind, MemberAlarm, MemberId, PatchOp, Revision, Topic};
use serde_json::value::to_raw_value;

use super::classify::Classifier;
use super::cluster_info::{diff_ops, ClusterInfo};
use super::events::LeaseEnd;
use super::history::{HistoryConfig, MemberSample, Published, StormChange};
use super::index::Touched;
use super::leases::Sample;
use super::mirror::{Change, ChangeRef, KvEvent, Mirror};
use super::model::{now_rfc3339, Model, Shared};
use super::store::Store;
use crate::hub::{Hub, Link, Update};
use crate::metrics::Metrics;

/// The model's one writer: lists, revisions and the link to etcd.
pub struct Writer {
    shared: Arc<Shared>,
}

impl Writer {
    pub fn new(hub: Hub, classifier: Classifier, event_history: usize, history: HistoryConfig) -> Self {
        Writer {
            shared: Arc::new(Shared::new(hub, classifier, event_history, history)),
        }
    }

    /// A reader of this model.
    pub fn store(&self) -> Store {
        Store::new(self.shared.clone())
    }

    /// The handle the lease sampler records its answers through.
    pub fn lease_samples(&self) -> LeaseSamples {
        LeaseSamples {
            shared: self.shared.clone(),
        }
    }

    /// The handle the cluster poller records its polls through.
    pub fn cluster_status(&self) -> ClusterStatus {
        ClusterStatus {
            shared: self.shared.clone(),
        }
    }

    /// The handle the maintenance actions record their effects through.
    pub fn maintenance(&self) -> Maintenance {
        Maintenance {
            shared: self.shared.clone(),
        }
    }

    /// The handle that puts operators' actions on the timeline.
    pub fn timeline(&self) -> Timeline {
        Timeline {
            shared: self.shared.clone(),
        }
    }

    /// The handle that closes the history's buckets.
    pub fn history_sampler(&self) -> HistorySampler {
        HistorySampler {
            shared: self.shared.clone(),
        }
    }

    /// The handle a revoke request marks its lease with.
    pub fn revocations(&self) -> Revocations {
        Revocations {
            shared: self.shared.clone(),
        }
    }

    pub fn metrics(&self) -> &Metrics {
        &self.shared.metrics
    }

    /// The model's revision.
    pub fn revision(&self) -> Revision {
        self.shared.revision()
    }

    /// Reports the link state; `synced` only in [`EtcdState::Connected`].
    pub fn set_link(&mut self, state: EtcdState, error: Option<String>) {
        self.shared.hub.set_link(Link {
            state,
            synced: state == EtcdState::Connected,
            error,
        });
    }

    /// Replaces the whole mirror with a fresh list taken at `revision`.
    ///
    /// Used after the first list and after every relist (compaction, lost
    /// stream, etcd gone back in time); the diff against the old mirror is
    /// what clients receive. The model's revision becomes the list's, also
    /// when that is lower (`went_back`): the mirror is etcd at that revision.
    pub fn replace_mirror(&mut self, revision: Revision, next: Mirror, went_back: Option<WentBack>) {
        let shared = &*self.shared;
        let mut guard = shared.write();
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
        if was_loaded && went_back.is_none() {
            model.watched.missed(model.revision, revision);
        } else {
            model.watched.start(revision);
        }
        let changes: Vec<ChangeRef<'_>> = model.mirror.diff(&next).collect();
        for change in &changes {
            model.index.apply(*change, now.as_deref(), &mut touched);
        }
        tracing::debug!(revision, keys = next.len(), changes = changes.len(), "mirror replaced");
        let mut patches = kv_patches(shared, &next, &changes);
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
            // Which revision was current when belongs to the other history.
            model.clock = super::clock::RevisionClock::default();
            tracing::warn!(from = went_back.from, to = went_back.to, cluster_id = ?went_back.cluster_id, "etcd went back in time");
            // What the hub kept from before is another history: every client
            // that saw any of it takes a snapshot instead of resuming.
            shared.hub.start_history(went_back.from.max(revision) + 1);
            events.insert(0, went_back_event(went_back, revision, now.clone().unwrap_or_default()));
        }
        patches.extend(model.index.patches(touched));
        if !was_loaded {
            for topic in shared.hub.watched_topics() {
                if let Topic::Service(name) = &topic {
                    let ops = model.index.instance_upserts(name);
                    patches.push((topic, ops));
                }
            }
        }
        publish_with_events(shared, model, patches, events);
        if !was_loaded {
            shared.hub.start_history(model.revision);
        }
    }

    /// Applies every event of one etcd revision, atomically.
    pub fn apply_revision(&mut self, revision: Revision, events: Vec<KvEvent>, ended: &BTreeMap<i64, LeaseEnd>) {
        let shared = &*self.shared;
        let mut model = shared.write();
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
        patches.extend(kv_patches(shared, &model.mirror, &changes));
        publish_with_events(shared, &mut model, patches, events);
    }

    /// etcd says every event up to `revision` has been delivered (a progress
    /// notification or an empty watch response).
    pub fn advance(&mut self, revision: Revision) {
        let shared = &*self.shared;
        let mut model = shared.write();
        if revision > model.revision {
            model.revision = revision;
            publish(shared, &mut model, Vec::new());
        }
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
        self.shared.read().index.leases_emptied_by(&deleted)
    }

    /// How `lease`, gone from etcd, ended.
    pub fn lease_end(&mut self, lease: i64) -> LeaseEnd {
        if self.shared.take_revoking(lease) {
            LeaseEnd::Revoked
        } else {
            LeaseEnd::Expired
        }
    }
}

/// The lease sampler's side of the model: leases' remaining TTLs.
#[derive(Clone)]
pub struct LeaseSamples {
    shared: Arc<Shared>,
}

impl LeaseSamples {
    pub fn metrics(&self) -> &Metrics {
        &self.shared.metrics
    }

    /// Records the leases etcd's `LeaseLeases` listed.
    pub fn set_polled_leases(&self, listed: &BTreeSet<i64>) {
        let shared = &*self.shared;
        let mut model = shared.write();
        let mut touched = Touched::default();
        model.index.set_polled_leases(listed, &mut touched);
        let patches = model.index.patches(touched);
        publish(shared, &mut model, patches);
    }

    /// Records one `TimeToLive` answer (`ttl` -1: the lease is gone).
    pub fn set_lease_sample(&self, lease: i64, ttl: i64, granted_ttl: i64) {
        let Some(at) = now_rfc3339() else { return };
        let shared = &*self.shared;
        let mut model = shared.write();
        let mut touched = Touched::default();
        model
            .index
            .apply_sample(lease, Sample { ttl, granted_ttl, at }, &mut touched);
        let patches = model.index.patches(touched);
        publish(shared, &mut model, patches);
    }

    /// The leases to sample next (none sampled within `fresh_for`), at most `limit`.
    /// Leases on what clients are looking at come first.
    pub fn sampling_order(&self, limit: usize, fresh_for: std::time::Duration) -> Vec<i64> {
        let watched = self.shared.hub.watched_topics();
        self.shared
            .read()
            .index
            .lease_sampling_order(limit, fresh_for, &watched)
    }
}

/// The cluster poller's side of the model: members, leader, cluster id.
#[derive(Clone)]
pub struct ClusterStatus {
    shared: Arc<Shared>,
}

impl ClusterStatus {
    pub fn metrics(&self) -> &Metrics {
        &self.shared.metrics
    }

    /// Records a fresh poll of the cluster. The horizon stays as known when
    /// the poll did not read it.
    pub fn set(&self, mut next: ClusterInfo) {
        let shared = &*self.shared;
        let mut model = shared.write();
        let ops = model.cluster.diff(&next);
        if next.compact_revision.is_none() {
            next.compact_revision = model.cluster.compact_revision;
        }
        let before = model.cluster.ops_members(&model.defrag);
        let after = next.ops_members(&model.defrag);
        let cluster_changed = model.cluster.cluster_id != next.cluster_id;
        model.cluster = next;
        if cluster_changed {
            let cluster_id = model.cluster.cluster_id.map(|id| id.to_string());
            tracing::info!(
                cluster_id = cluster_id.as_deref().unwrap_or("unknown"),
                "cluster identified"
            );
        }
        publish(
            shared,
            &mut model,
            vec![(Topic::Cluster, ops), (Topic::Ops, diff_ops(&before, &after))],
        );
    }
}

/// The maintenance actions' side of the model: the compaction horizon they
/// moved, and each member's step in a rolling defragmentation.
#[derive(Clone)]
pub struct Maintenance {
    shared: Arc<Shared>,
}

impl Maintenance {
    /// Changes the `ops` part of the model and publishes what changed.
    fn change(&self, edit: impl FnOnce(&mut Model)) {
        let shared = &*self.shared;
        let mut model = shared.write();
        let before = model.cluster.ops_members(&model.defrag);
        edit(&mut model);
        let after = model.cluster.ops_members(&model.defrag);
        publish(shared, &mut model, vec![(Topic::Ops, diff_ops(&before, &after))]);
    }

    /// The horizon after a compaction (never back: another may have gone further).
    pub fn compacted(&self, revision: Revision) {
        self.change(|model| {
            let horizon = model.cluster.compact_revision.unwrap_or(0).max(revision);
            model.cluster.compact_revision = Some(horizon);
        });
    }

    /// The alarms etcd reported after a disarm (the poller reads them again
    /// on its next round).
    pub fn set_alarms(&self, alarms: Vec<MemberAlarm>) {
        self.change(|model| model.cluster.alarms = alarms);
    }

    /// A new roll: these steps replace the last one's.
    pub fn start_defrag(&self, steps: BTreeMap<MemberId, DefragStep>) {
        self.change(|model| model.defrag = steps);
    }

    /// One member's step, as it is now.
    pub fn defrag_step(&self, member: MemberId, step: DefragStep) {
        self.change(|model| {
            model.defrag.insert(member, step);
        });
    }
}

/// The history's clock: closes its buckets, sampling the model's totals,
/// the members and the tracked services into them.
#[derive(Clone)]
pub struct HistorySampler {
    shared: Arc<Shared>,
}

impl HistorySampler {
    /// Stands the history's clock at `now_ms` (unix milliseconds) until it
    /// is moved again, 0 giving it back to the wall clock: for tests and
    /// benchmarks that close an hour of buckets at once.
    pub fn pin_clock(&self, now_ms: i64) {
        self.shared.pin_clock(now_ms);
    }

    /// Closes the bucket before now's, if it is not closed yet, and
    /// publishes its points. Nothing before the first list: the model's
    /// totals are not etcd's yet.
    pub fn tick(&self) {
        let shared = &*self.shared;
        let now_ms = shared.now_ms();
        let mut guard = shared.write();
        let model = &mut *guard;
        if !model.loaded {
            return;
        }
        let at = now_rfc3339().unwrap_or_default();
        let members: Vec<MemberSample> = model
            .cluster
            .members
            .iter()
            .map(|m| MemberSample {
                name: if m.name.is_empty() {
                    m.id.to_string()
                } else {
                    m.name.clone()
                },
                db_size: m.db_size,
                db_size_in_use: model.cluster.health.get(&m.id).and_then(|h| h.db_size_in_use),
                raft_index: m.raft_index,
            })
            .collect();
        let index = &model.index;
        let mut published = model
            .history
            .tick(now_ms, &at, index.totals(), &members, |s| index.instance_count(s));
        for topic in shared.hub.watched_topics() {
            if let Topic::ServiceMetrics(name) = &topic {
                if let Some(ops) = model.history.quiet_appends(name, index.instance_count(name)) {
                    published.services.push((name.clone(), ops));
                }
            }
        }
        let (patches, events) = history_patches(shared, model, published, &at);
        publish_with_events(shared, model, patches, events);
    }
}

/// Closes the history's buckets as they end (just after each 10-second
/// boundary of the wall clock) until `stop`.
pub async fn sample_history(sampler: HistorySampler, stop: tokio_util::sync::CancellationToken) {
    let step_ms = i64::from(app::model::FINE_STEP_SECONDS) * 1000;
    loop {
        let now = sampler.shared.now_ms();
        let next = (now.div_euclid(step_ms) + 1) * step_ms + 50;
        let wait = std::time::Duration::from_millis(u64::try_from(next - now).unwrap_or(1).max(1));
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(wait) => {}
        }
        sampler.tick();
    }
}

/// Operators' actions on the timeline (the audit log's entries).
#[derive(Clone)]
pub struct Timeline {
    shared: Arc<Shared>,
}

impl Timeline {
    /// Puts an operator's action (an audit entry) on the timeline. It carries
    /// the revision the registry was at when it was recorded: the actions are
    /// not etcd's, so they have none of their own.
    pub fn record_action(&self, subject: String, detail: serde_json::Value) {
        let shared = &*self.shared;
        let mut model = shared.write();
        let event = app::model::Event {
            revision: model.revision,
            at: now_rfc3339().unwrap_or_default(),
            kind: EventKind::Audit,
            subject,
            detail,
        };
        publish_with_events(shared, &mut model, Vec::new(), vec![event]);
    }
}

/// Leases Leasehold is revoking, so that their end reads "revoked", not "expired".
#[derive(Clone)]
pub struct Revocations {
    shared: Arc<Shared>,
}

impl Revocations {
    /// Marks `lease` as being revoked by Leasehold (for a minute).
    pub fn note(&self, lease: i64) {
        self.shared.note_revoking(lease);
    }
}

/// The patches `changes` make to the `kv:` and `kv-dir:` topics sessions
/// watch, against `mirror` as it is after them.
fn kv_patches(shared: &Shared, mirror: &Mirror, changes: &[ChangeRef<'_>]) -> Vec<(Topic, Vec<PatchOp>)> {
    let mut patches = super::kv_topics::patches(&shared.hub.kv_prefixes(), &shared.classifier, changes);
    patches.extend(super::kv_dir::dir_patches(
        &shared.hub.kv_dir_prefixes(),
        &shared.classifier,
        mirror,
        changes,
    ));
    patches
}

/// Publishes `patches` at the model's current state. Called with the write
/// lock held so updates reach the hub in model order.
fn publish(shared: &Shared, model: &mut Model, patches: Vec<(Topic, Vec<PatchOp>)>) {
    shared.set_revision(model.revision);
    if let Ok(now) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        model.clock.note(now.as_secs(), model.revision);
    }
    if patches.iter().all(|(_, ops)| ops.is_empty()) {
        return;
    }
    model.seq += 1;
    shared.hub.publish(Update::new(
        model.seq,
        model.revision,
        patches.into_iter().filter(|(_, ops)| !ops.is_empty()).collect(),
    ));
}

/// Adds `events` to the history and publishes them with `patches`.
fn publish_with_events(
    shared: &Shared,
    model: &mut Model,
    mut patches: Vec<(Topic, Vec<PatchOp>)>,
    mut events: Vec<app::model::Event>,
) {
    if !events.is_empty() {
        let now_ms = shared.now_ms();
        let at = now_rfc3339().unwrap_or_default();
        let index = &model.index;
        let (times, published) = model.history.observe(
            &events,
            now_ms,
            &at,
            |service| index.instance_count(service),
            || index.totals().instances,
        );
        shared.metrics.lock_times(&times);
        let counted = published.counted;
        shared
            .metrics
            .instances_changed(counted.registered, counted.deregistered, counted.expired);
        let (more_patches, more_events) = history_patches(shared, model, published, &at);
        patches.extend(more_patches);
        events.extend(more_events);
    }
    let mut appends = Vec::with_capacity(events.len());
    for event in events {
        match to_raw_value(&event) {
            Ok(value) => appends.push(PatchOp::Append { value }),
            Err(error) => tracing::error!(%error, "cannot serialize an event"),
        }
        model.events.push(event);
    }
    patches.push((Topic::Events, appends));
    publish(shared, model, patches);
}

/// The patches and events of what the history wants published: its
/// topics' ops (a service's only while someone watches it) and the storm's
/// start and end, as a `storm` patch and a timeline event.
fn history_patches(
    shared: &Shared,
    model: &Model,
    published: Published,
    at: &str,
) -> (Vec<(Topic, Vec<PatchOp>)>, Vec<app::model::Event>) {
    let mut patches = vec![(Topic::Metrics, published.metrics)];
    if !published.services.is_empty() {
        let watched = shared.hub.watched_topics();
        for (service, ops) in published.services {
            let topic = Topic::ServiceMetrics(service);
            if watched.contains(&topic) {
                patches.push((topic, ops));
            }
        }
    }
    let mut events = Vec::new();
    if let Some(change) = published.storm {
        let upsert = |storm: &app::model::Storm| {
            to_raw_value(storm).ok().map(|value| PatchOp::Upsert {
                id: "storm".to_owned(),
                value,
            })
        };
        let (phase, op, storm) = match change {
            StormChange::Started(storm) => (Some("started"), upsert(&storm), storm),
            StormChange::Grew(storm) => (None, upsert(&storm), storm),
            StormChange::Ended(storm) => (Some("ended"), Some(PatchOp::Remove { id: "storm".to_owned() }), storm),
        };
        shared.metrics.storm(model.history.storm().is_some());
        patches.push((Topic::Storm, op.into_iter().collect()));
        if let Some(phase) = phase {
            tracing::warn!(phase, expired = storm.expired, since = %storm.since, "eviction storm");
            events.push(app::model::Event {
                revision: model.revision,
                at: at.to_owned(),
                kind: EventKind::EvictionStorm,
                subject: "registry".to_owned(),
                detail: serde_json::json!({
                    "phase": phase,
                    "since": storm.since,
                    "services": storm.services,
                    "expired": storm.expired,
                    "instances": storm.instances,
                    "window_seconds": storm.window_seconds,
                }),
            });
        }
    }
    (patches, events)
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
        kind: EventKind::EtcdWentBack,
        subject: "etcd".to_owned(),
        detail: serde_json::json!({
            "from_revision": went_back.from,
            "to_revision": went_back.to,
            "cluster_id": cluster_id,
            "message": format!("{what}; the registry was listed again"),
        }),
    }
}
