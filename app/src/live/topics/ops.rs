//! The `ops` topic: each member's health, quota, alarms and maintenance.

use std::collections::BTreeMap;

use leptos::prelude::*;

use super::Change;
use crate::live::{decode, warn, Live, OpsView};
use crate::model::{MemberId, OpsBody, OpsMember, PatchOp};

pub(super) fn apply(live: Live, change: Change<'_>) {
    match change {
        Change::Snapshot { data, .. } => {
            if let Some(body) = decode::<OpsBody>(data, "ops") {
                let members: BTreeMap<MemberId, OpsMember> = body.members.into_iter().map(|m| (m.id, m)).collect();
                live.ops.set(Some(OpsView {
                    compact_revision: body.compact_revision,
                    members,
                }));
            }
        }
        Change::Patch { ops, .. } => live.ops.update(|view| {
            let view = view.get_or_insert_with(OpsView::default);
            for op in ops {
                match op {
                    PatchOp::Upsert { value, .. } => {
                        if let Some(member) = decode::<OpsMember>(value.get(), "ops member") {
                            // Every member carries the horizon.
                            if member.compact_revision.is_some() {
                                view.compact_revision = member.compact_revision;
                            }
                            view.members.insert(member.id, member);
                        }
                    }
                    PatchOp::Remove { id } => match id.parse::<MemberId>() {
                        Ok(id) => {
                            view.members.remove(&id);
                        }
                        Err(error) => warn(&format!("bad member id {id}: {error}")),
                    },
                    PatchOp::Append { .. } => warn("append op on the ops topic"),
                }
            }
        }),
    }
}
