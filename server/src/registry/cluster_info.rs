//! The cluster as the poller last saw it, and its diff into `cluster` patches.

use std::collections::BTreeMap;

use app::model::{Member, MemberId, PatchOp};
use serde_json::value::to_raw_value;

/// Members and who leads, from one poll.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClusterInfo {
    pub cluster_id: Option<MemberId>,
    pub leader: Option<MemberId>,
    pub members: Vec<Member>,
}

impl ClusterInfo {
    /// Patch ops that turn `self`'s members into `next`'s: upserts for new and
    /// changed members, removals for members that left.
    pub fn diff(&self, next: &ClusterInfo) -> Vec<PatchOp> {
        let old: BTreeMap<MemberId, &Member> = self.members.iter().map(|m| (m.id, m)).collect();
        let new: BTreeMap<MemberId, &Member> = next.members.iter().map(|m| (m.id, m)).collect();
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
}
