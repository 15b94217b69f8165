//! Bulk moves of a prefix, shared by the REST routes and the command line:
//! an export written page by page at one revision, and an import planned
//! against the target at one revision and applied by compare-and-swap on
//! every key's `mod_revision` then.
//!
//! An export never holds the prefix: it reads a page, writes it out and
//! reads the next, every page at the revision of the first. An import holds
//! the document (bounded by whoever reads it) and walks the target a page at
//! a time beside it.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use app::model::{
    ExportItem, GrantedLease, ImportBody, ImportConflict, ImportDocument, ImportKey, ImportValue, LeaseId, Revision,
    EXPORT_FORMAT,
};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use super::actions::ActionError;
use super::guarded::{Change, Guard, GuardedWrite, OnLease};
use super::keys::KvError;
use super::ranges::prefix_end;
use super::{with_timeout, Actions};
use crate::registry::{key_id, text_and_base64, KeyValue};

/// Keys per page of an export or of the walk of an import's target.
const PAGE: usize = 1000;
/// Leases per chunk of an export's `leases`.
const LEASE_CHUNK: usize = 100;
/// Most keys under the target an import's plan lists as absent from the
/// document.
pub const ABSENT_MAX: usize = 100_000;
/// Most bytes of values here a plan holds for its changed keys.
pub const BEFORE_MAX_BYTES: usize = 64 << 20;
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

/// One key of an import's document: the part after the document's prefix.
#[derive(Debug, Clone)]
struct SourceKey {
    suffix: Vec<u8>,
    value: Vec<u8>,
    /// The document's lease id (0: none).
    lease: i64,
}

/// An import's document, decoded: its keys in order, with their recorded
/// leases' TTLs.
#[derive(Debug)]
pub struct Source {
    pub from: Vec<u8>,
    keys: Vec<SourceKey>,
    /// Recorded TTLs (`None`: the lease was gone at export). etcdctl's
    /// output records none.
    ttls: HashMap<i64, Option<i64>>,
    /// The document is etcdctl's output.
    pub etcdctl: bool,
}

impl Source {
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Decodes an export document or `etcdctl get --prefix -w json` output;
    /// `from` is the prefix the keys are taken from (default: the export's
    /// prefix, or the longest common prefix of etcdctl's keys cut after its
    /// last `/`). A refusal says what is wrong with the document.
    pub fn read(document: ImportDocument, from: Option<&str>) -> Result<Source, String> {
        let mut raw: Vec<(Vec<u8>, Vec<u8>, i64)> = Vec::new();
        let mut ttls = HashMap::new();
        let etcdctl = document.kvs.is_some() || document.header.is_some();
        if etcdctl && (document.items.is_some() || document.format.is_some()) {
            return Err("the document is both an export (format, items) and etcdctl output (header, kvs)".to_owned());
        }
        if etcdctl {
            for (i, kv) in document.kvs.unwrap_or_default().into_iter().enumerate() {
                let key = STANDARD
                    .decode(&kv.key)
                    .map_err(|e| format!("kvs[{i}].key is not base64: {e}"))?;
                let value = STANDARD
                    .decode(&kv.value)
                    .map_err(|e| format!("kvs[{i}].value is not base64: {e}"))?;
                raw.push((key, value, kv.lease));
            }
        } else {
            match document.format.as_deref() {
                Some(EXPORT_FORMAT) => {}
                Some(other) => return Err(format!("format {other:?} is not {EXPORT_FORMAT:?}")),
                None => {
                    return Err(format!(
                        "the document is neither an export (format {EXPORT_FORMAT:?}) nor etcdctl's \
                         `get --prefix -w json` output (kvs)"
                    ))
                }
            }
            for (i, item) in document.items.unwrap_or_default().into_iter().enumerate() {
                let key = bytes_of(&item.key, item.key_base64.as_deref())
                    .map_err(|e| format!("items[{i}].key_base64 is not base64: {e}"))?;
                let value = bytes_of(&item.value, item.value_base64.as_deref())
                    .map_err(|e| format!("items[{i}].value_base64 is not base64: {e}"))?;
                raw.push((key, value, item.lease.map_or(0, |l| l.0)));
            }
            for lease in document.leases.unwrap_or_default() {
                if lease.ttl.is_some_and(|ttl| ttl < 1) {
                    return Err(format!(
                        "lease {} has ttl {:?}: a TTL is at least 1 s",
                        lease.id, lease.ttl
                    ));
                }
                ttls.insert(lease.id.0, lease.ttl);
            }
        }
        if raw.iter().any(|(key, _, _)| key.is_empty()) {
            return Err("a key of the document is empty".to_owned());
        }
        let from: Vec<u8> = match (from, document.prefix) {
            (Some(from), _) => from.as_bytes().to_vec(),
            (None, Some(prefix)) if !etcdctl => prefix.into_bytes(),
            _ => common_folder(raw.iter().map(|(key, _, _)| key.as_slice())),
        };
        let mut keys = Vec::with_capacity(raw.len());
        for (key, value, lease) in raw {
            let Some(suffix) = key.strip_prefix(from.as_slice()) else {
                return Err(format!(
                    "the key {:?} is not under the document's prefix {:?}",
                    clipped(&key_id(&key)),
                    key_id(&from)
                ));
            };
            keys.push(SourceKey {
                suffix: suffix.to_vec(),
                value,
                lease,
            });
        }
        keys.sort_by(|a, b| a.suffix.cmp(&b.suffix));
        if let Some(pair) = keys.windows(2).find(|pair| pair[0].suffix == pair[1].suffix) {
            let mut key = from.clone();
            key.extend_from_slice(&pair[0].suffix);
            return Err(format!("the document holds the key {:?} twice", key_id(&key)));
        }
        Ok(Source {
            from,
            keys,
            ttls,
            etcdctl,
        })
    }

