//! The model's data, and the one place it is kept: [`Shared`], which the
//! [`Writer`](super::Writer) changes and every [`Store`](super::Store) reads.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Mutex, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use app::model::Revision;

use super::classify::Classifier;
use super::cluster_info::ClusterInfo;
use super::events::EventLog;
use super::history::HistoryConfig;
use super::index::Index;
use crate::hub::Hub;
use crate::metrics::Metrics;

/// Everything Leasehold knows, at one revision.
#[derive(Debug)]
pub(super) struct Model {
    /// Bumped on every published change; sessions order snapshots against updates by it.
    pub(super) seq: u64,
    pub(super) revision: Revision,
    pub(super) cluster: ClusterInfo,
    /// Each member's part in the last rolling defragmentation.
    pub(super) defrag: std::collections::BTreeMap<app::model::MemberId, app::model::DefragStep>,
    pub(super) mirror: super::mirror::Mirror,
    pub(super) index: Index,
    /// The first list is done: keys seen from now on are new to this server.
    pub(super) loaded: bool,
    pub(super) events: EventLog,
    /// Which revision was current when: compactions "keep the last hour".
    pub(super) clock: super::clock::RevisionClock,
    /// Time series of the registry and the cluster, and the eviction storm.
    pub(super) history: super::history::History,
    /// Which revisions the timeline saw one by one.
    pub(super) watched: super::deletions::Watched,
}

/// How long a revoke request marks its lease.
const REVOKING_FOR: Duration = Duration::from_secs(60);

/// What the writer and the readers share.
pub(super) struct Shared {
    pub(super) hub: Hub,
    pub(super) metrics: Metrics,
    /// std RwLock: never held across an await, and sections are short.
    model: RwLock<Model>,
    /// The model's revision, readable without the lock (status ticks read it
    /// once a second per session).
    revision: AtomicI64,
    /// The index's classifier, for the `kind` of keys read outside the index.
    pub(super) classifier: Classifier,
    /// Leases Leasehold is revoking, so their end reads "revoked", not
    /// "expired". Not part of the model: nothing on screen shows it.
    revoking: Mutex<Vec<(i64, Instant)>>,
    /// The history's clock pinned at these unix milliseconds (tests and
    /// benchmarks); 0: the wall clock.
    pinned_ms: AtomicI64,
}

impl Shared {
    pub(super) fn new(hub: Hub, classifier: Classifier, event_history: usize, history: HistoryConfig) -> Self {
        let model = Model {
            seq: 0,
            revision: 0,
            cluster: ClusterInfo::default(),
            defrag: std::collections::BTreeMap::new(),
            mirror: super::mirror::Mirror::default(),
            index: Index::new(classifier.clone()),
            loaded: false,
            events: EventLog::new(event_history),
            clock: super::clock::RevisionClock::default(),
            history: super::history::History::new(history),
            watched: super::deletions::Watched::default(),
        };
        Shared {
            hub,
            metrics: Metrics::default(),
            model: RwLock::new(model),
            revision: AtomicI64::new(0),
            classifier,
            revoking: Mutex::default(),
            pinned_ms: AtomicI64::new(0),
        }
    }

    /// Now for the history, in unix milliseconds.
    pub(super) fn now_ms(&self) -> i64 {
        match self.pinned_ms.load(Ordering::Relaxed) {
            0 => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
            pinned => pinned,
        }
    }

    pub(super) fn pin_clock(&self, now_ms: i64) {
        self.pinned_ms.store(now_ms, Ordering::Relaxed);
    }

    pub(super) fn read(&self) -> RwLockReadGuard<'_, Model> {
        self.model.read().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn write(&self) -> RwLockWriteGuard<'_, Model> {
        self.model.write().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn revision(&self) -> Revision {
        self.revision.load(Ordering::Acquire)
    }

    pub(super) fn set_revision(&self, revision: Revision) {
        self.revision.store(revision, Ordering::Release);
    }

    /// Marks `lease` as being revoked by Leasehold.
    pub(super) fn note_revoking(&self, lease: i64) {
        let mut revoking = self.revoking.lock().unwrap_or_else(PoisonError::into_inner);
        revoking.retain(|(_, at)| at.elapsed() < REVOKING_FOR);
        revoking.push((lease, Instant::now()));
    }

    /// Whether `lease` was being revoked by Leasehold; forgets the mark.
    pub(super) fn take_revoking(&self, lease: i64) -> bool {
        let mut revoking = self.revoking.lock().unwrap_or_else(PoisonError::into_inner);
        let before = revoking.len();
        revoking.retain(|(id, _)| *id != lease);
        revoking.len() < before
    }
}

/// Now, as the API writes times: RFC 3339 in UTC, whole seconds.
pub fn now_rfc3339() -> Option<String> {
    let now = time::OffsetDateTime::now_utc().replace_nanosecond(0).ok()?;
    now.format(&time::format_description::well_known::Rfc3339).ok()
}
