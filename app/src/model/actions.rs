//! The bodies of the two actions on leases: revoking a lease and breaking a
//! lock (revoking its holder's lease). Each request says what the operator
//! saw when they confirmed, and the server acts only while etcd still holds
//! exactly that: otherwise a 409 with what is there now.

use serde::{Deserialize, Serialize};

use super::{Contender, ErrorDetail, LeaseDetailBody, LeaseId, Revision};

/// The body `DELETE /api/v1/leases/{id}` may carry: the key ids the preview
/// showed. The lease is revoked only if it holds exactly these keys now
/// (`?expect_keys=N` checks the number alone).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct RevokeRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect_keys: Option<Vec<String>>,
}

/// `DELETE /api/v1/leases/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct RevokedBody {
    pub revision: Revision,
    pub revoked: LeaseId,
    pub deleted_keys: usize,
}

/// The holder a break-lock request was confirmed against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ExpectedHolder {
    /// The holder's key, as `Contender::key` spells it.
    pub key: String,
    pub lease: LeaseId,
}

/// `POST /api/v1/locks/{name}/break`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct BreakLockRequest {
    pub expect_holder: ExpectedHolder,
    /// As [`RevokeRequest::expect_keys`], for the holder's lease.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect_keys: Option<Vec<String>>,
}

/// What breaking a lock did: the holder's key deleted at `released_at`, while
/// it still held the lock, then its lease revoked at `revision`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct LockBrokenBody {
    pub lock: String,
    pub released_at: Revision,
    pub revision: Revision,
    pub revoked: LeaseId,
    /// Every key the lease held, the holder's key included.
    pub deleted_keys: usize,
}

/// The 409 `holder_changed` of a break-lock request: the lock's holder now
/// (`None`: nobody holds it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct HolderChangedBody {
    pub error: ErrorDetail,
    pub current: Option<Contender>,
}

/// The 409 `changed` of a revoke: the lease's keys are not what the preview
/// showed; `current` is the preview now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct LeaseChangedBody {
    pub error: ErrorDetail,
    pub current: LeaseDetailBody,
}
