//! An import's plan and its apply: the document's keys walked beside the
//! target's pages at one revision, then written by compare-and-swap on
//! each key's `mod_revision` then, a batch of transactions at a time so
//! that only that batch's values are in memory.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use app::model::{GrantedLease, ImportBody, ImportConflict, ImportKey, ImportValue, LeaseId, Revision};

use super::document::{Source, SourceKey, Span, Values, KEYS_MAX, KEYS_MAX_BYTES};
use super::PAGE;
use crate::etcd::actions::ActionError;
use crate::etcd::guarded::{chunk_sizes_of, BulkOutcome, Change, Guard, GuardedWrite, OnLease, TXN_MAX_BYTES};
use crate::etcd::keys::KvError;
use crate::etcd::ranges::prefix_end;
use crate::etcd::{with_timeout, Actions};
use crate::registry::{key_id, text_and_base64, KeyValue};

/// Most keys under the target an import's plan lists as absent from the
/// document.
pub const ABSENT_MAX: usize = 100_000;
/// Most bytes of values here a plan holds for its changed keys.
pub const BEFORE_MAX_BYTES: usize = 64 << 20;
/// Most bytes of values each list of an answer shows (`changed`, `added`,
/// `conflicts`); a value past it is given by its size alone (`omitted`).
pub const ANSWER_VALUES_MAX: usize = 8 << 20;
/// Most bytes of values one batch of an apply reads into memory: whole
/// transactions, so batching changes nothing of how many there are.
const BATCH_BYTES: usize = 4 << 20;

fn local(error: std::io::Error) -> KvError {
    KvError::Local(format!("the import's temporary file: {error}"))
}

