//! Bringing keys back: the keys deleted under a prefix
//! (`GET /api/v1/kv-deleted`), putting them back
//! (`POST /api/v1/kv-restore`), and a prefix rolled back to a past
//! revision (`POST /api/v1/kv-rollback`). Both writes are previewed first
//! (`dry_run`) and applied in guarded transactions ([`BulkResult`]).

use serde::{Deserialize, Serialize};

use super::{Kv, KvChange, Revision};

/// What deleted a key, as far as Leasehold can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum DeletionCause {
    /// Its lease expired (the timeline saw it).
    LeaseExpired,
    /// Its lease was revoked (the timeline saw it; by an operator here when
    /// `who` is set).
    LeaseRevoked,
    /// An operator's delete through Leasehold (the audit trail has it).
    Operator,
    /// A client's delete: the timeline saw the revision and no lease end.
    Delete,
    /// Leasehold's timeline does not reach back to that revision.
    Unknown,
}

/// A key deleted and not written since: its last value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct DeletedKv {
    /// The key before its deletion (`lease`: the lease it was on).
    pub kv: Kv,
    pub deleted_revision: Revision,
    /// When the deletion happened, where Leasehold's clock knows (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<String>,
    pub cause: DeletionCause,
    /// The operator, for [`DeletionCause::Operator`] and a revoke through
    /// Leasehold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub who: Option<String>,
}

/// `GET /api/v1/kv-deleted?prefix=P&since=N` (or `seconds=` or `at=`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct KvDeletedListBody {
    /// The revision the list reflects: these keys are absent at it.
    pub revision: Revision,
    pub prefix: String,
    /// Deletions after this revision are listed.
    pub since: Revision,
    /// In key order.
    pub keys: Vec<DeletedKv>,
    /// etcd's compaction horizon (0: nothing compacted), when etcd said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compact_revision: Option<Revision>,
}

/// `POST /api/v1/kv-restore`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct RestoreRequest {
    /// The prefix the keys were deleted under.
    pub prefix: String,
    /// Keys deleted after this revision.
    pub since: Revision,
    /// Only these keys (their ids); absent: every key deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keys: Option<Vec<String>>,
    /// The preview: what would be put back, nothing written.
    #[serde(default)]
    pub dry_run: bool,
}

/// A write of a bulk change not made: the key was no longer as the
/// preview saw it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct BulkConflict {
    /// The key's id.
    pub key: String,
    /// What the change would have made of it (`None`: deleted it).
    pub wanted: Option<Kv>,
    /// The key now (`None`: absent).
    pub current: Option<Kv>,
}

/// What a bulk change did: transactions of at most `chunk` keys each, all
/// or nothing, applied in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct BulkResult {
    /// Keys written or deleted.
    pub applied: usize,
    pub transactions: usize,
    /// etcd's revision after the last transaction (0: none applied).
    pub revision: Revision,
    pub conflicts: Vec<BulkConflict>,
    /// etcd failed mid-way: why. The transaction in flight may or may not
    /// have been applied, and those after it were not tried: preview again
    /// to see where things stand.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interrupted: Option<String>,
    /// Keys of the transaction in flight and after it, when interrupted.
    pub not_tried: usize,
}

/// The preview of a restore, or the restore done (`result`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct RestoreBody {
    /// The revision the deleted keys were read at.
    pub revision: Revision,
    pub prefix: String,
    pub since: Revision,
    pub dry_run: bool,
    /// The keys put back, each with its last value, only where it is absent.
    pub restore: Vec<Kv>,
    /// Keys that were on a lease: they come back on none (the lease is
    /// gone), and stay until deleted.
    pub without_lease: usize,
    /// Keys a transaction holds; more keys than this go in several.
    pub chunk: usize,
    pub transactions: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<BulkResult>,
}

/// `POST /api/v1/kv-rollback`: the prefix back to how it was at `revision`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct RollbackRequest {
    /// A prefix, or one key's id with `key`.
    pub prefix: String,
    /// `prefix` is one key (its id), not a prefix.
    #[serde(default)]
    pub key: bool,
    /// The revision to go back to.
    pub revision: Revision,
    /// The preview: the diff from `revision` to now, nothing written.
    #[serde(default)]
    pub dry_run: bool,
    /// The revision the preview was read at (its `now`): the roll back
    /// applies exactly that diff, and a key changed since is a conflict.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect_revision: Option<Revision>,
}

/// The preview of a roll back (the diff `revision` -> `now`, to undo), or
/// the roll back done (`result`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct RollbackBody {
    /// The revision "now" was read at: confirm with it as `expect_revision`.
    pub now: Revision,
    /// The revision gone back to.
    pub revision: Revision,
    pub prefix: String,
    pub key: bool,
    pub dry_run: bool,
    /// Deleted since `revision`: put back with their value then.
    pub put_back: Vec<Kv>,
    /// Changed since: `before` is the key now, `after` what it goes back to.
    pub revert: Vec<KvChange>,
    /// Created since: deleted.
    pub delete: Vec<Kv>,
    /// Keys put back on a lease that is gone: on none.
    pub without_lease: usize,
    pub chunk: usize,
    pub transactions: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<BulkResult>,
}
