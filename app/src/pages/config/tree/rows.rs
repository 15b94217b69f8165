//! The tree as rows: the open folders under the root flattened in key order,
//! with a note where a folder is loading, refused or listed page by page,
//! and the folders with no match left out while a filter is set.

use std::collections::{BTreeMap, BTreeSet};

use crate::live::Collection;
use crate::model::{ErrorCode, Kv, KvDirEntry};
use crate::pages::lowercase;

/// One line of the flattened tree.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct TreeRow {
    /// The entry's id (a key's id, or a folder's prefix), or a note's folder.
    pub(super) id: String,
    pub(super) depth: usize,
    pub(super) line: Line,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Line {
    Folder {
        prefix: String,
        name: String,
        open: bool,
    },
    Key(Box<Kv>, String),
    /// A folder still loading, or refused by the server (with why).
    Note(String),
    /// "Load more" at the end of a folder listed page by page.
    More(String),
}

impl Line {
    /// Which kind of line this is: with the id, what a row is keyed by, so a
    /// key and a folder of the same text are two rows.
    pub(super) fn shape(&self) -> u8 {
        match self {
            Line::Folder { .. } => 0,
            Line::Key(..) => 1,
            Line::Note(_) => 2,
            Line::More(_) => 3,
        }
    }
}

/// A folder too large to watch, listed page by page from etcd instead
/// (`GET /api/v1/kv`): its keys, deep, in key order.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Paged {
    pub(super) items: Vec<Kv>,
    pub(super) more: bool,
    pub(super) loading: bool,
    pub(super) error: Option<String>,
}

/// Keys asked for per page of a folder listed page by page.
pub(super) const PAGE: usize = 500;

/// What the tree is drawn from.
pub(super) struct Tree<'a> {
    pub(super) open: &'a BTreeSet<String>,
    /// The filter, lowercased; empty for none.
    pub(super) q: &'a str,
    pub(super) dirs: &'a BTreeMap<String, Collection<KvDirEntry>>,
    pub(super) refused: &'a BTreeMap<String, (ErrorCode, String)>,
    pub(super) paged: &'a BTreeMap<String, Paged>,
}

impl Tree<'_> {
    fn shows(&self, kv: &Kv) -> bool {
        self.q.is_empty() || lowercase(&kv.key).contains(self.q)
    }

    /// Flattens the open part of the tree under `prefix` into `out`; returns
    /// whether it added anything (a folder with no match under it is left
    /// out while a filter is set).
    pub(super) fn walk(&self, prefix: &str, depth: usize, out: &mut Vec<TreeRow>) -> bool {
        // Each kind of note has its own id: the rows are keyed by it.
        let note = |kind: &str, text: String| TreeRow {
            id: format!("{kind}:{prefix}"),
            depth,
            line: Line::Note(text),
        };
        if let Some((code, why)) = self.refused.get(prefix) {
            if *code != ErrorCode::TooLarge {
                out.push(note("refused", why.clone()));
                return true;
            }
            return self.walk_paged(prefix, depth, out);
        }
        let Some(folder) = self.dirs.get(prefix) else {
            out.push(note("loading", "Loading…".to_owned()));
            return true;
        };
        if folder.items.is_empty() && self.q.is_empty() {
            out.push(note("empty", "No key here.".to_owned()));
            return true;
        }
        let start = out.len();
        for (id, entry) in &folder.items {
            match &entry.kv {
                Some(kv) => {
                    if self.shows(kv) {
                        out.push(TreeRow {
                            id: id.clone(),
                            depth,
                            line: Line::Key(Box::new(kv.clone()), entry.name.clone()),
                        });
                    }
                }
                None => {
                    // The sub-folder's prefix; its id is that prefix's id
                    // (base64 when the prefix begins with `base64:`).
                    let sub = format!("{prefix}{}", entry.name);
                    let is_open = self.open.contains(&sub);
                    let at = out.len();
                    out.push(TreeRow {
                        id: id.clone(),
                        depth,
                        line: Line::Folder {
                            prefix: sub.clone(),
                            name: entry.name.clone(),
                            open: is_open,
                        },
                    });
                    let inside = is_open && self.walk(&sub, depth + 1, out);
                    if !self.q.is_empty() && !inside && !lowercase(&sub).contains(self.q) {
                        out.truncate(at);
                    }
                }
            }
        }
        out.len() > start
    }

    /// A folder too large to watch: a note saying so, the keys listed so
    /// far (deep, named by what follows the folder's prefix), and "load more".
    fn walk_paged(&self, prefix: &str, depth: usize, out: &mut Vec<TreeRow>) -> bool {
        out.push(TreeRow {
            id: format!("paged:{prefix}"),
            depth,
            line: Line::Note(format!(
                "Over {} entries: not live here; its keys are listed from etcd, {PAGE} at a time.",
                crate::model::KV_TOPIC_MAX
            )),
        });
        let page = self.paged.get(prefix);
        for kv in page.iter().flat_map(|p| p.items.iter()).filter(|kv| self.shows(kv)) {
            let name = kv.key.get(prefix.len()..).unwrap_or(&kv.key).to_owned();
            out.push(TreeRow {
                id: kv.id(),
                depth,
                line: Line::Key(Box::new(kv.clone()), name),
            });
        }
        let last = match page {
            None => Some(("loading", Line::Note("Loading…".to_owned()))),
            Some(p) if p.loading => Some(("loading", Line::Note("Loading…".to_owned()))),
            Some(Paged { error: Some(e), .. }) => Some(("failed", Line::Note(e.clone()))),
            Some(p) if p.more => Some(("more", Line::More(prefix.to_owned()))),
            Some(_) => None,
        };
        if let Some((kind, line)) = last {
            out.push(TreeRow {
                id: format!("{kind}:{prefix}"),
                depth,
                line,
            });
        }
        true
    }
}
