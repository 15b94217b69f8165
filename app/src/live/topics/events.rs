//! The `events` topic: the timeline, oldest first, its newest events kept.

use leptos::prelude::*;

use super::Change;
use crate::live::{decode, warn, Live};
use crate::model::{Event, EventsBody, PatchOp};

/// Events kept in the browser for the timeline.
const EVENTS_KEPT: usize = 2000;

pub(super) fn apply(live: Live, change: Change<'_>) {
    match change {
        Change::Snapshot { data, .. } => {
            if let Some(body) = decode::<EventsBody>(data, "events") {
                live.events.set(Some(body.events));
            }
        }
        Change::Patch { ops, .. } => live.events.update(|events| {
            let events = events.get_or_insert_with(Vec::new);
            for op in ops {
                match op {
                    PatchOp::Append { value } => {
                        if let Some(event) = decode::<Event>(value.get(), "event") {
                            events.push(event);
                        }
                    }
                    other => warn(&format!("unexpected op on events: {:?}", other.id())),
                }
            }
            let excess = events.len().saturating_sub(EVENTS_KEPT);
            events.drain(..excess);
        }),
    }
}
