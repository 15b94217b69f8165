//! Bulk moves of a prefix, shared by the REST routes and the command line:
//! an export written page by page at one revision, and an import planned
//! against the target at one revision and applied by compare-and-swap on
//! every key's `mod_revision` then.
//!
//! An export never holds the prefix: it reads a page, writes it out and
//! reads the next, every page at the revision of the first. An import never
//! holds its document: [`document`] reads it a key at a time, its values
//! into a temporary file, and [`plan`] walks the target a page at a time
//! beside its keys and writes a batch of transactions at a time; [`copy`]
//! is both in one flow, and a rename.

pub mod copy;
pub mod document;
pub mod plan;

use std::collections::BTreeSet;

use app::model::{ExportItem, LeaseId, Revision, EXPORT_FORMAT};

pub use self::copy::{copy_detail, CopySpec};
pub use self::document::Source;
pub use self::plan::{applied_body, conflicting_keys, conflicts_of, plan_body};
use super::actions::ActionError;
use super::keys::KvError;
use super::ranges::prefix_end;
use super::Actions;
use crate::registry::{text_and_base64, KeyValue};

/// Keys per page of an export or of the walk of an import's target.
const PAGE: usize = 1000;
/// Leases per chunk of an export's `leases`.
const LEASE_CHUNK: usize = 100;
/// A key as an export document writes it.
pub fn export_item(kv: &KeyValue, keep_leases: bool) -> ExportItem {
    let (key, key_base64) = text_and_base64(&kv.key);
    let (value, value_base64) = text_and_base64(&kv.value);
    ExportItem {
        key,
        key_base64,
        value,
        value_base64,
        create_revision: kv.create_revision,
        mod_revision: kv.mod_revision,
        version: kv.version,
        lease: (keep_leases && kv.lease != 0).then_some(LeaseId(kv.lease)),
    }
}

enum Stage {
    Head,
    Items,
    Leases(Vec<i64>),
    Done,
}

/// An export document, produced a chunk at a time.
pub struct Exporter {
    actions: Actions,
    prefix: String,
    end: Vec<u8>,
    revision: Revision,
    keep_leases: bool,
    /// The first page, read by [`Exporter::start`] so that a refusal
    /// (compacted, future revision, etcd down) comes before any byte.
    page: Option<super::Page>,
    next: Vec<u8>,
    more: bool,
    items: u64,
    leases: BTreeSet<i64>,
    stage: Stage,
}

impl Exporter {
    /// Reads the first page of `prefix` at `revision` (0: now, which the
    /// first page fixes).
    pub async fn start(actions: Actions, prefix: &str, revision: Revision, keep_leases: bool) -> Result<Self, KvError> {
        let start = prefix.as_bytes().to_vec();
        let end = prefix_end(&start);
        let page = actions.range_page(&start, &end, PAGE, revision).await?;
        if page.revision < revision {
            return Err(KvError::FutureRevision(revision));
        }
        Ok(Exporter {
            actions,
            prefix: prefix.to_owned(),
            end,
            revision: if revision > 0 { revision } else { page.revision },
            keep_leases,
            more: true,
            page: Some(page),
            next: start,
            items: 0,
            leases: BTreeSet::new(),
            stage: Stage::Head,
        })
    }

    /// The revision every page is read at.
    pub fn revision(&self) -> Revision {
        self.revision
    }

    /// Keys written so far.
    pub fn items(&self) -> u64 {
        self.items
    }

    /// The next piece of the document; `None` once it is whole. An error
    /// leaves the document unfinished (not valid JSON): it is never cut
    /// into something that parses.
    pub async fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, KvError> {
        match std::mem::replace(&mut self.stage, Stage::Done) {
            Stage::Head => {
                let at = time::OffsetDateTime::now_utc()
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default();
                let head = format!(
                    "{{\"format\":{},\"prefix\":{},\"revision\":{},\"exported_at\":{},\"items\":[",
                    json_string(EXPORT_FORMAT),
                    json_string(&self.prefix),
                    self.revision,
                    json_string(&at)
                );
                self.stage = Stage::Items;
                Ok(Some(head.into_bytes()))
            }
            Stage::Items => {
                let page = match self.page.take() {
                    Some(page) => page,
                    None if self.more => {
                        self.actions
                            .range_page(&self.next, &self.end, PAGE, self.revision)
                            .await?
                    }
                    None => {
                        let mut tail = b"]".to_vec();
                        if self.keep_leases {
                            tail.extend_from_slice(b",\"leases\":[");
                            self.stage = Stage::Leases(self.leases.iter().copied().collect());
                        } else {
                            tail.push(b'}');
                        }
                        return Ok(Some(tail));
                    }
                };
                self.more = page.more;
                let mut chunk = Vec::new();
                for kv in &page.items {
                    if self.items > 0 {
                        chunk.push(b',');
                    }
                    chunk.push(b'\n');
                    serde_json::to_writer(&mut chunk, &export_item(kv, self.keep_leases))
                        .map_err(|e| KvError::Unavailable(format!("cannot write a key: {e}")))?;
                    self.items += 1;
                    if self.keep_leases && kv.lease != 0 {
                        self.leases.insert(kv.lease);
                    }
                }
                match page.items.last() {
                    Some(last) => {
                        self.next = last.key.clone();
                        self.next.push(0);
                    }
                    None => self.more = false,
                }
                self.stage = Stage::Items;
                Ok(Some(chunk))
            }
            Stage::Leases(mut ids) => {
                if ids.is_empty() {
                    return Ok(Some(b"]}\n".to_vec()));
                }
                let rest = ids.split_off(ids.len().min(LEASE_CHUNK));
                let first = self.leases.len() == ids.len() + rest.len();
                let mut chunk = Vec::new();
                for (i, id) in ids.iter().enumerate() {
                    if !(first && i == 0) {
                        chunk.push(b',');
                    }
                    let ttl = match self.actions.lease(*id).await {
                        Ok(now) => Some(now.granted_ttl),
                        Err(ActionError::NotFound) => None,
                        Err(ActionError::Unavailable(why)) => return Err(KvError::Unavailable(why)),
                    };
                    let lease = app::model::ExportLease { id: LeaseId(*id), ttl };
                    chunk.push(b'\n');
                    serde_json::to_writer(&mut chunk, &lease)
                        .map_err(|e| KvError::Unavailable(format!("cannot write a lease: {e}")))?;
                }
                self.stage = Stage::Leases(rest);
                Ok(Some(chunk))
            }
            Stage::Done => Ok(None),
        }
    }
}

fn json_string(text: &str) -> String {
    serde_json::Value::String(text.to_owned()).to_string()
}