    /// The lease a key is written on under `leases: recreate`: its recorded
    /// lease, when it has a TTL.
    fn recreated(&self, lease: i64) -> Option<(i64, i64)> {
        (lease != 0)
            .then(|| self.ttls.get(&lease).copied().flatten())
            .flatten()
            .map(|ttl| (lease, ttl))
    }
}

/// A key's id cut to what an error message quotes.
fn clipped(id: &str) -> String {
    match id.char_indices().nth(200) {
        Some((at, _)) => format!("{}…", id.get(..at).unwrap_or_default()),
        None => id.to_owned(),
    }
}

/// Text, or the bytes of its base64 when given.
fn bytes_of(text: &str, base64: Option<&str>) -> Result<Vec<u8>, base64::DecodeError> {
    match base64 {
        Some(encoded) => STANDARD.decode(encoded),
        None => Ok(text.as_bytes().to_vec()),
    }
}

/// The longest prefix the keys share, cut after its last `/` (nothing
/// when it holds none): the folder they were read from.
fn common_folder<'a>(mut keys: impl Iterator<Item = &'a [u8]>) -> Vec<u8> {
    let Some(first) = keys.next() else {
        return Vec::new();
    };
    let mut common = first.len();
    for key in keys {
        common = common.min(first.iter().zip(key).take_while(|(a, b)| a == b).count());
    }
    let shared = first.get(..common).unwrap_or_default();
    match shared.iter().rposition(|b| *b == b'/') {
        Some(slash) => shared.get(..=slash).unwrap_or_default().to_vec(),
        None => Vec::new(),
    }
}

/// Most bytes of keys and values a copy holds of its source.
pub const COPY_MAX_BYTES: usize = 64 << 20;

