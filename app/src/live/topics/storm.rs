//! The `storm` topic: the eviction storm while one is on (more instances'
//! leases expired within the window than the threshold allows).

use leptos::prelude::*;

use super::Change;
use crate::live::{decode, warn, Live};
use crate::model::{PatchOp, Storm, StormBody};

pub(super) fn apply(live: Live, change: Change<'_>) {
    match change {
        Change::Snapshot { data, .. } => {
            if let Some(body) = decode::<StormBody>(data, "storm") {
                live.storm.set(body.storm);
            }
        }
        Change::Patch { ops, .. } => {
            let mut storm = live.storm.get_untracked();
            for op in ops {
                apply_op(&mut storm, op);
            }
            if storm != live.storm.get_untracked() {
                live.storm.set(storm);
            }
        }
    }
}

/// `upsert` of id `storm`: it began or changed; `remove`: it ended.
fn apply_op(storm: &mut Option<Storm>, op: PatchOp) {
    match op {
        PatchOp::Upsert { value, .. } => {
            if let Some(now) = decode::<Storm>(value.get(), "storm") {
                *storm = Some(now);
            }
        }
        PatchOp::Remove { .. } => *storm = None,
        PatchOp::Append { .. } => warn("append op on the storm topic"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::value::RawValue;

    fn raw(json: &str) -> Box<RawValue> {
        RawValue::from_string(json.to_owned()).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_storm_begins_grows_and_ends() {
        let mut storm = None;
        let value = |expired: u64| {
            raw(&format!(
                r#"{{"since":"2026-12-06T21:00:00Z","services":[{{"service":"pay","expired":{expired}}}],
                    "expired":{expired},"instances":100,"window_seconds":60}}"#
            ))
        };
        apply_op(
            &mut storm,
            PatchOp::Upsert {
                id: "storm".into(),
                value: value(20),
            },
        );
        assert_eq!(storm.as_ref().map(|s| s.expired), Some(20));
        apply_op(
            &mut storm,
            PatchOp::Upsert {
                id: "storm".into(),
                value: value(35),
            },
        );
        assert_eq!(storm.as_ref().map(|s| s.services[0].expired), Some(35));
        // What does not decode leaves it as it was.
        apply_op(
            &mut storm,
            PatchOp::Upsert {
                id: "storm".into(),
                value: raw("{}"),
            },
        );
        assert_eq!(storm.as_ref().map(|s| s.expired), Some(35));
        apply_op(&mut storm, PatchOp::Remove { id: "storm".into() });
        assert_eq!(storm, None);
    }
}
