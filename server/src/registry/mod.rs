//! The model: a mirror of the watched etcd keys at a known revision, the
//! cluster as last polled, and the [`Store`] that applies changes to both and
//! hands the resulting entity diffs to the hub.
//!
//! Types here are Leasehold's own, not etcd-client's: the `etcd` module
//! converts, so the model can be driven by tests and benchmarks without etcd.

mod classify;
mod cluster;
mod coordination;
mod events;
mod index;
mod kv;
pub mod layouts;
mod leases;
mod mirror;
mod store;
mod text;
mod views;

pub use classify::{Classifier, Kind};
pub use cluster::ClusterInfo;
pub use events::{EventLog, LeaseEnd};
pub use index::{op as patch_op, LeaseHoldings};
pub use kv::{kind_of, to_kv, KV_TOPIC_MAX};
pub use leases::Sample;
pub use mirror::{KeyValue, KvEvent, Mirror};
pub use store::{now_rfc3339, Store, WentBack};
pub use text::{key_id, key_of_id, text_and_base64};
pub use views::{Snapshot, SnapshotError};