impl Actions {
    /// The keys under `prefix` at `revision` (0: now, fixed by the first
    /// page) as an import's source re-rooted from `prefix`, with each key's
    /// `mod_revision` then, and the revision read at. The recorded TTLs are
    /// the leases' now. More than [`COPY_MAX_BYTES`] is refused.
    pub async fn source_at(
        &self,
        prefix: &[u8],
        revision: Revision,
    ) -> Result<(Source, Vec<(Vec<u8>, Revision)>, Revision), KvError> {
        let end = prefix_end(prefix);
        let (mut next, mut at, mut more, mut bytes) = (prefix.to_vec(), revision, true, 0usize);
        let mut keys = Vec::new();
        let mut seen = Vec::new();
        let mut ttls = HashMap::new();
        while more {
            let page = self.range_page(&next, &end, PAGE, at).await?;
            if at == 0 {
                at = page.revision;
            } else if page.revision < at {
                return Err(KvError::FutureRevision(at));
            }
            more = page.more && !page.items.is_empty();
            for kv in page.items {
                bytes += kv.key.len() + kv.value.len();
                if bytes > COPY_MAX_BYTES {
                    return Err(KvError::TooLarge(format!(
                        "the prefix holds more than {} MiB of keys and values: copy it in parts",
                        COPY_MAX_BYTES >> 20
                    )));
                }
                if kv.lease != 0 && !ttls.contains_key(&kv.lease) {
                    let ttl = match self.lease(kv.lease).await {
                        Ok(now) => Some(now.granted_ttl),
                        Err(ActionError::NotFound) => None,
                        Err(ActionError::Unavailable(why)) => return Err(KvError::Unavailable(why)),
                    };
                    ttls.insert(kv.lease, ttl);
                }
                next = kv.key.clone();
                next.push(0);
                seen.push((kv.key.clone(), kv.mod_revision));
                keys.push(SourceKey {
                    suffix: kv.key.get(prefix.len()..).unwrap_or_default().to_vec(),
                    value: kv.value,
                    lease: kv.lease,
                });
            }
        }
        let source = Source {
            from: prefix.to_vec(),
            keys,
            ttls,
            etcdctl: false,
        };
        Ok((source, seen, at))
    }

    /// Deletes each key only while its `mod_revision` is the one given,
    /// as an import's apply deletes (chunks, conflicts read back).
    pub async fn delete_guarded(&self, keys: Vec<(Vec<u8>, Revision)>) -> Applied {
        let plan = Plan {
            absent: keys
                .into_iter()
                .map(|(key, mod_revision)| Planned {
                    key,
                    mod_revision,
                    before: None,
                    after: None,
                })
                .collect(),
            ..Plan::default()
        };
        let none = Source {
            from: Vec::new(),
            keys: Vec::new(),
            ttls: HashMap::new(),
            etcdctl: false,
        };
        self.import_apply(&none, plan, true).await
    }
}

/// One key of a plan.
#[derive(Debug, Clone)]
pub struct Planned {
    pub key: Vec<u8>,
    /// Here at the plan's revision (0: absent).
    pub mod_revision: Revision,
    /// The value and lease here (changed keys only).
    pub before: Option<(Vec<u8>, i64)>,
    /// The document's value and lease (the lease it is written on:
    /// recorded, under `leases: recreate`, else 0); `None`: not in it.
    pub after: Option<(Vec<u8>, i64)>,
}

/// What an import would do to the target, as it was at `revision`.
#[derive(Debug, Default)]
pub struct Plan {
    pub revision: Revision,
    pub added: Vec<Planned>,
    pub changed: Vec<Planned>,
    pub unchanged: u64,
    pub absent: Vec<Planned>,
    /// Keys whose recorded lease has no TTL, under `leases: recreate`.
    pub unleased: Vec<Vec<u8>>,
}

/// What an applied import did.
#[derive(Debug, Default)]
pub struct Applied {
    pub written: u64,
    pub deleted: u64,
    /// The planned key, and the key as it is now.
    pub conflicts: Vec<(Planned, Option<KeyValue>)>,
    pub transactions: u64,
    pub revision: Revision,
    /// Recorded lease id, new lease id, TTL.
    pub leases: Vec<(i64, i64, i64)>,
    pub interrupted: Option<String>,
    pub remaining: u64,
}

