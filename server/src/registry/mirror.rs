//! The raw mirror of etcd's keys: exactly what etcd holds under the watched
//! prefixes at the store's revision.

use std::collections::BTreeMap;

use app::model::Revision;

/// One key as etcd stores it. Keys and values are bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    pub key: Vec<u8>,
    pub value: Vec<u8>,
    pub create_revision: Revision,
    pub mod_revision: Revision,
    pub version: i64,
    /// 0 when the key has no lease.
    pub lease: i64,
}

#[cfg(test)]
impl KeyValue {
    /// A key as tests write it: created and modified at revision 1, version 1, no lease.
    pub fn sample(key: &str, value: &str) -> Self {
        KeyValue {
            key: key.as_bytes().to_vec(),
            value: value.as_bytes().to_vec(),
            create_revision: 1,
            mod_revision: 1,
            version: 1,
            lease: 0,
        }
    }

    pub fn with_lease(self, lease: i64) -> Self {
        KeyValue { lease, ..self }
    }

    pub fn at(self, revision: Revision) -> Self {
        KeyValue {
            create_revision: revision,
            mod_revision: revision,
            ..self
        }
    }
}

/// One change from etcd's watch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KvEvent {
    Put(KeyValue),
    Delete { key: Vec<u8> },
}

/// What one applied event did to the mirror.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Upserted { before: Option<KeyValue>, after: KeyValue },
    Removed(KeyValue),
}

/// A change seen through references: what a relist's diff yields without
/// copying every key, and what the index reads of any change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeRef<'a> {
    Upserted {
        before: Option<&'a KeyValue>,
        after: &'a KeyValue,
    },
    Removed(&'a KeyValue),
}

impl Change {
    pub fn as_ref(&self) -> ChangeRef<'_> {
        match self {
            Change::Upserted { before, after } => ChangeRef::Upserted {
                before: before.as_ref(),
                after,
            },
            Change::Removed(kv) => ChangeRef::Removed(kv),
        }
    }
}

/// The keys, in etcd's byte order.
#[derive(Debug, Default, Clone)]
pub struct Mirror {
    keys: BTreeMap<Vec<u8>, KeyValue>,
}

impl Mirror {
    pub fn from_list(items: impl IntoIterator<Item = KeyValue>) -> Self {
        Mirror {
            keys: items.into_iter().map(|kv| (kv.key.clone(), kv)).collect(),
        }
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn get(&self, key: &[u8]) -> Option<&KeyValue> {
        self.keys.get(key)
    }

    pub fn iter(&self) -> impl Iterator<Item = &KeyValue> {
        self.keys.values()
    }

    /// The keys from `start` on, in key order.
    pub fn from_key<'a>(&'a self, start: &[u8]) -> impl Iterator<Item = &'a KeyValue> + 'a {
        self.keys
            .range::<[u8], _>((std::ops::Bound::Included(start), std::ops::Bound::Unbounded))
            .map(|(_, kv)| kv)
    }

    /// The keys starting with `prefix`, in key order.
    pub fn under<'a>(&'a self, prefix: &'a [u8]) -> impl Iterator<Item = &'a KeyValue> + 'a {
        self.from_key(prefix).take_while(move |kv| kv.key.starts_with(prefix))
    }

    /// Applies one event; `None` when it changed nothing (a delete of a key the
    /// mirror does not hold).
    pub fn apply(&mut self, event: KvEvent) -> Option<Change> {
        match event {
            KvEvent::Put(kv) => {
                let before = self.keys.insert(kv.key.clone(), kv.clone());
                Some(Change::Upserted { before, after: kv })
            }
            KvEvent::Delete { key } => self.keys.remove(&key).map(Change::Removed),
        }
    }

    /// The changes that turn `self` into `next`: removals, then upserts, each
    /// in key order. What a relist after compaction or a lost stream must tell
    /// clients, instead of a blank page followed by everything.
    pub fn diff<'a>(&'a self, next: &'a Mirror) -> impl Iterator<Item = ChangeRef<'a>> {
        let removed = self
            .keys
            .iter()
            .filter(|(key, _)| !next.keys.contains_key(*key))
            .map(|(_, old)| ChangeRef::Removed(old));
        let upserted = next.keys.iter().filter_map(|(key, new)| match self.keys.get(key) {
            Some(old) if old == new => None,
            before => Some(ChangeRef::Upserted { before, after: new }),
        });
        removed.chain(upserted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(key: &str, value: &str, rev: Revision) -> KeyValue {
        KeyValue::sample(key, value).at(rev)
    }

    #[test]
    fn apply_puts_and_deletes() {
        let mut mirror = Mirror::default();
        assert!(matches!(
            mirror.apply(KvEvent::Put(kv("a", "1", 2))),
            Some(Change::Upserted { before: None, .. })
        ));
        assert!(matches!(
            mirror.apply(KvEvent::Put(kv("a", "2", 3))),
            Some(Change::Upserted { before: Some(_), .. })
        ));
        assert_eq!(mirror.get(b"a").map(|kv| kv.value.clone()), Some(b"2".to_vec()));
        assert!(mirror.apply(KvEvent::Delete { key: b"zz".to_vec() }).is_none());
        assert!(matches!(
            mirror.apply(KvEvent::Delete { key: b"a".to_vec() }),
            Some(Change::Removed(_))
        ));
        assert!(mirror.is_empty());
    }

    #[test]
    fn under_reads_one_prefix_in_key_order() {
        let mirror = Mirror::from_list([kv("/a", "", 1), kv("/a/2", "", 1), kv("/a/1", "", 1), kv("/b", "", 1)]);
        let keys: Vec<&[u8]> = mirror.under(b"/a/").map(|kv| kv.key.as_slice()).collect();
        assert_eq!(keys, [b"/a/1".as_slice(), b"/a/2"]);
        assert_eq!(mirror.under(b"").count(), 4);
        assert_eq!(mirror.from_key(b"/a0").count(), 1);
    }

    #[test]
    fn diff_reports_removals_upserts_and_nothing_for_equal_keys() {
        let old = Mirror::from_list([kv("gone", "x", 2), kv("same", "y", 3), kv("changed", "z", 4)]);
        let new = Mirror::from_list([kv("same", "y", 3), kv("changed", "z2", 9), kv("added", "w", 10)]);
        let summary: Vec<String> = old
            .diff(&new)
            .map(|c| match c {
                ChangeRef::Removed(kv) => format!("-{}", String::from_utf8_lossy(&kv.key)),
                ChangeRef::Upserted { after, .. } => {
                    format!("+{}", String::from_utf8_lossy(&after.key))
                }
            })
            .collect();
        assert_eq!(summary, ["-gone", "+added", "+changed"]);
    }
}
