//! Every REST body and WebSocket snapshot, built from one read of the model
//! ([`View`]): pure functions of what the [`Store`](super::Store) read.

use app::model::{
    ClusterBody, ElectionsBody, EventFilter, EventsBody, LeaseDetailBody, LeasesBody, LocksBody, Revision, ServiceBody,
    ServicesBody, Topic,
};
use serde::Serialize;
use serde_json::value::{to_raw_value, RawValue};

use super::classify::Classifier;
use super::kv_dir::dir_snapshot_body;
use super::kv_topics::snapshot_body;
use super::model::Model;
use crate::hub::{Snapshot, SnapshotError};

/// Events a snapshot of the `events` topic carries, like `GET /events` without `limit`.
const EVENTS_SNAPSHOT: usize = 1000;

/// Instances a `service:<name>` snapshot carries in its first message; the
/// rest follow as upserts, so a page shows its first rows without waiting
/// for a service of 10,000 instances to arrive whole.
pub const SNAPSHOT_FIRST_PART: usize = 200;

/// The lock whose holder took it longest ago, and how many seconds ago.
fn longest_hold(locks: &[app::model::Lock]) -> Option<(String, f64)> {
    let rfc3339 = &time::format_description::well_known::Rfc3339;
    let now = time::OffsetDateTime::now_utc();
    locks
        .iter()
        .filter_map(|lock| {
            let since = time::OffsetDateTime::parse(lock.holder_since.as_deref()?, rfc3339).ok()?;
            Some((lock.name.clone(), (now - since).as_seconds_f64().max(0.0)))
        })
        .max_by(|a, b| a.1.total_cmp(&b.1))
}

/// The model as one read sees it.
pub(super) struct View<'a> {
    pub(super) model: &'a Model,
    pub(super) classifier: &'a Classifier,
    pub(super) stale: bool,
}