impl Actions {
    /// The plan of importing `source` under `target` against the target as
    /// it is at `at` (0: now, fixed by the first page read).
    pub async fn import_plan(
        &self,
        source: &Source,
        target: &[u8],
        at: Revision,
        recreate: bool,
    ) -> Result<Plan, KvError> {
        let end = prefix_end(target);
        let mut next = target.to_vec();
        let mut plan = Plan {
            revision: at,
            ..Plan::default()
        };
        let mut wanted = source.keys.iter().peekable();
        let mut before_bytes = 0usize;
        let mut more = true;
        let written_lease = |key: &SourceKey, unleased: &mut Vec<Vec<u8>>, full: &[u8]| -> i64 {
            if !recreate || key.lease == 0 {
                return 0;
            }
            match source.recreated(key.lease) {
                Some((lease, _)) => lease,
                None => {
                    unleased.push(full.to_vec());
                    0
                }
            }
        };
        let full_key = |key: &SourceKey| {
            let mut full = target.to_vec();
            full.extend_from_slice(&key.suffix);
            full
        };
        while more {
            let page = self.range_page(&next, &end, PAGE, plan.revision).await?;
            if plan.revision == 0 {
                plan.revision = page.revision;
            } else if page.revision < plan.revision {
                return Err(KvError::FutureRevision(plan.revision));
            }
            more = page.more && !page.items.is_empty();
            if let Some(last) = page.items.last() {
                next = last.key.clone();
                next.push(0);
            }
            for here in page.items {
                // Every document key before this one is absent here.
                while let Some(key) = wanted.peek() {
                    let full = full_key(key);
                    if full >= here.key {
                        break;
                    }
                    let lease = written_lease(key, &mut plan.unleased, &full);
                    plan.added.push(Planned {
                        key: full,
                        mod_revision: 0,
                        before: None,
                        after: Some((key.value.clone(), lease)),
                    });
                    wanted.next();
                }
                let matched = wanted.peek().is_some_and(|key| full_key(key) == here.key);
                if !matched {
                    if plan.absent.len() >= ABSENT_MAX {
                        return Err(KvError::TooLarge(format!(
                            "more than {ABSENT_MAX} keys under the target are not in the document: \
                             narrow the target prefix"
                        )));
                    }
                    plan.absent.push(Planned {
                        key: here.key,
                        mod_revision: here.mod_revision,
                        before: None,
                        after: None,
                    });
                    continue;
                }
                let Some(key) = wanted.next() else { continue };
                let lease = written_lease(key, &mut plan.unleased, &here.key);
                if key.value == here.value && lease == 0 && here.lease == 0 {
                    plan.unchanged += 1;
                    continue;
                }
                before_bytes += here.value.len();
                if before_bytes > BEFORE_MAX_BYTES {
                    return Err(KvError::TooLarge(format!(
                        "the keys the import would change hold more than {} MiB here: import in parts",
                        BEFORE_MAX_BYTES >> 20
                    )));
                }
                plan.changed.push(Planned {
                    key: here.key,
                    mod_revision: here.mod_revision,
                    before: Some((here.value, here.lease)),
                    after: Some((key.value.clone(), lease)),
                });
            }
        }
        for key in wanted {
            let full = full_key(key);
            let lease = written_lease(key, &mut plan.unleased, &full);
            plan.added.push(Planned {
                key: full,
                mod_revision: 0,
                before: None,
                after: Some((key.value.clone(), lease)),
            });
        }
        Ok(plan)
    }

