//! The operations console's bodies: the members' health and quota, alarms,
//! and the maintenance actions (disarm, compact, rolling defragmentation),
//! each a preview (`dry_run`) and then the action on what was previewed.

use serde::{Deserialize, Serialize};

use super::{MemberId, Revision};

/// etcd's default `--quota-backend-bytes`: 2 GiB.
pub const DEFAULT_QUOTA_BYTES: i64 = 2 * 1024 * 1024 * 1024;

/// A share of the quota past which the console warns (NOSPACE is raised at
/// the quota itself).
pub const QUOTA_WARNING: f64 = 0.8;

/// `20.0 KiB`, `1.5 MiB`, ...
pub fn human_bytes(bytes: i64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value.abs() >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// An etcd alarm, as etcd names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum Alarm {
    /// The backend reached its quota: etcd accepts only reads and deletes.
    #[serde(rename = "NOSPACE")]
    NoSpace,
    /// A member's data differs from the others'.
    #[serde(rename = "CORRUPT")]
    Corrupt,
}

impl Alarm {
    pub fn as_str(self) -> &'static str {
        match self {
            Alarm::NoSpace => "NOSPACE",
            Alarm::Corrupt => "CORRUPT",
        }
    }
}

/// An active alarm and the member that raised it (`/api/v1/health`'s
/// `alarms`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct MemberAlarm {
    pub member: MemberId,
    pub alarm: Alarm,
}

/// Where a member's quota was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum QuotaSource {
    /// The member's `Status` (etcd 3.6 and later say it there).
    Status,
    /// The member's `/metrics` (`etcd_server_quota_backend_bytes`).
    Metrics,
    /// Leasehold's `--etcd-quota`, because the member did not say.
    Flag,
    /// etcd's default (2 GiB): the member did not say and no `--etcd-quota` was given.
    Default,
}

/// One member's step in a rolling defragmentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum DefragState {
    /// Its turn has not come.
    Queued,
    /// etcd is defragmenting it (it answers nothing else meanwhile).
    Running,
    /// Defragmented, and healthy again.
    Done,
    /// The step failed; the roll stopped here.
    Failed,
    /// Not defragmented: the roll stopped before its turn.
    Skipped,
}

/// A member's part in the last rolling defragmentation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct DefragStep {
    pub state: DefragState,
    /// Its place in the roll, from 1: followers first, the leader last.
    pub order: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub db_size_before: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub db_size_after: Option<i64>,
    /// Why it failed, or why the roll stopped before it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One member as the console shows it: the `ops` topic's entity, keyed by
/// its id. Status fields are `None` while the member does not answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct OpsMember {
    pub id: MemberId,
    pub name: String,
    /// Its first client URL, the one Leasehold asks it through.
    pub endpoint: Option<String>,
    pub is_leader: bool,
    pub is_learner: bool,
    pub healthy: bool,
    pub version: Option<String>,
    /// The database file's size.
    pub db_size: Option<i64>,
    /// What of it holds data; the rest is free pages a defragmentation gives back.
    pub db_size_in_use: Option<i64>,
    /// Its `--quota-backend-bytes`, and where that was read.
    pub quota_bytes: i64,
    pub quota_source: QuotaSource,
    pub raft_index: Option<u64>,
    pub raft_applied_index: Option<u64>,
    /// The alarms this member raised, active now.
    pub alarms: Vec<Alarm>,
    pub errors: Vec<String>,
    /// The compaction horizon, the same on every member (etcd compacts them
    /// all): carried by each so that a patch brings it.
    pub compact_revision: Option<Revision>,
    /// Its part in the last rolling defragmentation, while Leasehold remembers one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub defrag: Option<DefragStep>,
}

impl OpsMember {
    /// `db_size` as a share of the quota.
    pub fn quota_used(&self) -> Option<f64> {
        let size = self.db_size?;
        (self.quota_bytes > 0).then(|| size as f64 / self.quota_bytes as f64)
    }

