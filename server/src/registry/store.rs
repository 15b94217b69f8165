//! The readers of the model: [`Store`], cheap to clone, held by REST
//! handlers and WebSocket sessions. It can read everything and change
//! nothing; the one [`Writer`](super::Writer) changes the model.
//!
//! Each read takes the read lock only long enough to copy or serialize what
//! it needs, so every body is one consistent view of the model, marked
//! `stale` while etcd is unreachable.

use std::sync::Arc;

use app::model::{
    ClusterBody, ElectionsBody, EventsBody, Kv, LeaseDetailBody, LeasesBody, LocksBody, Revision, ServiceBody,
    ServicesBody, Topic,
};

use super::kv_topics::to_kv;
use super::mirror::KeyValue;
use super::model::Shared;
use super::views::View;
use crate::hub::{Link, Snapshot, SnapshotError, Snapshots};
use crate::metrics::Metrics;

#[derive(Clone)]
pub struct Store {
    shared: Arc<Shared>,
}

impl Store {
    pub(super) fn new(shared: Arc<Shared>) -> Self {
        Store { shared }
    }

    pub(super) fn view<T>(&self, read: impl FnOnce(&View<'_>) -> T) -> T {
        let stale = !self.link().synced;
        let model = self.shared.read();
        read(&View {
            model: &model,
            classifier: &self.shared.classifier,
            stale,
        })
    }

    /// The classifier this model's keys are read with.
    pub fn classifier(&self) -> super::Classifier {
        self.shared.classifier.clone()
    }

    pub fn metrics(&self) -> &Metrics {
        &self.shared.metrics
    }

    pub fn revision(&self) -> Revision {
        self.shared.revision()
    }

    /// The model's place in the order of updates and its revision, read together.
    pub fn position(&self) -> (u64, Revision) {
        let model = self.shared.read();
        (model.seq, model.revision)
    }

    pub fn link(&self) -> Link {
        self.shared.hub.link()
    }

    /// A key as the API's `KV`, classified as the registry classifies it.
    pub fn kv(&self, kv: &KeyValue) -> Kv {
        to_kv(&self.shared.classifier, kv)
    }

    /// Why `kv` is what [`Store::kv`] says it is.
    pub fn classification(&self, kv: &KeyValue) -> app::model::Classification {
        self.shared.classifier.explain(kv)
    }

    /// `GET /api/v1/cluster`.
    pub fn cluster_body(&self) -> ClusterBody {
        self.view(|v| v.cluster())
    }

    /// `GET /api/v1/metrics-history`: the global series, or `service`'s, at `step` seconds.
    pub fn metrics_history(&self, service: Option<&str>, step: u32) -> app::model::MetricsHistoryBody {
        self.view(|v| v.metrics_history(service, step))
    }

    /// `GET /api/v1/metrics-history?lock=NAME`.
    pub fn lock_history(&self, lock: &str, step: u32) -> app::model::MetricsHistoryBody {
        self.view(|v| v.lock_history(lock, step))
    }

    /// The eviction storm, while one is on.
    pub fn storm(&self) -> Option<app::model::Storm> {
        self.view(|v| v.model.history.storm())
    }

    /// What `/metrics` shows of the model, the `top` largest services by name.
    pub fn model_gauges(&self, top: usize) -> crate::metrics::ModelGauges {
        self.view(|v| v.model_gauges(top))
    }

    /// `GET /api/v1/ops`.
    pub fn ops_body(&self) -> app::model::OpsBody {
        self.view(|v| v.ops())
    }

    /// The active alarms, by member.
    pub fn alarms(&self) -> Vec<app::model::MemberAlarm> {
        self.view(|v| v.model.cluster.alarms.clone())
    }

    /// The newest revision known current at `at` (unix seconds), and since
    /// when Leasehold knows (see `clock.rs`).
    pub fn revision_at(&self, at: u64) -> (Option<app::model::Revision>, Option<u64>) {
        self.view(|v| (v.model.clock.revision_at(at), v.model.clock.since()))
    }

    /// The oldest revision Leasehold's clock still notes.
    pub fn oldest_noted_revision(&self) -> Option<app::model::Revision> {
        self.view(|v| v.model.clock.oldest_revision())
    }

    /// The members the console shows, as one read sees them.
    pub fn ops_members(&self) -> Vec<app::model::OpsMember> {
        self.view(|v| v.model.cluster.ops_members(&v.model.defrag))
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

    /// The keys under `prefix` whose text holds `text` (ASCII letters of any
    /// case), after `after`, at most `limit`, from the model (what is
    /// watched, at its revision): the model's revision, the keys, and
    /// whether more match.
    pub fn search_keys(
        &self,
        prefix: &[u8],
        text: &str,
        after: Option<&[u8]>,
        limit: usize,
    ) -> (Revision, Vec<Kv>, bool) {
        let needle = text.as_bytes();
        let model = self.shared.read();
        let holds = |key: &[u8]| needle.is_empty() || key.windows(needle.len()).any(|w| w.eq_ignore_ascii_case(needle));
        let mut found = model
            .mirror
            .under(prefix)
            .filter(|kv| after.is_none_or(|a| kv.key.as_slice() > a))
            .filter(|kv| holds(&kv.key));
        let items: Vec<Kv> = found.by_ref().take(limit).map(|kv| self.kv(kv)).collect();
        let more = found.next().is_some();
        (model.revision, items, more)
    }

    /// The lock `name` as the model has it now.
    pub fn lock(&self, name: &str) -> Option<app::model::Lock> {
        self.shared.read().index.lock(name)
    }

    /// Waits until the model is at `revision` or later, at most `within`;
    /// `false` when it was not reached by then. For answers that must show
    /// what etcd just said (a refusal's preview).
    pub async fn reach(&self, revision: Revision, within: std::time::Duration) -> bool {
        /// How often the revision is looked at while waiting.
        const STEP: std::time::Duration = std::time::Duration::from_millis(10);
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if self.revision() >= revision {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(STEP).await;
        }
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

    /// `GET /api/v1/events` with a filter or a page: the newest `limit`
    /// matching events after `since` and before revision `before`.
    pub fn events_query(
        &self,
        filter: &app::model::EventFilter,
        since: Revision,
        before: Option<Revision>,
        limit: usize,
    ) -> EventsBody {
        self.view(|v| v.events_query(filter, since, before, limit))
    }

    /// A topic's snapshot: its REST body, serialized once, with its place in
    /// the order of updates. A service with no instance is an empty list.
    pub fn snapshot(&self, topic: &Topic) -> Result<Snapshot, SnapshotError> {
        self.view(|v| v.snapshot(topic))
    }
}

impl Snapshots for Store {
    fn position(&self) -> (u64, Revision) {
        Store::position(self)
    }

    fn snapshot(&self, topic: &Topic) -> Result<Snapshot, SnapshotError> {
        Store::snapshot(self, topic)
    }
}
