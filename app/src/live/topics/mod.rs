//! How each topic's messages change the live state: one file per topic (the
//! `service` topic beside `services`, `metrics:<service>` beside `metrics`), each applying a snapshot and a patch
//! of its topic. [`Live::apply`](super::Live::apply) hands them a topic's
//! message as a [`Change`].

mod cluster;
mod elections;
mod events;
mod kv_dir;
mod leases;
mod locks;
mod metrics;
mod ops;
mod services;
mod storm;

pub use kv_dir::dir_entry_id;
pub use metrics::History;

use super::{warn, Live};
use crate::model::{PatchOp, Topic};

/// What a message brings to its topic.
pub(super) enum Change<'a> {
    /// The whole topic (the snapshot's JSON data); `more` when further parts follow.
    Snapshot { data: &'a str, more: bool },
    /// Changes to it; `more` when they are a part of a snapshot that goes on.
    Patch { ops: Vec<PatchOp>, more: bool },
}

/// Applies `change` to what `topic` feeds.
pub(super) fn apply(live: Live, topic: Topic, change: Change<'_>) {
    match topic {
        Topic::Cluster => cluster::apply(live, change),
        Topic::Ops => ops::apply(live, change),
        Topic::Services => services::apply_services(live, change),
        Topic::Service(name) => services::apply_service(live, name, change),
        Topic::Leases => leases::apply(live, change),
        Topic::Locks => locks::apply(live, change),
        Topic::Elections => elections::apply(live, change),
        Topic::Events => events::apply(live, change),
        Topic::KvDir(prefix) => kv_dir::apply(live, prefix, change),
        Topic::Metrics => metrics::apply_metrics(live, change),
        Topic::ServiceMetrics(name) => metrics::apply_service(live, name, change),
        Topic::Storm => storm::apply(live, change),
        // The key tree watches folders, never one key's topic.
        Topic::Kv(_) => match change {
            Change::Snapshot { .. } => warn("snapshot of a kv topic this app does not show"),
            Change::Patch { .. } => {}
        },
    }
}