    /// Bytes a defragmentation would give back.
    pub fn reclaimable(&self) -> Option<i64> {
        Some((self.db_size? - self.db_size_in_use?).max(0))
    }
}

/// `GET /api/v1/ops`, and the `ops` topic's snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct OpsBody {
    pub revision: Revision,
    /// The smallest member quota: where NOSPACE comes first.
    pub quota_bytes: i64,
    /// The compaction horizon: the oldest revision etcd can still read
    /// (`None` until known; 0 when nothing was ever compacted).
    pub compact_revision: Option<Revision>,
    pub members: Vec<OpsMember>,
    /// Present (and true) while etcd is unreachable and this is the last known state.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stale: bool,
}

/// One thing that must hold before an action, and whether it does now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Check {
    pub ok: bool,
    pub what: String,
}

/// `POST /api/v1/ops/alarms/disarm`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct DisarmRequest {
    pub alarm: Alarm,
    /// Only this member's alarm; every member's without it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member: Option<MemberId>,
    /// Preview only: say what would be disarmed and whether it may be.
    #[serde(default)]
    pub dry_run: bool,
}

/// The preview of a disarm, and what it did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct DisarmBody {
    pub alarm: Alarm,
    /// The alarms it disarms (or would).
    pub alarms: Vec<MemberAlarm>,
    /// What must be true first; the disarm is refused while any is not.
    pub checks: Vec<Check>,
    pub applied: bool,
    /// The alarms etcd reports after the disarm (asked again, not assumed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_after: Option<Vec<MemberAlarm>>,
}

/// `POST /api/v1/ops/compact`: the revision, or how much of the past to
/// keep (`keep_seconds`: compact at the newest revision the timeline
/// recorded that long ago).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct CompactRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<Revision>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_seconds: Option<u64>,
    #[serde(default)]
    pub dry_run: bool,
}

/// A key whose history loses versions in a compaction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct KeyLoss {
    /// The key's id (as in `/api/v1/kv/{key}`).
    pub key: String,
    pub versions_lost: u64,
}

/// The preview of a compaction, and what it did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct CompactBody {
    /// The revision compacted at: every older revision goes.
    pub revision: Revision,
    /// How `revision` was chosen, in words.
    pub chosen: String,
    pub current_revision: Revision,
    /// The horizon before the compaction.
    pub compact_revision: Revision,
    /// Revisions no longer readable after it.
    pub revisions_lost: i64,
    /// Versions of keys (and deletions) dropped from history.
    pub versions_lost: u64,
    /// Their values' bytes: roughly the history lost (etcd frees somewhat
    /// more: keys and its own records).
    pub bytes_lost: u64,
    /// The keys whose history pages lose versions, most first (at most 100).
    pub keys: Vec<KeyLoss>,
    pub keys_count: u64,
    /// False when the history was longer than Leasehold reads for a preview:
    /// the figures are then a lower bound.
    pub complete: bool,
    pub applied: bool,
}

/// `POST /api/v1/ops/defrag`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct DefragRequest {
    /// The member order the preview showed; the roll is refused (409) when
    /// it is another now (a member joined or left, or the leader moved).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect_order: Option<Vec<MemberId>>,
    #[serde(default)]
    pub dry_run: bool,
}

/// One member in a defragmentation's plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct DefragPlanStep {
    pub id: MemberId,
    pub name: String,
    pub is_leader: bool,
    pub db_size: Option<i64>,
    pub reclaimable: Option<i64>,
}

/// The plan of a rolling defragmentation, and whether it started. Its
/// progress is each member's `defrag` in the `ops` topic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct DefragBody {
    /// Followers first, the leader last.
    pub order: Vec<DefragPlanStep>,
    pub checks: Vec<Check>,
    /// What it costs: each member stops answering while it is defragmented.
    pub cost: String,
    pub started: bool,
}