    /// Applies `plan`: every key written (or, with `delete_missing`, deleted)
    /// only while its `mod_revision` is the plan's, as guarded writes in bulk
    /// ([`Actions::apply_guarded`]: transactions of at most 128 keys and
    /// 1 MiB; the keys that moved are conflicts, the others are tried
    /// again). etcd failing mid-way stops the apply and says how far it got.
    pub async fn import_apply(&self, source: &Source, plan: Plan, delete_missing: bool) -> Applied {
        let mut ops: Vec<Planned> = plan.added.into_iter().chain(plan.changed).collect();
        if delete_missing {
            ops.extend(plan.absent);
        }
        ops.sort_by(|a, b| a.key.cmp(&b.key));
        let mut applied = Applied::default();
        // One new lease per recorded lease a write uses.
        let used: BTreeSet<i64> = ops
            .iter()
            .filter_map(|op| op.after.as_ref().map(|(_, lease)| *lease))
            .filter(|lease| *lease != 0)
            .collect();
        let mut granted: BTreeMap<i64, i64> = BTreeMap::new();
        for lease in used {
            let Some((_, ttl)) = source.recreated(lease) else {
                continue;
            };
            let mut client = self.client.clone();
            match with_timeout(self.timeout, client.lease_grant(ttl, None)).await {
                Ok(answer) => {
                    granted.insert(lease, answer.id());
                    applied.leases.push((lease, answer.id(), ttl));
                }
                Err(error) => {
                    applied.interrupted = Some(format!(
                        "granting a lease of {ttl} s failed before any key was written: {}",
                        error.summary()
                    ));
                    applied.remaining = ops.len() as u64;
                    return applied;
                }
            }
        }
        // The writes, each guarded by the key as the plan saw it.
        let writes: Vec<GuardedWrite> = ops
            .iter()
            .map(|op| GuardedWrite {
                key: op.key.clone(),
                guard: if op.mod_revision == 0 {
                    Guard::Absent
                } else {
                    Guard::At(op.mod_revision)
                },
                change: match &op.after {
                    Some((value, lease)) => Change::Put {
                        value: value.clone(),
                        lease: granted.get(lease).map_or(OnLease::None, |id| OnLease::Lease(*id)),
                    },
                    None => Change::Delete,
                },
            })
            .collect();
        let mut planned: HashMap<Vec<u8>, Planned> = ops.into_iter().map(|op| (op.key.clone(), op)).collect();
        let outcome = self.apply_guarded(writes).await;
        for key in &outcome.applied {
            match planned.get(key).map(|op| op.after.is_some()) {
                Some(true) => applied.written += 1,
                Some(false) => applied.deleted += 1,
                None => {}
            }
        }
        applied.conflicts = outcome
            .conflicts
            .into_iter()
            .filter_map(|conflict| Some((planned.remove(&conflict.write.key)?, conflict.current)))
            .collect();
        applied.transactions = outcome.transactions as u64;
        applied.revision = outcome.revision;
        applied.interrupted = outcome
            .interrupted
            .map(|why| format!("{why}: the transaction in flight may or may not have been written"));
        applied.remaining = outcome.not_tried as u64;
        applied
    }
}

fn value_of(value: &[u8], lease: i64) -> ImportValue {
    let (value, value_base64) = text_and_base64(value);
    ImportValue {
        value,
        value_base64,
        lease: (lease != 0).then_some(LeaseId(lease)),
    }
}

fn planned_key(planned: &Planned) -> ImportKey {
    let (key, key_base64) = text_and_base64(&planned.key);
    ImportKey {
        key,
        key_base64,
        mod_revision: planned.mod_revision,
        before: planned.before.as_ref().map(|(v, l)| value_of(v, *l)),
        after: planned.after.as_ref().map(|(v, l)| value_of(v, *l)),
    }
}

/// The keys an apply did not write, each with both sides.
pub fn conflicts_of(applied: &Applied) -> Vec<ImportConflict> {
    applied
        .conflicts
        .iter()
        .map(|(planned, now)| {
            let (key, key_base64) = text_and_base64(&planned.key);
            ImportConflict {
                key,
                key_base64,
                expected_mod_revision: planned.mod_revision,
                current_mod_revision: now.as_ref().map_or(0, |kv| kv.mod_revision),
                current: now.as_ref().map(|kv| value_of(&kv.value, kv.lease)),
                after: planned.after.as_ref().map(|(v, l)| value_of(v, *l)),
            }
        })
        .collect()
}

/// The keys an apply did not write.
pub fn conflicting_keys(applied: &Applied) -> BTreeSet<Vec<u8>> {
    applied
        .conflicts
        .iter()
        .map(|(planned, _)| planned.key.clone())
        .collect()
}

