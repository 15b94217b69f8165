//! The `elections` topic: every election, by name.

use leptos::prelude::*;

use super::Change;
use crate::live::{decode, Collection, Live};
use crate::model::{Election, ElectionsBody};

pub(super) fn apply(live: Live, change: Change<'_>) {
    match change {
        Change::Snapshot { data, more } => {
            if let Some(body) = decode::<ElectionsBody>(data, "elections") {
                let items = body.elections.into_iter().map(|e| (e.name.clone(), e));
                live.elections.set(Collection::loaded(items, more));
            }
        }
        Change::Patch { ops, more } => live
            .elections
            .update(|c| c.patch(ops, more, "election", |e: Election| e)),
    }
}
