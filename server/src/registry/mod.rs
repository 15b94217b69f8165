//! The model: a mirror of the watched etcd keys at a known revision, the
//! cluster as last polled, the one [`Writer`] that applies changes to both
//! and hands the resulting entity diffs to the hub, and the [`Store`]s that
//! read it.
//!
//! Types here are Leasehold's own, not etcd-client's: the `etcd` module
//! converts, so the model can be driven by tests and benchmarks without etcd.

mod classify;
mod clock;
mod cluster_info;
mod coordination;
mod deletions;
mod events;
mod explain;
mod history;
mod index;
mod kv_dir;
mod kv_topics;
pub mod layouts;
mod leases;
mod mirror;
mod model;
mod past;
mod store;
mod text;
mod views;
mod writer;

pub use classify::{Classifier, Kind};
pub use cluster_info::{ClusterInfo, MemberHealth};
pub use deletions::{Deletion, Told};
pub use events::{EventLog, LeaseEnd};
pub use history::{HistoryConfig, LockTimes, StormRule};
pub use index::LeaseHoldings;
pub use kv_topics::{kind_of, to_kv, KV_TOPIC_MAX};
pub use leases::Sample;
pub use mirror::{KeyValue, KvEvent, Mirror};
pub use model::now_rfc3339;
pub use past::Past;
pub use store::Store;
pub use text::{key_id, key_of_id, text_and_base64};
pub use writer::{
    sample_history, ClusterStatus, HistorySampler, LeaseSamples, Maintenance, Revocations, Timeline, WentBack, Writer,
};
