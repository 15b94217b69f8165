//! The `services` topic (every service, summed up) and the `service:<name>`
//! topics (a service's instances, each stamped with when it arrived: TTLs
//! count down from there).

use leptos::prelude::*;

use super::Change;
use crate::live::{decode, Collection, Live, Stamped};
use crate::model::{Instance, ServiceBody, ServiceSummary, ServicesBody};

pub(super) fn apply_services(live: Live, change: Change<'_>) {
    match change {
        Change::Snapshot { data, more } => {
            if let Some(body) = decode::<ServicesBody>(data, "services") {
                let items = body.services.into_iter().map(|s| (s.name.clone(), s));
                live.services.set(Collection::loaded(items, more));
            }
        }
        Change::Patch { ops, more } => live
            .services
            .update(|c| c.patch(ops, more, "service", |s: ServiceSummary| s)),
    }
}

pub(super) fn apply_service(live: Live, name: String, change: Change<'_>) {
    let now = live.now_ms.get_untracked();
    match change {
        Change::Snapshot { data, more } => {
            if let Some(body) = decode::<ServiceBody>(data, "service") {
                let items = body.instances.into_iter().map(|i| (i.id.clone(), Stamped::new(i, now)));
                live.instances.update(|all| {
                    all.insert(name, Collection::loaded(items, more));
                });
            }
        }
        Change::Patch { ops, more } => live.instances.update(|all| {
            all.entry(name)
                .or_default()
                .patch(ops, more, "instance", |i: Instance| Stamped::new(i, now));
        }),
    }
}
