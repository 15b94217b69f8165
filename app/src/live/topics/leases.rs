//! The `leases` topic: every lease, each stamped with when it arrived (TTLs
//! count down from there).

use leptos::prelude::*;

use super::Change;
use crate::live::{decode, Collection, Live, Stamped};
use crate::model::{Lease, LeasesBody};

pub(super) fn apply(live: Live, change: Change<'_>) {
    let now = live.now_ms.get_untracked();
    match change {
        Change::Snapshot { data, more } => {
            if let Some(body) = decode::<LeasesBody>(data, "leases") {
                let items = body
                    .leases
                    .into_iter()
                    .map(|l| (l.id.to_string(), Stamped::new(l, now)));
                live.leases.set(Collection::loaded(items, more));
            }
        }
        Change::Patch { ops, more } => live
            .leases
            .update(|c| c.patch(ops, more, "lease", |l: Lease| Stamped::new(l, now))),
    }
}