/// One member's `HashKV` in a consistency check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct MemberHash {
    pub id: MemberId,
    pub name: String,
    /// The hash of its keyspace up to the check's revision; `None` when it did not answer.
    pub hash: Option<u32>,
    /// The compaction revision its hash starts from: hashes compare only
    /// between members at the same one.
    pub compact_revision: Option<Revision>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `GET /api/v1/ops/hashkv`: every member's `HashKV` at one revision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct HashKvBody {
    /// The revision every member hashed up to.
    pub revision: Revision,
    pub members: Vec<MemberHash>,
    /// Every member answered, with the same hash.
    pub agree: bool,
    /// The members whose hash is not the majority's (all of them when there
    /// is no majority), and those that did not answer.
    pub differ: Vec<MemberId>,
}

impl HashKvBody {
    /// Decides `agree` and `differ` from the members' hashes.
    pub fn judged(revision: Revision, members: Vec<MemberHash>) -> HashKvBody {
        let answered: Vec<(u32, Option<Revision>)> = members
            .iter()
            .filter_map(|m| m.hash.map(|h| (h, m.compact_revision)))
            .collect();
        let majority = answered
            .iter()
            .map(|pick| (answered.iter().filter(|other| *other == pick).count(), *pick))
            .max_by_key(|(count, _)| *count)
            .filter(|(count, _)| *count * 2 > members.len())
            .map(|(_, pick)| pick);
        let differ: Vec<MemberId> = members
            .iter()
            .filter(|m| majority.is_none() || m.hash.map(|h| (h, m.compact_revision)) != majority)
            .map(|m| m.id)
            .collect();
        HashKvBody {
            revision,
            agree: differ.is_empty() && !members.is_empty(),
            differ,
            members,
        }
    }
}

/// Where a snapshot's download stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum SnapshotState {
    Running,
    /// Every byte sent; `sha256` is the file's.
    Done,
    /// etcd's stream failed: the file is incomplete.
    Failed,
    /// The browser went away before the end.
    Aborted,
}

/// A snapshot streamed to a browser (`GET /api/v1/ops/snapshots`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct SnapshotRecord {
    /// As in the download's `X-Leasehold-Snapshot` header.
    pub id: u64,
    pub member: MemberId,
    pub name: String,
    /// The member's revision just before the snapshot began: what it
    /// holds (a write meanwhile may be in it too).
    pub revision: Revision,
    pub who: String,
    pub started_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    pub state: SnapshotState,
    /// Bytes sent so far.
    pub bytes: u64,
    /// What etcd announced in all (the database and etcd's own 32-byte
    /// checksum), when it said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_bytes: Option<u64>,
    /// The SHA-256 of the whole file, in hex, once done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `GET /api/v1/ops/snapshots`: the latest snapshots, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct SnapshotsBody {
    pub snapshots: Vec<SnapshotRecord>,
}

#[cfg(test)]
mod tests {
    use super::{HashKvBody, MemberHash};
    use crate::model::MemberId;

    fn member(id: u64, hash: Option<u32>) -> MemberHash {
        MemberHash {
            id: MemberId(id),
            name: format!("m{id}"),
            hash,
            compact_revision: Some(5),
            error: None,
        }
    }

    #[test]
    fn the_member_off_the_majority_differs() {
        let same = HashKvBody::judged(9, vec![member(1, Some(7)), member(2, Some(7)), member(3, Some(7))]);
        assert!(same.agree);
        assert!(same.differ.is_empty());
        let one = HashKvBody::judged(9, vec![member(1, Some(7)), member(2, Some(8)), member(3, Some(7))]);
        assert!(!one.agree);
        assert_eq!(one.differ, [MemberId(2)]);
        let silent = HashKvBody::judged(9, vec![member(1, Some(7)), member(2, None), member(3, Some(7))]);
        assert_eq!(silent.differ, [MemberId(2)]);
        // Two members that disagree: no majority says which.
        let split = HashKvBody::judged(9, vec![member(1, Some(7)), member(2, Some(8))]);
        assert_eq!(split.differ, [MemberId(1), MemberId(2)]);
        assert!(!HashKvBody::judged(9, Vec::new()).agree);
    }
}