/// The answer of a dry run: the plan, nothing applied.
pub fn plan_body(target: &[u8], source: &Source, plan: &Plan, delete_missing: bool) -> ImportBody {
    ImportBody {
        prefix: key_id(target),
        from: key_id(&source.from),
        revision: plan.revision,
        added: plan.added.iter().map(planned_key).collect(),
        changed: plan.changed.iter().map(planned_key).collect(),
        unchanged: plan.unchanged,
        absent_here: plan.absent.iter().map(planned_key).collect(),
        delete_missing,
        unleased: plan.unleased.iter().map(|k| key_id(k)).collect(),
        ..ImportBody::default()
    }
}

/// The answer of an apply: the plan's body with what was done.
pub fn applied_body(mut body: ImportBody, applied: &Applied) -> ImportBody {
    body.applied = true;
    body.written = applied.written;
    body.deleted = applied.deleted;
    body.transactions = applied.transactions;
    body.applied_revision = applied.revision;
    body.interrupted = applied.interrupted.clone();
    body.remaining = applied.remaining;
    body.leases = applied
        .leases
        .iter()
        .map(|(from, id, ttl)| GrantedLease {
            from: LeaseId(*from),
            id: LeaseId(*id),
            ttl: *ttl,
        })
        .collect();
    body.conflicts = conflicts_of(applied);
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_folder_of_keys_ends_at_a_slash() {
        let folder = |keys: &[&str]| String::from_utf8(common_folder(keys.iter().map(|k| k.as_bytes()))).ok();
        assert_eq!(folder(&["/a/x1", "/a/x2"]).as_deref(), Some("/a/"));
        assert_eq!(folder(&["/a/b/c"]).as_deref(), Some("/a/b/"));
        assert_eq!(folder(&["/a/x", "/b/y"]).as_deref(), Some("/"));
        assert_eq!(folder(&["ab", "ac"]).as_deref(), Some(""));
        assert_eq!(folder(&[]).as_deref(), Some(""));
    }

    #[test]
    fn a_document_is_read_byte_exact_and_refused_when_it_is_not_one() {
        let document: ImportDocument = serde_json::from_str(
            r#"{"format":"leasehold-export/1","prefix":"/a/","revision":5,"items":[
                {"key":"/a/y","value":"2","lease":"10"},
                {"key":"\ufffd","key_base64":"L2Ev/w==","value":"\ufffd","value_base64":"/w=="}],
                "leases":[{"id":"10","ttl":30}]}"#,
        )
        .unwrap_or_default();
        let source = Source::read(document, None);
        let Ok(source) = source else { panic!("{source:?}") };
        assert_eq!(source.from, b"/a/");
        let keys: Vec<&[u8]> = source.keys.iter().map(|k| k.suffix.as_slice()).collect();
        assert_eq!(keys, [&b"y"[..], &[0xff][..]]);
        assert_eq!(source.keys.get(1).map(|k| k.value.clone()), Some(vec![0xff]));
        assert_eq!(source.recreated(0x10), Some((0x10, 30)));

        let etcdctl: ImportDocument =
            serde_json::from_str(r#"{"header":{"revision":3},"kvs":[{"key":"L3gvYS9i","value":"dg==","lease":7}]}"#)
                .unwrap_or_default();
        let Ok(source) = Source::read(etcdctl, None) else {
            panic!("etcdctl output")
        };
        assert!(source.etcdctl);
        assert_eq!(source.from, b"/x/a/");
        assert_eq!(source.recreated(7), None, "etcdctl records no TTL");

        for bad in [
            r#"{"items":[]}"#,
            r#"{"format":"other/2","items":[]}"#,
            r#"{"format":"leasehold-export/1","prefix":"/a/","items":[{"key":"/b/x","value":""}]}"#,
            r#"{"format":"leasehold-export/1","prefix":"/a/","items":[{"key":"/a/x","value":""},{"key":"/a/x","value":""}]}"#,
            r#"{"kvs":[{"key":"not base64!","value":""}]}"#,
        ] {
            let document: ImportDocument = serde_json::from_str(bad).unwrap_or_default();
            assert!(Source::read(document, None).is_err(), "{bad} was read");
        }
    }
}
