//! Cluster and health bodies.

use serde::{Deserialize, Serialize};

use super::{MemberId, Revision};

/// One etcd member as `GET /api/v1/cluster` shows it. The status fields are
/// `None` when the member did not answer its last status request; `errors`
/// then says why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Member {
    pub id: MemberId,
    pub name: String,
    pub client_urls: Vec<String>,
    pub peer_urls: Vec<String>,
    pub is_leader: bool,
    pub is_learner: bool,
    pub healthy: bool,
    pub version: Option<String>,
    pub db_size: Option<i64>,
    pub raft_term: Option<u64>,
    pub raft_index: Option<u64>,
    pub errors: Vec<String>,
}

/// `GET /api/v1/cluster`, and the `cluster` topic's snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ClusterBody {
    pub revision: Revision,
    /// `None` until the first member list has been read.
    pub cluster_id: Option<MemberId>,
    pub leader: Option<MemberId>,
    pub members: Vec<Member>,
    /// Present (and true) while etcd is unreachable and this is the last known state.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stale: bool,
}

/// The connection part of the health body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct EtcdHealth {
    pub connected: bool,
    pub endpoints: Vec<String>,
    /// The last connection error, if the link is down.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One supervised background task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct TaskHealth {
    pub name: String,
    pub running: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `GET /api/v1/health`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct HealthBody {
    /// `ok` when synced and every task runs, `degraded` otherwise.
    pub status: String,
    pub synced: bool,
    pub etcd: EtcdHealth,
    pub revision: Revision,
    pub tasks: Vec<TaskHealth>,
    /// The alarms active in the cluster (NOSPACE, CORRUPT), by member.
    #[serde(default)]
    pub alarms: Vec<super::MemberAlarm>,
    /// The eviction storm, while one is on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storm: Option<super::Storm>,
    /// Which browser code the server serves (see `app::build_id`); empty when
    /// it has none built.
    #[serde(default)]
    pub build: String,
}