impl View<'_> {
    pub(super) fn cluster(&self) -> ClusterBody {
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

    /// `GET /api/v1/metrics-history`: the global series, or `service`'s.
    pub(super) fn metrics_history(&self, service: Option<&str>, step: u32) -> app::model::MetricsHistoryBody {
        let history = &self.model.history;
        let (series, losses, untracked) = match service {
            None => {
                let (series, losses) = history.global_series(step);
                (series, losses, false)
            }
            Some(name) => match history.service_series(name, step, self.model.index.instance_count(name)) {
                Some(series) => (series, Vec::new(), false),
                None => (Vec::new(), Vec::new(), true),
            },
        };
        app::model::MetricsHistoryBody {
            revision: self.model.revision,
            series,
            losses,
            untracked,
        }
    }

    /// A lock's holds and waits; `untracked` when the history does not follow it.
    pub(super) fn lock_history(&self, lock: &str, step: u32) -> app::model::MetricsHistoryBody {
        let series = self.model.history.lock_series(lock, step);
        app::model::MetricsHistoryBody {
            revision: self.model.revision,
            untracked: series.is_none(),
            series: series.unwrap_or_default(),
            losses: Vec::new(),
        }
    }

    /// The `storm` topic's body.
    pub(super) fn storm(&self) -> app::model::StormBody {
        app::model::StormBody {
            revision: self.model.revision,
            storm: self.model.history.storm(),
        }
    }

    /// What `/metrics` shows of the model: the `top` largest services (by
    /// instances, then name), the rest as one, members' db sizes, alarms.
    pub(super) fn model_gauges(&self, top: usize) -> crate::metrics::ModelGauges {
        let mut services: Vec<(&str, usize)> = self.model.index.instance_counts().collect();
        services.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        let other_instances = services.iter().skip(top).map(|(_, n)| n).sum();
        services.truncate(top);
        let name_of = |id: app::model::MemberId| {
            self.model
                .cluster
                .members
                .iter()
                .find(|m| m.id == id && !m.name.is_empty())
                .map_or_else(|| id.to_string(), |m| m.name.clone())
        };
        crate::metrics::ModelGauges {
            services: services.into_iter().map(|(name, n)| (name.to_owned(), n)).collect(),
            other_instances,
            db_sizes: self
                .model
                .cluster
                .members
                .iter()
                .filter_map(|m| Some((name_of(m.id), m.db_size?)))
                .collect(),
            alarms: self
                .model
                .cluster
                .alarms
                .iter()
                .map(|a| (name_of(a.member), a.alarm.as_str().to_owned()))
                .collect(),
            history_bytes: self.model.history.heap_bytes(),
            longest_hold: longest_hold(&self.model.index.locks()),
        }
    }

    pub(super) fn ops(&self) -> app::model::OpsBody {
        let members = self.model.cluster.ops_members(&self.model.defrag);
        let quota_bytes = members
            .iter()
            .map(|m| m.quota_bytes)
            .min()
            .unwrap_or(app::model::DEFAULT_QUOTA_BYTES);
        app::model::OpsBody {
            revision: self.model.revision,
            quota_bytes,
            compact_revision: self.model.cluster.compact_revision,
            members,
            stale: self.stale,
        }
    }

    pub(super) fn services(&self, filter: Option<&str>) -> ServicesBody {
        ServicesBody {
            revision: self.model.revision,
            services: self.model.index.service_summaries(filter),
            stale: self.stale,
            as_of: false,
        }
    }

    /// `None` for a service with no instance.
    pub(super) fn service(&self, name: &str) -> Option<ServiceBody> {
        Some(ServiceBody {
            revision: self.model.revision,
            name: name.to_owned(),
            instances: self.model.index.service_instances(name)?,
            stale: self.stale,
            as_of: false,
        })
    }

    pub(super) fn leases(&self) -> LeasesBody {
        LeasesBody {
            revision: self.model.revision,
            leases: self.model.index.leases(),
            stale: self.stale,
            as_of: false,
        }
    }

    pub(super) fn lease(&self, lease: i64) -> Option<LeaseDetailBody> {
        let holdings = self.model.index.lease_holdings(lease)?;
        Some(LeaseDetailBody {
            revision: self.model.revision,
            lease: holdings.lease,
            instances: holdings.instances,
            locks: holdings.locks,
            elections: holdings.elections,
            other_keys: holdings.other_keys,
            keys: holdings.keys,
            stale: self.stale,
        })
    }

    pub(super) fn locks(&self) -> LocksBody {
        LocksBody {
            revision: self.model.revision,
            locks: self.model.index.locks(),
            stale: self.stale,
            as_of: false,
        }
    }

    pub(super) fn elections(&self) -> ElectionsBody {
        ElectionsBody {
            revision: self.model.revision,
            elections: self.model.index.elections(),
            stale: self.stale,
            as_of: false,
        }
    }

    pub(super) fn events(&self, since: Revision, limit: usize) -> EventsBody {
        EventsBody {
            revision: self.model.revision,
            events: self.model.events.since(since, limit),
            matched: None,
            oldest: None,
            next_before: None,
            stale: self.stale,
        }
    }

    pub(super) fn events_query(
        &self,
        filter: &EventFilter,
        since: Revision,
        before: Option<Revision>,
        limit: usize,
    ) -> EventsBody {
        let page = self.model.events.query(filter, since, before, limit);
        EventsBody {
            revision: self.model.revision,
            events: page.events,
            matched: Some(page.matched),
            oldest: self.model.events.oldest().map(str::to_owned),
            next_before: page.next_before,
            stale: self.stale,
        }
    }

    /// A topic's snapshot: its body, serialized once, with its place in the
    /// order of updates. A service with no instance is an empty list.
    pub(super) fn snapshot(&self, topic: &Topic) -> Result<Snapshot, SnapshotError> {
        fn raw<T: Serialize>(topic: &Topic, body: &T) -> Result<Box<RawValue>, SnapshotError> {
            to_raw_value(body).map_err(|e| SnapshotError::Serialize(topic.clone(), e))
        }
        let (revision, stale) = (self.model.revision, self.stale);
        let mut rest = Vec::new();
        let data = match topic {
            Topic::Cluster => raw(topic, &self.cluster())?,
            Topic::Ops => raw(topic, &self.ops())?,
            Topic::Metrics => raw(topic, &self.metrics_history(None, app::model::FINE_STEP_SECONDS))?,
            Topic::ServiceMetrics(name) => {
                raw(topic, &self.metrics_history(Some(name), app::model::FINE_STEP_SECONDS))?
            }
            Topic::Storm => raw(topic, &self.storm())?,
            Topic::Services => raw(topic, &self.services(None))?,
            Topic::Service(name) => {
                let mut body = self.service(name).unwrap_or_else(|| ServiceBody {
                    revision,
                    name: name.clone(),
                    instances: Vec::new(),
                    stale,
                    as_of: false,
                });
                if body.instances.len() > SNAPSHOT_FIRST_PART {
                    rest = body.instances.split_off(SNAPSHOT_FIRST_PART);
                }
                raw(topic, &body)?
            }
            Topic::Leases => raw(topic, &self.leases())?,
            Topic::Locks => raw(topic, &self.locks())?,
            Topic::Elections => raw(topic, &self.elections())?,
            Topic::Events => raw(topic, &self.events(0, EVENTS_SNAPSHOT))?,
            Topic::Kv(prefix) => {
                let body = snapshot_body(self.classifier, &self.model.mirror, topic, prefix, revision, stale)?;
                raw(topic, &body)?
            }
            Topic::KvDir(prefix) => {
                let body = dir_snapshot_body(self.classifier, &self.model.mirror, topic, prefix, revision, stale)?;
                raw(topic, &body)?
            }
        };
        Ok(Snapshot {
            seq: self.model.seq,
            revision,
            data,
            rest,
        })
    }
}
