//! The cluster as the poller last saw it, and its diff into `cluster` and
//! `ops` patches.

use std::collections::BTreeMap;

use app::model::{
    DefragStep, Member, MemberAlarm, MemberId, OpsMember, PatchOp, QuotaSource, Revision, DEFAULT_QUOTA_BYTES,
};
use serde::Serialize;
use serde_json::value::to_raw_value;

/// Members and who leads, from one poll.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClusterInfo {
    pub cluster_id: Option<MemberId>,
    pub leader: Option<MemberId>,
    pub members: Vec<Member>,
    /// What the operations console adds to each member, by id.
    pub health: BTreeMap<MemberId, MemberHealth>,
    /// The active alarms.
    pub alarms: Vec<MemberAlarm>,
    /// The compaction horizon, once read.
    pub compact_revision: Option<Revision>,
}

/// A member's figures beyond `Member`'s: from its `Status` and its quota.
#[derive(Debug, Clone, PartialEq)]
pub struct MemberHealth {
    pub db_size_in_use: Option<i64>,
    pub raft_applied_index: Option<u64>,
    pub quota_bytes: i64,
    pub quota_source: QuotaSource,
}

impl Default for MemberHealth {
    fn default() -> Self {
        MemberHealth {
            db_size_in_use: None,
            raft_applied_index: None,
            quota_bytes: DEFAULT_QUOTA_BYTES,
            quota_source: QuotaSource::Default,
        }
    }
}

impl ClusterInfo {
    /// Patch ops that turn `self`'s members into `next`'s: upserts for new and
    /// changed members, removals for members that left.
    pub fn diff(&self, next: &ClusterInfo) -> Vec<PatchOp> {
        diff_by_id(
            self.members.iter().map(|m| (m.id, m)),
            next.members.iter().map(|m| (m.id, m)),
        )
    }

    /// The members as the console shows them, with their parts in the last
    /// rolling defragmentation.
    pub fn ops_members(&self, defrag: &BTreeMap<MemberId, DefragStep>) -> Vec<OpsMember> {
        let mut members: Vec<OpsMember> = self
            .members
            .iter()
            .map(|m| {
                let health = self.health.get(&m.id).cloned().unwrap_or_default();
                let mut alarms: Vec<_> = self
                    .alarms
                    .iter()
                    .filter(|a| a.member == m.id)
                    .map(|a| a.alarm)
                    .collect();
                alarms.sort();
                alarms.dedup();
                OpsMember {
                    id: m.id,
                    name: m.name.clone(),
                    endpoint: m.client_urls.first().cloned(),
                    is_leader: m.is_leader,
                    is_learner: m.is_learner,
                    healthy: m.healthy,
                    version: m.version.clone(),
                    db_size: m.db_size,
                    db_size_in_use: health.db_size_in_use,
                    quota_bytes: health.quota_bytes,
                    quota_source: health.quota_source,
                    raft_index: m.raft_index,
                    raft_applied_index: health.raft_applied_index,
                    alarms,
                    errors: m.errors.clone(),
                    compact_revision: self.compact_revision,
                    defrag: defrag.get(&m.id).cloned(),
                }
            })
            .collect();
        members.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
        members
    }
}

/// Patch ops that turn the `old` entities into the `new` ones.
pub fn diff_by_id<'a, T: Serialize + PartialEq + 'a>(
    old: impl IntoIterator<Item = (MemberId, &'a T)>,
    new: impl IntoIterator<Item = (MemberId, &'a T)>,
) -> Vec<PatchOp> {
    let old: BTreeMap<MemberId, &T> = old.into_iter().collect();
    let new: BTreeMap<MemberId, &T> = new.into_iter().collect();
    let mut ops = Vec::new();
    for id in old.keys().filter(|id| !new.contains_key(id)) {
        ops.push(PatchOp::Remove { id: id.to_string() });
    }
    for (id, member) in &new {
        if old.get(id) == Some(member) {
            continue;
        }
        match to_raw_value(member) {
            Ok(value) => ops.push(PatchOp::Upsert {
                id: id.to_string(),
                value,
            }),
            Err(error) => tracing::error!(%error, member = %id, "cannot serialize member"),
        }
    }
    ops
}

/// The `ops` patches between two views of the members.
pub fn diff_ops(old: &[OpsMember], new: &[OpsMember]) -> Vec<PatchOp> {
    diff_by_id(old.iter().map(|m| (m.id, m)), new.iter().map(|m| (m.id, m)))
}
