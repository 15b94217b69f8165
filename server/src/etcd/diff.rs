//! The keys under a prefix at two revisions, compared page by page.

use std::collections::VecDeque;

use app::model::Revision;

use super::keys::KvError;
use super::ranges::prefix_end;
use super::Actions;
use crate::registry::KeyValue;

/// Keys per page when a diff walks a prefix.
const DIFF_PAGE: usize = 1000;
/// Most differences one diff reports.
pub const DIFF_MAX: usize = 10_000;

/// A prefix at two revisions, each list in key order.
#[derive(Debug, Default)]
pub struct Diff {
    pub revision: Revision,
    pub to: Revision,
    pub added: Vec<KeyValue>,
    pub removed: Vec<KeyValue>,
    pub changed: Vec<(KeyValue, KeyValue)>,
}

impl Actions {
    /// The keys under `prefix` at `from` against `to` (`None`: now): added,
    /// removed, and changed (another `mod_revision`), walking both sides page
    /// by page in key order. More than [`DIFF_MAX`] differences is an error.
    pub async fn diff_prefix(&self, prefix: &[u8], from: Revision, to: Option<Revision>) -> Result<Diff, KvError> {
        self.diff_range(prefix, &prefix_end(prefix), from, to).await
    }

    /// [`Actions::diff_prefix`] over the keys in `[prefix, end)`.
    pub async fn diff_range(
        &self,
        prefix: &[u8],
        end: &[u8],
        from: Revision,
        to: Option<Revision>,
    ) -> Result<Diff, KvError> {
        let end = end.to_vec();
        let mut after = Cursor::new(prefix, &end, to.unwrap_or(0));
        // The newer side first: it fixes "now" and etcd's revision.
        after.fill(self).await?;
        let to = after.revision;
        let mut before = Cursor::new(prefix, &end, from);
        let mut diff = Diff {
            revision: after.header,
            to,
            ..Diff::default()
        };
        let mut differences = 0usize;
        loop {
            before.fill(self).await?;
            after.fill(self).await?;
            let step = match (before.buffer.front(), after.buffer.front()) {
                (None, None) => break,
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (Some(old), Some(new)) => old.key.cmp(&new.key),
            };
            match step {
                std::cmp::Ordering::Less => {
                    diff.removed.extend(before.buffer.pop_front());
                    differences += 1;
                }
                std::cmp::Ordering::Greater => {
                    diff.added.extend(after.buffer.pop_front());
                    differences += 1;
                }
                std::cmp::Ordering::Equal => {
                    if let (Some(old), Some(new)) = (before.buffer.pop_front(), after.buffer.pop_front()) {
                        if old.mod_revision != new.mod_revision {
                            diff.changed.push((old, new));
                            differences += 1;
                        }
                    }
                }
            }
            if differences > DIFF_MAX {
                return Err(KvError::TooLarge(format!(
                    "more than {DIFF_MAX} keys differ between the two revisions: narrow the prefix or the revisions"
                )));
            }
        }
        Ok(diff)
    }
}

/// A walk over a prefix at one revision, a page at a time.
struct Cursor {
    next: Vec<u8>,
    end: Vec<u8>,
    /// 0 until the first page pins the walk to etcd's revision then.
    revision: Revision,
    /// etcd's revision when the first page was read.
    header: Revision,
    buffer: VecDeque<KeyValue>,
    more: bool,
}

impl Cursor {
    fn new(start: &[u8], end: &[u8], revision: Revision) -> Self {
        Cursor {
            next: start.to_vec(),
            end: end.to_vec(),
            revision,
            header: 0,
            buffer: VecDeque::new(),
            more: true,
        }
    }

    /// Reads the next page when the buffer is empty and keys remain.
    async fn fill(&mut self, actions: &Actions) -> Result<(), KvError> {
        if !self.buffer.is_empty() || !self.more {
            return Ok(());
        }
        let page = actions
            .range_page(&self.next, &self.end, DIFF_PAGE, self.revision)
            .await?;
        if self.revision == 0 {
            self.revision = page.revision;
        }
        if self.header == 0 {
            self.header = page.revision;
        }
        self.more = page.more;
        if let Some(last) = page.items.last() {
            self.next = last.key.clone();
            self.next.push(0);
        } else {
            self.more = false;
        }
        self.buffer.extend(page.items);
        Ok(())
    }
}
