//! The `kv-dir:<prefix>` topic: one folder of the key tree, served from the
//! mirror: its snapshot (the folder's keys and one entry per sub-folder),
//! and the patches each change makes to the folders sessions watch.

use std::collections::{BTreeMap, BTreeSet};

use app::model::{KvDirBody, KvDirEntry, PatchOp, Topic, KV_TOPIC_MAX};
use serde_json::value::to_raw_value;

use super::classify::Classifier;
use super::kv_topics::to_kv;
use super::mirror::{ChangeRef, KeyValue, Mirror};
use super::text::{key_id, text_id};
use crate::hub::SnapshotError;

/// Where `key` sits in the folder `prefix`: `Ok(name)` for a key directly in
/// it, `Err(folder)` for a key inside its sub-folder `folder` (the folder's
/// whole prefix, ending with `/`); `None` when the key is not under `prefix`.
fn place<'k>(prefix: &[u8], key: &'k [u8]) -> Option<Result<&'k [u8], &'k [u8]>> {
    let rest = key.strip_prefix(prefix)?;
    Some(match rest.iter().position(|&b| b == b'/') {
        Some(slash) => Err(key.get(..prefix.len() + slash + 1).unwrap_or(key)),
        None => Ok(rest),
    })
}

/// The first key past every key starting with `folder` (which ends with
/// `/`): the same bytes with the final `/` raised to `0`, the next byte.
fn past_folder(folder: &[u8]) -> Vec<u8> {
    let mut next = folder.to_vec();
    if let Some(last) = next.last_mut() {
        *last += 1;
    }
    next
}

/// A sub-folder as a `kv-dir` entry, with its id (its whole prefix).
///
/// The id is the id of the folder's prefix as text ([`text_id`]), what a
/// client gets by appending the entry's `name` to the folder's own prefix
/// (which is text): bytes that are not UTF-8 show as U+FFFD in both, and a
/// prefix beginning with `base64:` is written in base64, as a key's id is.
fn folder_entry(prefix: &[u8], folder: &[u8]) -> (String, KvDirEntry) {
    let name = String::from_utf8_lossy(folder.get(prefix.len()..).unwrap_or_default()).into_owned();
    let id = text_id(&format!("{}{name}", String::from_utf8_lossy(prefix)));
    (id, KvDirEntry { name, kv: None })
}

/// A key directly in the folder as a `kv-dir` entry.
fn key_entry(classifier: &Classifier, name: &[u8], kv: &KeyValue) -> KvDirEntry {
    KvDirEntry {
        name: String::from_utf8_lossy(name).into_owned(),
        kv: Some(to_kv(classifier, kv)),
    }
}

/// The `kv-dir:<prefix>` snapshot: the folder's keys and sub-folders in key
/// order. A sub-folder is stepped over in one seek, however many keys it
/// holds, so a folder costs its number of entries, not of keys beneath it.
pub(super) fn dir_snapshot_body(
    classifier: &Classifier,
    mirror: &Mirror,
    topic: &Topic,
    prefix: &str,
    revision: app::model::Revision,
    stale: bool,
) -> Result<KvDirBody, SnapshotError> {
    let prefix_bytes = prefix.as_bytes();
    let mut entries = Vec::new();
    let mut from = prefix_bytes.to_vec();
    'seek: loop {
        for kv in mirror.from_key(&from) {
            if entries.len() >= KV_TOPIC_MAX {
                if kv.key.starts_with(prefix_bytes) {
                    return Err(SnapshotError::TooLarge(topic.clone(), KV_TOPIC_MAX));
                }
                break 'seek;
            }
            match place(prefix_bytes, &kv.key) {
                None => break 'seek,
                Some(Ok(name)) => entries.push(key_entry(classifier, name, kv)),
                Some(Err(folder)) => {
                    entries.push(folder_entry(prefix_bytes, folder).1);
                    from = past_folder(folder);
                    continue 'seek;
                }
            }
        }
        break;
    }
    Ok(KvDirBody {
        revision,
        prefix: prefix.to_owned(),
        entries,
        stale,
    })
}

