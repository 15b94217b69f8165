//! The wire model: every body the REST API returns and every WebSocket message,
//! shared by the server (which produces them) and the browser (which consumes
//! them). Plain serde types, no Leptos, so the server depends on them freely.
//!
//! The contract these types implement is docs/api.md (REST) and
//! docs/websocket.md (the WebSocket), v1.

mod access;
mod actions;
mod cluster;
mod codes;
mod event_filter;
mod event_kind;
mod ids;
mod kv;
mod membership;
mod messages;
mod metrics;
mod ops;
mod registry;
mod restore;
mod topic;
mod transfer;

pub use access::{LoginBody, MeBody, Role};
pub use actions::{
    BreakLockRequest, ExpectedHolder, HolderChangedBody, LeaseChangedBody, LockBrokenBody, RevokeRequest, RevokedBody,
};
pub use cluster::{ClusterBody, EtcdHealth, HealthBody, Member, TaskHealth};
pub use codes::{ErrorCode, CLOSE_SIGNED_OUT};
pub use event_filter::{EventFilter, LOCK_CHATTER};
pub use event_kind::EventKind;
pub use ids::{
    encode_segment, key_id, key_of_id, key_text_of_id, text_id, IdError, LeaseId, MemberId, BINARY_ID_MARKER,
};
pub use kv::{
    Classification, Kv, KvBody, KvChange, KvConflictBody, KvDeletedBody, KvDiffBody, KvDirBody, KvDirEntry,
    KvHistoryBody, KvKind, KvListBody, KvPutRequest, KvVersion, NearMiss, BASE64_PATTERN, KV_TOPIC_MAX,
};
pub use membership::{
    ClusterShape, LearnerLag, MemberAddRequest, MemberChangeRequest, MembershipAction, MembershipBody,
    MoveLeaderRequest, Quorum, ShapeMember,
};
pub use messages::{ClientMsg, ErrorBody, ErrorDetail, EtcdState, PatchOp, ServerMsg};
pub use metrics::{
    series_id, MetricsHistoryBody, Series, ServiceLoss, Storm, StormBody, StormService, COARSE_POINTS,
    COARSE_STEP_SECONDS, FINE_POINTS, FINE_STEP_SECONDS,
};
pub use ops::{
    human_bytes, Alarm, Check, CompactBody, CompactRequest, DefragBody, DefragPlanStep, DefragRequest, DefragState,
    DefragStep, DisarmBody, DisarmRequest, HashKvBody, KeyLoss, MemberAlarm, MemberHash, OpsBody, OpsMember,
    QuotaSource, SnapshotRecord, SnapshotState, SnapshotsBody, DEFAULT_QUOTA_BYTES, QUOTA_WARNING,
};
pub use registry::{
    Candidate, Contender, Election, ElectionsBody, Event, EventsBody, Instance, Layout, Lease, LeaseDetailBody,
    LeasesBody, Lock, LocksBody, ServiceBody, ServiceSummary, ServicesBody,
};
pub use restore::{
    BulkConflict, BulkResult, DeletedKv, DeletionCause, KvDeletedListBody, RestoreBody, RestoreRequest, RollbackBody,
    RollbackRequest,
};
pub use topic::{within_prefixes, Topic, TopicError};
pub use transfer::{
    CopyBody, CopyRequest, EtcdctlKv, ExportDocument, ExportItem, ExportLease, GrantedLease, ImportBody,
    ImportConflict, ImportDocument, ImportKey, ImportLeases, ImportValue, EXPORT_FORMAT,
};

/// An etcd revision. etcd uses signed 64-bit integers for revisions.
pub type Revision = i64;
