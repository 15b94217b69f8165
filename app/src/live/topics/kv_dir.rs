//! The `kv-dir:<prefix>` topics: the entries of one folder of the key tree
//! (its keys, and its sub-folders by name).

use leptos::prelude::*;

use super::Change;
use crate::live::{decode, Collection, Live};
use crate::model::{KvDirBody, KvDirEntry};

pub(super) fn apply(live: Live, prefix: String, change: Change<'_>) {
    match change {
        Change::Snapshot { data, more } => {
            if let Some(body) = decode::<KvDirBody>(data, "folder") {
                let items: Vec<(String, KvDirEntry)> = body
                    .entries
                    .into_iter()
                    .map(|e| (dir_entry_id(&prefix, &e), e))
                    .collect();
                live.kv_dir_refused.update(|all| {
                    all.remove(&prefix);
                });
                live.kv_dirs.update(|all| {
                    all.insert(prefix, Collection::loaded(items, more));
                });
            }
        }
        Change::Patch { ops, more } => live.kv_dirs.update(|all| {
            all.entry(prefix)
                .or_default()
                .patch(ops, more, "folder entry", |e: KvDirEntry| e);
        }),
    }
}

/// A folder entry's id, as the server's patches name it: the id of a
/// sub-folder's whole prefix, or the key's id (`base64:` for a key that is
/// not UTF-8, or whose text begins with `base64:`).
pub fn dir_entry_id(prefix: &str, entry: &KvDirEntry) -> String {
    match &entry.kv {
        Some(kv) => kv.id(),
        None => crate::model::text_id(&format!("{prefix}{}", entry.name)),
    }
}