/// The patches `changes` make to the `kv-dir:<prefix>` topics of
/// `prefixes` (those sessions watch), read against `mirror` as it is after
/// them. A key directly in a
/// folder is upserted or removed; a sub-folder is upserted when a key is
/// created in it and removed when its last key goes, and a key rewritten in
/// place changes nothing above it.
pub(super) fn dir_patches(
    prefixes: &[String],
    classifier: &Classifier,
    mirror: &Mirror,
    changes: &[ChangeRef<'_>],
) -> Vec<(Topic, Vec<PatchOp>)> {
    if changes.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::with_capacity(prefixes.len());
    for prefix in prefixes {
        let prefix_bytes = prefix.as_bytes();
        let mut ops = Vec::new();
        // Sub-folders a key was created in, or removed from.
        let mut grown: BTreeMap<&[u8], BTreeSet<&[u8]>> = BTreeMap::new();
        let mut shrunk: BTreeSet<&[u8]> = BTreeSet::new();
        for change in changes {
            let (key, created, removed) = match change {
                ChangeRef::Upserted { before, after } => (after.key.as_slice(), before.is_none(), false),
                ChangeRef::Removed(kv) => (kv.key.as_slice(), false, true),
            };
            match place(prefix_bytes, key) {
                None => {}
                Some(Ok(name)) => match change {
                    ChangeRef::Upserted { after, .. } => match to_raw_value(&key_entry(classifier, name, after)) {
                        Ok(value) => ops.push(PatchOp::Upsert { id: key_id(key), value }),
                        Err(error) => tracing::error!(%error, "cannot serialize a key for the kv-dir topic"),
                    },
                    ChangeRef::Removed(_) => ops.push(PatchOp::Remove { id: key_id(key) }),
                },
                Some(Err(folder)) if created => {
                    grown.entry(folder).or_default().insert(key);
                }
                Some(Err(folder)) if removed => {
                    shrunk.insert(folder);
                }
                Some(Err(_)) => {}
            }
        }
        for (folder, created) in &grown {
            // New when it holds keys now, every one created by these changes.
            let mut now = mirror.under(folder).peekable();
            let new = now.peek().is_some() && now.all(|kv| created.contains(kv.key.as_slice()));
            if new {
                let (id, entry) = folder_entry(prefix_bytes, folder);
                match to_raw_value(&entry) {
                    Ok(value) => ops.push(PatchOp::Upsert { id, value }),
                    Err(error) => tracing::error!(%error, "cannot serialize a folder for the kv-dir topic"),
                }
            }
        }
        for folder in shrunk {
            if mirror.under(folder).next().is_none() {
                ops.push(PatchOp::Remove {
                    id: folder_entry(prefix_bytes, folder).0,
                });
            }
        }
        out.push((Topic::KvDir(prefix.clone()), ops));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mirror(keys: &[&str]) -> Mirror {
        Mirror::from_list(keys.iter().map(|k| KeyValue::sample(k, "v")))
    }

    fn dir_names(mirror: &Mirror, prefix: &str) -> Vec<String> {
        let topic = Topic::KvDir(prefix.to_owned());
        dir_snapshot_body(&Classifier::default(), mirror, &topic, prefix, 1, false)
            .map(|b| {
                b.entries
                    .into_iter()
                    .map(|e| format!("{}{}", e.name, if e.kv.is_some() { "" } else { " (folder)" }))
                    .collect()
            })
            .unwrap_or_else(|e| vec![e.to_string()])
    }

    #[test]
    fn a_folder_holds_its_keys_and_one_entry_per_sub_folder() {
        let m = mirror(&[
            "/a", "/a/", "/a/x", "/a/b/1", "/a/b/2", "/a/b/c/3", "/a/b0", "/a/c/9", "/b/1", "top",
        ]);
        assert_eq!(dir_names(&m, ""), ["/ (folder)", "top"]);
        assert_eq!(dir_names(&m, "/"), ["a", "a/ (folder)", "b/ (folder)"]);
        assert_eq!(dir_names(&m, "/a/"), ["", "b/ (folder)", "b0", "c/ (folder)", "x"]);
        assert_eq!(dir_names(&m, "/a/b/"), ["1", "2", "c/ (folder)"]);
        assert!(dir_names(&m, "/zz/").is_empty());

        // Entries are capped, not the keys beneath them.
        let mut keys: Vec<String> = (0..KV_TOPIC_MAX).map(|i| format!("/wide/{i:05}")).collect();
        keys.extend((0..20_000).map(|i| format!("/deep/sub/{i:05}")));
        let big = Mirror::from_list(keys.iter().map(|k| KeyValue::sample(k, "")));
        assert_eq!(dir_names(&big, "/").len(), 2);
        assert_eq!(dir_names(&big, "/wide/").len(), KV_TOPIC_MAX);
        let more = Mirror::from_list(
            keys.iter()
                .chain(["/wide/more".to_owned()].iter())
                .map(|k| KeyValue::sample(k, "")),
        );
        assert!(
            dir_names(&more, "/wide/")[0].contains("more than"),
            "{:?}",
            &dir_names(&more, "/wide/")[..1]
        );
    }

    #[test]
    fn folder_patches_follow_the_first_and_last_key() {
        let prefixes = ["/a/".to_owned()];
        let topic = Topic::KvDir("/a/".to_owned());
        let classifier = Classifier::default();
        let summary = |mirror: &Mirror, changes: &[ChangeRef<'_>]| -> Vec<String> {
            dir_patches(&prefixes, &classifier, mirror, changes)
                .into_iter()
                .flat_map(|(t, ops)| {
                    assert_eq!(t, topic);
                    ops
                })
                .map(|op| match op {
                    PatchOp::Upsert { id, .. } => format!("+{id}"),
                    PatchOp::Remove { id } => format!("-{id}"),
                    PatchOp::Append { .. } => "append".to_owned(),
                })
                .collect()
        };
        let k1 = KeyValue::sample("/a/b/1", "");
        let k2 = KeyValue::sample("/a/b/2", "");
        let direct = KeyValue::sample("/a/x", "");
        let elsewhere = KeyValue::sample("/z/1", "");
        let after = mirror(&["/a/b/1", "/a/b/2", "/a/x"]);
        let created = [
            ChangeRef::Upserted {
                before: None,
                after: &k1,
            },
            ChangeRef::Upserted {
                before: None,
                after: &k2,
            },
            ChangeRef::Upserted {
                before: None,
                after: &direct,
            },
            ChangeRef::Upserted {
                before: None,
                after: &elsewhere,
            },
        ];
        assert_eq!(summary(&after, &created), ["+/a/x", "+/a/b/"]);
        // Rewriting a key inside a sub-folder changes nothing in this folder.
        let rewritten = [ChangeRef::Upserted {
            before: Some(&k1),
            after: &k1,
        }];
        assert!(summary(&after, &rewritten).is_empty());
        // The folder stays while a key is left in it, and goes with the last.
        assert!(summary(&mirror(&["/a/b/2", "/a/x"]), &[ChangeRef::Removed(&k1)]).is_empty());
        assert_eq!(
            summary(
                &mirror(&["/a/x"]),
                &[ChangeRef::Removed(&k2), ChangeRef::Removed(&direct)]
            ),
            ["-/a/x", "-/a/b/"]
        );

        // A folder whose name is not UTF-8: its id is the folder's prefix
        // plus the name the snapshot gives it, as the browser computes it.
        let odd = KeyValue {
            key: b"/a/\xff/1".to_vec(),
            ..KeyValue::sample("", "")
        };
        let with_odd = Mirror::from_list([odd.clone()]);
        assert_eq!(
            summary(
                &with_odd,
                &[ChangeRef::Upserted {
                    before: None,
                    after: &odd
                }]
            ),
            ["+/a/\u{fffd}/"]
        );
        let body = dir_snapshot_body(&classifier, &with_odd, &topic, "/a/", 1, false);
        let names: Vec<String> = body
            .map(|b| b.entries.into_iter().map(|e| e.name).collect())
            .unwrap_or_default();
        assert_eq!(names, ["\u{fffd}/"]);
    }
}
