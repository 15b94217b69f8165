//! The `locks` topic: every lock, by name.

use leptos::prelude::*;

use super::Change;
use crate::live::{decode, Collection, Live};
use crate::model::{Lock, LocksBody};

pub(super) fn apply(live: Live, change: Change<'_>) {
    match change {
        Change::Snapshot { data, more } => {
            if let Some(body) = decode::<LocksBody>(data, "locks") {
                live.locks.set(Collection::loaded(
                    body.locks.into_iter().map(|l| (l.name.clone(), l)),
                    more,
                ));
            }
        }
        Change::Patch { ops, more } => live.locks.update(|c| c.patch(ops, more, "lock", |l: Lock| l)),
    }
}
