//! The `cluster` topic: the cluster's id and its members.

use std::collections::BTreeMap;

use leptos::prelude::*;

use super::Change;
use crate::live::{decode, warn, ClusterView, Live};
use crate::model::{ClusterBody, Member, MemberId, PatchOp};

pub(super) fn apply(live: Live, change: Change<'_>) {
    match change {
        Change::Snapshot { data, .. } => {
            if let Some(body) = decode::<ClusterBody>(data, "cluster") {
                let mut cluster = ClusterView {
                    cluster_id: body.cluster_id,
                    members: BTreeMap::new(),
                };
                for member in body.members {
                    cluster.members.insert(member.id, member);
                }
                live.cluster.set(Some(cluster));
            }
        }
        Change::Patch { ops, .. } => live.cluster.update(|cluster| {
            let cluster = cluster.get_or_insert_with(ClusterView::default);
            for op in ops {
                apply_member_op(cluster, op);
            }
        }),
    }
}

fn apply_member_op(cluster: &mut ClusterView, op: PatchOp) {
    match op {
        PatchOp::Upsert { value, .. } => {
            if let Some(member) = decode::<Member>(value.get(), "member") {
                cluster.members.insert(member.id, member);
            }
        }
        PatchOp::Remove { id } => match id.parse::<MemberId>() {
            Ok(id) => {
                cluster.members.remove(&id);
            }
            Err(error) => warn(&format!("bad member id {id}: {error}")),
        },
        PatchOp::Append { .. } => warn("append op on the cluster topic"),
    }
}
