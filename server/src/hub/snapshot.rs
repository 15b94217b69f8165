//! What a client session reads besides updates: a topic's snapshot, taken
//! from whatever holds the model ([`Snapshots`], which the registry's store
//! implements), and the patch op every entity change is written as.
//!
//! The types live here, not in the registry, so that the hub's sessions know
//! the model only through this trait: the registry publishes to the hub, and
//! the hub never reaches back into the registry.

use app::model::{ErrorCode, Instance, PatchOp, Revision, Topic};
use serde::Serialize;
use serde_json::value::{to_raw_value, RawValue};

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

/// Why a topic has no snapshot.
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
    pub fn code(&self) -> ErrorCode {
        match self {
            SnapshotError::NotServed(_) => ErrorCode::NotServed,
            SnapshotError::TooLarge(..) | SnapshotError::TooManyBytes(..) => ErrorCode::TooLarge,
            SnapshotError::Serialize(..) => ErrorCode::Internal,
        }
    }
}

/// The model, as a session sees it: its place in the order of updates, and
/// each topic's snapshot read consistently with that place.
pub trait Snapshots: Send + Sync + 'static {
    /// The model's place in the order of updates ([`crate::hub::Update::seq`]) and its revision.
    fn position(&self) -> (u64, Revision);
    /// `topic`'s body as one read of the model sees it.
    fn snapshot(&self, topic: &Topic) -> Result<Snapshot, SnapshotError>;
}

/// An upsert of `value` under `id`, or a removal when there is none.
pub fn patch_op<T: Serialize>(id: &str, value: Option<T>) -> PatchOp {
    let Some(value) = value else {
        return PatchOp::Remove { id: id.to_owned() };
    };
    match to_raw_value(&value) {
        Ok(value) => PatchOp::Upsert {
            id: id.to_owned(),
            value,
        },
        Err(error) => {
            // Our own types always serialize; if one ever does not, the
            // client loses the entity rather than the whole stream.
            tracing::error!(%error, id, "cannot serialize an entity");
            PatchOp::Remove { id: id.to_owned() }
        }
    }
}