impl Actions {
    /// The keys under `prefix` at `revision` (0: now, fixed by the first
    /// page) as an import's source re-rooted from `prefix` (values in a
    /// temporary file), with each key's `mod_revision` then, and the
    /// revision read at. The recorded TTLs are the leases' now.
    pub async fn source_at(
        &self,
        prefix: &[u8],
        revision: Revision,
    ) -> Result<(Source, Vec<(Vec<u8>, Revision)>, Revision), KvError> {
        let end = prefix_end(prefix);
        let (mut next, mut at, mut more, mut key_bytes) = (prefix.to_vec(), revision, true, 0usize);
        let mut keys = Vec::new();
        let mut seen = Vec::new();
        let mut ttls = HashMap::new();
        let mut values = Values::new().map_err(local)?;
        while more {
            let page = self.range_page(&next, &end, PAGE, at).await?;
            if at == 0 {
                at = page.revision;
            } else if page.revision < at {
                return Err(KvError::FutureRevision(at));
            }
            more = page.more && !page.items.is_empty();
            for kv in page.items {
                key_bytes += kv.key.len();
                if keys.len() >= KEYS_MAX || key_bytes > KEYS_MAX_BYTES {
                    return Err(KvError::TooLarge(format!(
                        "the prefix holds more than {KEYS_MAX} keys or {} MiB of keys: copy it in parts",
                        KEYS_MAX_BYTES >> 20
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
                    value: values.push(&kv.value).map_err(local)?,
                    lease: kv.lease,
                });
            }
        }
        values.seal().map_err(local)?;
        let source = Source {
            from: prefix.to_vec(),
            keys,
            values,
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
        match Values::new() {
            Ok(mut values) => {
                let sealed = values.seal();
                let none = Source {
                    from: Vec::new(),
                    keys: Vec::new(),
                    values,
                    ttls: HashMap::new(),
                    etcdctl: false,
                };
                match sealed {
                    Ok(()) => self.import_apply(&none, plan, true).await,
                    Err(error) => Applied::not_begun(local(error).to_string(), plan.absent.len()),
                }
            }
            Err(error) => Applied::not_begun(local(error).to_string(), plan.absent.len()),
        }
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
    /// Where the source's value lies, and the lease it is written on
    /// (recorded, under `leases: recreate`, else 0); `None`: not in it.
    pub after: Option<(Span, i64)>,
}

impl Planned {
    /// The bytes its write sends.
    fn bytes(&self) -> usize {
        self.key.len() + self.after.map_or(0, |(span, _)| span.len)
    }
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

impl Applied {
    /// An apply stopped before its first write.
    fn not_begun(why: String, keys: usize) -> Applied {
        Applied {
            interrupted: Some(why),
            remaining: keys as u64,
            ..Applied::default()
        }
    }
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
                        after: Some((key.value, lease)),
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
                // Values of another length differ without being read.
                let same = key.value.len == here.value.len() && source.value(key).map_err(local)? == here.value;
                if same && lease == 0 && here.lease == 0 {
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
                    after: Some((key.value, lease)),
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
                after: Some((key.value, lease)),
            });
        }
        Ok(plan)
    }

    /// Applies `plan`: every key written (or, with `delete_missing`, deleted)
    /// only while its `mod_revision` is the plan's, as guarded writes in bulk
    /// ([`Actions::apply_guarded`]: transactions of at most 128 keys and
    /// 1 MiB; the keys that moved are conflicts, the others are tried
    /// again), read from the source a batch of whole transactions at a
    /// time. etcd failing mid-way stops the apply and says how far it got.
    pub async fn import_apply(&self, source: &Source, plan: Plan, delete_missing: bool) -> Applied {
        let mut ops: Vec<Planned> = plan.added.into_iter().chain(plan.changed).collect();
        if delete_missing {
            ops.extend(plan.absent);
        }
        ops.sort_by(|a, b| a.key.cmp(&b.key));
        // A write too large to share a transaction goes after the others,
        // so that it does not cut their run in two (as `large_last`).
        ops.sort_by_key(|op| op.bytes() > TXN_MAX_BYTES);
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
        let total = ops.len();
        let mut done = 0usize;
        let mut rest = ops.into_iter();
        for batch in batches(
            &chunk_sizes_of(rest.as_slice().iter().map(Planned::bytes)),
            rest.as_slice(),
        ) {
            let batch: Vec<Planned> = rest.by_ref().take(batch).collect();
            let mut writes = Vec::with_capacity(batch.len());
            for op in &batch {
                let change = match &op.after {
                    Some((span, lease)) => match source.values.read(*span) {
                        Ok(value) => Change::Put {
                            value,
                            lease: granted.get(lease).map_or(OnLease::None, |id| OnLease::Lease(*id)),
                        },
                        Err(error) => {
                            applied.interrupted = Some(local(error).to_string());
                            applied.remaining = (total - done) as u64;
                            return applied;
                        }
                    },
                    None => Change::Delete,
                };
                writes.push(GuardedWrite {
                    key: op.key.clone(),
                    guard: if op.mod_revision == 0 {
                        Guard::Absent
                    } else {
                        Guard::At(op.mod_revision)
                    },
                    change,
                });
            }
            let size = batch.len();
            let outcome = self.apply_guarded(writes).await;
            let stopped = outcome.interrupted.is_some();
            let not_tried = outcome.not_tried;
            applied.absorb(batch, outcome);
            if stopped {
                applied.remaining = (not_tried + total - done - size) as u64;
                return applied;
            }
            done += size;
        }
        applied
    }
}

impl Applied {
    /// What one batch did, added to the rest.
    fn absorb(&mut self, batch: Vec<Planned>, outcome: BulkOutcome) {
        let mut planned: HashMap<Vec<u8>, Planned> = batch.into_iter().map(|op| (op.key.clone(), op)).collect();
        for key in &outcome.applied {
            match planned.get(key).map(|op| op.after.is_some()) {
                Some(true) => self.written += 1,
                Some(false) => self.deleted += 1,
                None => {}
            }
        }
        self.conflicts.extend(
            outcome
                .conflicts
                .into_iter()
                .filter_map(|conflict| Some((planned.remove(&conflict.write.key)?, conflict.current))),
        );
        self.transactions += outcome.transactions as u64;
        if outcome.revision > 0 {
            self.revision = outcome.revision;
        }
        if let Some(why) = outcome.interrupted {
            self.interrupted = Some(format!(
                "{why}: the transaction in flight may or may not have been written"
            ));
        }
    }
}

/// Writes per batch: whole transactions (`chunks`, as
/// [`chunk_sizes_of`] cuts them), up to [`BATCH_BYTES`] (one transaction
/// at least).
fn batches(chunks: &[usize], ops: &[Planned]) -> Vec<usize> {
    let mut batches = Vec::new();
    let (mut keys, mut bytes, mut at) = (0usize, 0usize, 0usize);
    for chunk in chunks {
        let size: usize = ops
            .get(at..at + chunk)
            .unwrap_or_default()
            .iter()
            .map(Planned::bytes)
            .sum();
        if keys > 0 && bytes + size > BATCH_BYTES {
            batches.push(keys);
            (keys, bytes) = (0, 0);
        }
        keys += chunk;
        bytes += size;
        at += chunk;
    }
    if keys > 0 {
        batches.push(keys);
    }
    batches
}

/// What an answer shows of the values of one list.
struct Shown {
    left: usize,
}

impl Shown {
    fn new() -> Shown {
        Shown {
            left: ANSWER_VALUES_MAX,
        }
    }

    /// `value` as an answer gives it: whole while the list's budget lasts,
    /// else its size alone.
    fn value(&mut self, value: &[u8], lease: i64) -> ImportValue {
        let lease = (lease != 0).then_some(LeaseId(lease));
        if value.len() > self.left {
            self.left = 0;
            return ImportValue {
                value: String::new(),
                value_base64: None,
                lease,
                size: value.len() as u64,
                omitted: true,
            };
        }
        self.left -= value.len();
        let (text, value_base64) = text_and_base64(value);
        ImportValue {
            value: text,
            value_base64,
            lease,
            size: value.len() as u64,
            omitted: false,
        }
    }

    /// The source's value at `span`, read only when it is shown.
    fn read(&mut self, source: &Source, span: Span, lease: i64) -> ImportValue {
        let read = (span.len <= self.left).then(|| source.values.read(span).ok()).flatten();
        match read {
            Some(value) => self.value(&value, lease),
            None => {
                self.left = 0;
                ImportValue {
                    value: String::new(),
                    value_base64: None,
                    lease: (lease != 0).then_some(LeaseId(lease)),
                    size: span.len as u64,
                    omitted: true,
                }
            }
        }
    }

    fn key(&mut self, source: &Source, planned: &Planned) -> ImportKey {
        let (key, key_base64) = text_and_base64(&planned.key);
        ImportKey {
            key,
            key_base64,
            mod_revision: planned.mod_revision,
            before: planned.before.as_ref().map(|(v, l)| self.value(v, *l)),
            after: planned.after.map(|(span, l)| self.read(source, span, l)),
        }
    }
}

/// The keys an apply did not write, each with both sides.
pub fn conflicts_of(source: &Source, applied: &Applied) -> Vec<ImportConflict> {
    let mut shown = Shown::new();
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
                current: now.as_ref().map(|kv| shown.value(&kv.value, kv.lease)),
                after: planned.after.map(|(span, l)| shown.read(source, span, l)),
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
    let (mut changed, mut added) = (Shown::new(), Shown::new());
    ImportBody {
        prefix: key_id(target),
        from: key_id(&source.from),
        revision: plan.revision,
        added: plan.added.iter().map(|p| added.key(source, p)).collect(),
        changed: plan.changed.iter().map(|p| changed.key(source, p)).collect(),
        unchanged: plan.unchanged,
        absent_here: plan.absent.iter().map(|p| Shown::new().key(source, p)).collect(),
        delete_missing,
        unleased: plan.unleased.iter().map(|k| key_id(k)).collect(),
        ..ImportBody::default()
    }
}

/// The answer of an apply: the plan's body with what was done.
pub fn applied_body(mut body: ImportBody, source: &Source, applied: &Applied) -> ImportBody {
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
    body.conflicts = conflicts_of(source, applied);
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    fn planned(key: &str, bytes: usize) -> Planned {
        let mut values = Values::new().ok();
        let span = values.as_mut().and_then(|v| v.push(&vec![b'x'; bytes]).ok());
        Planned {
            key: key.as_bytes().to_vec(),
            mod_revision: 0,
            before: None,
            after: span.map(|s| (s, 0)),
        }
    }

    #[test]
    fn a_batch_is_whole_transactions_up_to_its_bytes() {
        // 300 small keys: three transactions, one batch.
        let small: Vec<Planned> = (0..300).map(|i| planned(&format!("k{i:03}"), 10)).collect();
        let chunks = chunk_sizes_of(small.iter().map(Planned::bytes));
        assert_eq!(chunks, [128, 128, 44]);
        assert_eq!(batches(&chunks, &small), [300]);
        // 40 values of 1 MiB: one transaction each, 3 to a 4 MiB batch
        // (each is 1 MiB and its key).
        let large: Vec<Planned> = (0..40).map(|i| planned(&format!("k{i:02}"), 1 << 20)).collect();
        let chunks = chunk_sizes_of(large.iter().map(Planned::bytes));
        assert_eq!(chunks.len(), 40);
        let cut = batches(&chunks, &large);
        assert_eq!(cut.iter().sum::<usize>(), 40);
        assert!(cut.iter().all(|b| *b == 3 || *b == 1), "{cut:?}");
    }

    #[test]
    fn an_answer_shows_values_until_its_budget_is_spent() {
        let mut shown = Shown::new();
        let first = shown.value(&vec![b'a'; ANSWER_VALUES_MAX - 1], 0);
        assert!(!first.omitted);
        assert_eq!(first.size, (ANSWER_VALUES_MAX - 1) as u64);
        let second = shown.value(b"bb", 7);
        assert!(second.omitted && second.value.is_empty());
        assert_eq!((second.size, second.lease), (2, Some(LeaseId(7))));
        assert!(shown.value(b"", 0).omitted.eq(&false), "an empty value costs nothing");
    }
}
