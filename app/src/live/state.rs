//! Collections the live client keeps, and how patches change them.

use std::collections::BTreeMap;

use crate::model::{Alarm, Member, MemberId, OpsMember, PatchOp, Revision};

use super::{decode, warn};

/// The cluster as the `cluster` topic describes it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ClusterView {
    pub cluster_id: Option<MemberId>,
    pub members: BTreeMap<MemberId, Member>,
}

impl ClusterView {
    /// Members sorted by name, for display.
    pub fn sorted(&self) -> Vec<Member> {
        let mut members: Vec<Member> = self.members.values().cloned().collect();
        members.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
        members
    }

    pub fn leader(&self) -> Option<&Member> {
        self.members.values().find(|m| m.is_leader)
    }
}

/// The members as the `ops` topic describes them.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OpsView {
    pub compact_revision: Option<Revision>,
    pub members: BTreeMap<MemberId, OpsMember>,
}

impl OpsView {
    /// Members sorted by name, for display.
    pub fn sorted(&self) -> Vec<OpsMember> {
        let mut members: Vec<OpsMember> = self.members.values().cloned().collect();
        members.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
        members
    }

    /// The active alarms, each with the member that raised it.
    pub fn alarms(&self) -> Vec<(Alarm, String)> {
        let mut alarms: Vec<(Alarm, String)> = self
            .members
            .values()
            .flat_map(|m| m.alarms.iter().map(|a| (*a, m.name.clone())))
            .collect();
        alarms.sort();
        alarms
    }
}

/// An entity and when (browser clock, ms) its sampled fields arrived: TTLs
/// count down from there.
#[derive(Debug, Clone, PartialEq)]
pub struct Stamped<T> {
    pub value: T,
    pub received_ms: f64,
}

impl<T> Stamped<T> {
    pub fn new(value: T, received_ms: f64) -> Self {
        Stamped { value, received_ms }
    }
}

/// A topic's entities by id; `loaded` once its snapshot arrived, `partial`
/// while the rest of a snapshot sent in parts is still arriving.
#[derive(Debug, Clone, PartialEq)]
pub struct Collection<T> {
    pub loaded: bool,
    pub partial: bool,
    pub items: BTreeMap<String, T>,
    /// Changes whenever the set of ids does (an id added or removed, a new
    /// snapshot), and only then: a list of ids stays valid while it is the
    /// same, however the entities' values change. Unique across collections.
    pub members: u64,
}

/// A new [`Collection::members`] stamp.
fn next_members() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

impl<T> Default for Collection<T> {
    fn default() -> Self {
        Collection {
            loaded: false,
            partial: false,
            items: BTreeMap::new(),
            members: next_members(),
        }
    }
}

impl<T> Collection<T> {
    /// A snapshot's entities; `more` when further parts follow.
    pub fn loaded(items: impl IntoIterator<Item = (String, T)>, more: bool) -> Self {
        // Inserted one by one rather than collected: `collect` into a BTreeMap
        // sorts first, a stable sort per entity type in the wasm (the last of
        // equal keys wins either way).
        let mut map = BTreeMap::new();
        for (id, item) in items {
            map.insert(id, item);
        }
        Collection {
            loaded: true,
            partial: more,
            items: map,
            members: next_members(),
        }
    }

    /// Applies a patch; `more` when it is a part of a snapshot that goes on.
    pub fn patch<E: serde::de::DeserializeOwned>(
        &mut self,
        ops: Vec<PatchOp>,
        more: bool,
        what: &str,
        wrap: impl Fn(E) -> T,
    ) {
        self.apply(ops, what, wrap);
        self.partial = more;
    }

    /// Applies upserts and removals; `wrap` turns a decoded entity into what is kept.
    pub fn apply<E: serde::de::DeserializeOwned>(&mut self, ops: Vec<PatchOp>, what: &str, wrap: impl Fn(E) -> T) {
        for op in ops {
            match op {
                PatchOp::Upsert { id, value } => {
                    if let Some(entity) = decode::<E>(value.get(), what) {
                        if self.items.insert(id, wrap(entity)).is_none() {
                            self.members = next_members();
                        }
                    }
                }
                PatchOp::Remove { id } => {
                    if self.items.remove(&id).is_some() {
                        self.members = next_members();
                    }
                }
                PatchOp::Append { .. } => warn(&format!("append op on {what}s")),
            }
        }
    }
}

/// Seconds left of a TTL sampled `ttl` at `received_ms`, at `now_ms`. Never
/// below zero while the lease exists; -1 (expired) stays -1.
pub fn remaining(ttl: Option<i64>, received_ms: f64, now_ms: f64) -> Option<i64> {
    let ttl = ttl?;
    if ttl < 0 {
        return Some(ttl);
    }
    let elapsed = if now_ms > received_ms && received_ms > 0.0 {
        ((now_ms - received_ms) / 1000.0).floor() as i64
    } else {
        0
    };
    Some((ttl - elapsed).max(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::value::RawValue;

    fn raw(json: &str) -> Box<RawValue> {
        RawValue::from_string(json.to_owned()).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn patches_upsert_remove_and_skip_what_does_not_decode() {
        let mut numbers: Collection<i64> = Collection::loaded([("a".to_owned(), 1), ("b".to_owned(), 2)], false);
        numbers.apply(
            vec![
                PatchOp::Upsert {
                    id: "a".into(),
                    value: raw("10"),
                },
                PatchOp::Remove { id: "b".into() },
                PatchOp::Upsert {
                    id: "c".into(),
                    value: raw("3"),
                },
                PatchOp::Upsert {
                    id: "d".into(),
                    value: raw("\"not a number\""),
                },
                PatchOp::Remove {
                    id: "never-there".into(),
                },
            ],
            "number",
            |n: i64| n,
        );
        let got: Vec<(&str, i64)> = numbers.items.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        assert_eq!(got, [("a", 10), ("c", 3)]);
        assert!(numbers.loaded);

        // New values keep the stamp of the ids; a new id or a removal changes it.
        let stamp = numbers.members;
        let upsert = |id: &str, json: &str| PatchOp::Upsert {
            id: id.into(),
            value: raw(json),
        };
        numbers.apply(vec![upsert("a", "11")], "number", |n: i64| n);
        assert_eq!(numbers.members, stamp, "a value changed, not the ids");
        numbers.apply(vec![upsert("e", "5")], "number", |n: i64| n);
        assert_ne!(numbers.members, stamp);
        let stamp = numbers.members;
        numbers.apply(vec![PatchOp::Remove { id: "never".into() }], "number", |n: i64| n);
        assert_eq!(numbers.members, stamp);
        numbers.apply(vec![PatchOp::Remove { id: "e".into() }], "number", |n: i64| n);
        assert_ne!(numbers.members, stamp);
    }

    #[test]
    fn ttls_count_down_from_their_sample() {
        assert_eq!(remaining(Some(30), 1_000.0, 1_000.0), Some(30));
        assert_eq!(remaining(Some(30), 1_000.0, 11_500.0), Some(20));
        assert_eq!(remaining(Some(3), 1_000.0, 60_000.0), Some(0));
        assert_eq!(remaining(Some(-1), 1_000.0, 60_000.0), Some(-1));
        assert_eq!(remaining(None, 1_000.0, 60_000.0), None);
        // Before the clock starts (server render), nothing moves.
        assert_eq!(remaining(Some(30), 0.0, 0.0), Some(30));
    }
}
