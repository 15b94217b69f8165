//! Guarded writes in bulk: many keys written or deleted, each only if it is
//! still as the preview saw it. etcd takes at most [`TXN_MAX_OPS`]
//! operations in each list of a transaction (`--max-txn-ops`), so the
//! writes go in transactions of that many keys, each transaction all or
//! nothing. A transaction whose compares do not hold is not retried blindly:
//! the keys are read back in the same transaction, those no longer as seen
//! are set aside as conflicts (with what they are now), and the rest of the
//! chunk is tried again. Nobody's newer write is overwritten, and nothing is
//! dropped without being named.

use app::model::Revision;
use etcd_client::{Compare, CompareOp, PutOptions, Txn, TxnOp, TxnOpResponse};

use super::keys::KvError;
use super::watcher::convert_kv;
use super::{with_timeout, Actions};
use crate::registry::KeyValue;

/// Operations of one kind etcd takes in one transaction (its default
/// `--max-txn-ops`): a chunk is this many compares, then this many writes.
pub const TXN_MAX_OPS: usize = 128;
/// Bytes of keys and values one transaction carries at most (etcd refuses
/// a request over 1.5 MiB, `--max-request-bytes`); a write larger than this
/// goes alone.
pub const TXN_MAX_BYTES: usize = 1 << 20;
/// Times a chunk is tried again after setting its conflicts aside, before
/// what is left of it is reported as conflicting too (keys that keep
/// changing under the writes).
const ROUNDS: usize = 4;

/// What a key must be for its write to happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guard {
    /// The key does not exist.
    Absent,
    /// The key's `mod_revision` is this one.
    At(Revision),
}

impl Guard {
    /// Whether `current` (the key now, `None`: absent) satisfies the guard.
    pub fn holds(self, current: Option<&KeyValue>) -> bool {
        match (self, current) {
            (Guard::Absent, None) => true,
            (Guard::At(revision), Some(kv)) => kv.mod_revision == revision,
            _ => false,
        }
    }

    fn compare(self, key: &[u8]) -> Compare {
        match self {
            // A key that does not exist compares as mod_revision 0.
            Guard::Absent => Compare::mod_revision(key.to_vec(), CompareOp::Equal, 0),
            Guard::At(revision) => Compare::mod_revision(key.to_vec(), CompareOp::Equal, revision),
        }
    }
}

/// The lease a put leaves the key on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnLease {
    /// No lease: the key stays until deleted.
    None,
    /// The lease the key has now (only for a key that exists).
    Keep,
    /// This lease, which must exist.
    Lease(i64),
}

/// One write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Put { value: Vec<u8>, lease: OnLease },
    Delete,
}

/// A write and what the key must be for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuardedWrite {
    pub key: Vec<u8>,
    pub guard: Guard,
    pub change: Change,
}

impl GuardedWrite {
    /// The bytes the write sends.
    fn bytes(&self) -> usize {
        self.key.len()
            + match &self.change {
                Change::Put { value, .. } => value.len(),
                Change::Delete => 0,
            }
    }

    fn op(&self) -> TxnOp {
        match &self.change {
            Change::Put { value, lease } => {
                let options = match lease {
                    OnLease::None => None,
                    OnLease::Keep => Some(PutOptions::new().with_ignore_lease()),
                    OnLease::Lease(id) => Some(PutOptions::new().with_lease(*id)),
                };
                TxnOp::put(self.key.clone(), value.clone(), options)
            }
            Change::Delete => TxnOp::delete(self.key.clone(), None),
        }
    }
}

/// A write not made: the key was no longer as seen.
#[derive(Debug, Clone)]
pub struct Conflict {
    pub write: GuardedWrite,
    /// The key when the conflict was found (`None`: absent).
    pub current: Option<KeyValue>,
}

/// What a bulk write did.
#[derive(Debug, Default)]
pub struct BulkOutcome {
    /// Keys written or deleted, in the order given.
    pub applied: Vec<Vec<u8>>,
    /// Writes not made, each with the key as it is.
    pub conflicts: Vec<Conflict>,
    /// Transactions etcd applied.
    pub transactions: usize,
    /// etcd's revision after the last transaction applied (0: none was).
    pub revision: Revision,
    /// etcd failed on a transaction: why. That transaction's writes may or
    /// may not have been applied (an answer lost is not a write refused),
    /// and the writes after it were not tried: `not_tried` counts both.
    pub interrupted: Option<String>,
    pub not_tried: usize,
}

/// How many of `writes`, in order, each transaction takes: at most
/// [`TXN_MAX_OPS`] keys and [`TXN_MAX_BYTES`] (a larger write alone). Its
/// length is the transactions a preview announces.
pub fn chunk_sizes(writes: &[GuardedWrite]) -> Vec<usize> {
    chunk_sizes_of(writes.iter().map(GuardedWrite::bytes))
}

/// `writes` in the order that takes the fewest transactions when no order
/// is required: each write larger than [`TXN_MAX_BYTES`] (which goes alone)
/// after the others, which keep their order, so that it does not cut their
/// run in two (129 small keys, a large one, then 127 more would otherwise
/// take four transactions instead of three).
pub fn large_last(mut writes: Vec<GuardedWrite>) -> Vec<GuardedWrite> {
    // A stable sort: the small writes stay in the order given.
    writes.sort_by_key(|write| write.bytes() > TXN_MAX_BYTES);
    writes
}

/// [`chunk_sizes`] of writes given by the bytes each sends.
pub fn chunk_sizes_of(writes: impl Iterator<Item = usize>) -> Vec<usize> {
    let mut sizes = Vec::new();
    let (mut keys, mut bytes) = (0usize, 0usize);
    for size in writes {
        if keys > 0 && (keys >= TXN_MAX_OPS || bytes + size > TXN_MAX_BYTES) {
            sizes.push(keys);
            (keys, bytes) = (0, 0);
        }
        keys += 1;
        bytes += size;
    }
    if keys > 0 {
        sizes.push(keys);
    }
    sizes
}

impl Actions {
    /// The leases etcd holds now: a key put back may go on one of these,
    /// never on a lease that is gone (etcd would refuse the transaction).
    pub async fn live_leases(&self) -> Result<std::collections::BTreeSet<i64>, KvError> {
        let mut client = self.client.clone();
        let answer = with_timeout(self.timeout, client.leases())
            .await
            .map_err(|e| KvError::from_etcd(e, 0))?;
        Ok(answer.leases().iter().map(|l| l.id()).collect())
    }

    /// Makes each write whose guard holds, in transactions of at most
    /// [`TXN_MAX_OPS`] keys and [`TXN_MAX_BYTES`], in order; see the
    /// module's documentation.
    /// Keys must be distinct (etcd refuses a transaction that writes a key
    /// twice): a repeated key is reported as a conflict, not sent.
    pub async fn apply_guarded(&self, writes: Vec<GuardedWrite>) -> BulkOutcome {
        let mut outcome = BulkOutcome::default();
        let mut seen = std::collections::HashSet::new();
        let mut unique = Vec::with_capacity(writes.len());
        for write in writes {
            if seen.insert(write.key.clone()) {
                unique.push(write);
            } else {
                outcome.conflicts.push(Conflict { write, current: None });
            }
        }
        let total = unique.len();
        let mut done = 0usize;
        let sizes = chunk_sizes(&unique);
        let mut rest = unique.into_iter();
        for size in sizes {
            let chunk: Vec<GuardedWrite> = rest.by_ref().take(size).collect();
            let size = chunk.len();
            if let Err(error) = self.apply_chunk(chunk, &mut outcome).await {
                outcome.interrupted = Some(error.to_string());
                outcome.not_tried = total - done;
                return outcome;
            }
            done += size;
        }
        outcome
    }

    /// One chunk: tried, its conflicts set aside, tried again, at most
    /// [`ROUNDS`] times.
    async fn apply_chunk(&self, mut chunk: Vec<GuardedWrite>, outcome: &mut BulkOutcome) -> Result<(), KvError> {
        for round in 0..ROUNDS {
            if chunk.is_empty() {
                return Ok(());
            }
            let txn = Txn::new()
                .when(chunk.iter().map(|w| w.guard.compare(&w.key)).collect::<Vec<_>>())
                .and_then(chunk.iter().map(GuardedWrite::op).collect::<Vec<_>>())
                .or_else(
                    chunk
                        .iter()
                        .map(|w| TxnOp::get(w.key.clone(), None))
                        .collect::<Vec<_>>(),
                );
            let response = with_timeout(self.timeout, self.kv_client().txn(txn))
                .await
                .map_err(|e| KvError::from_etcd(e, 0))?;
            if response.succeeded() {
                outcome.transactions += 1;
                outcome.revision = response.header().map_or(outcome.revision, |h| h.revision());
                outcome.applied.extend(chunk.into_iter().map(|w| w.key));
                return Ok(());
            }
            // The failure branch read every key of the chunk, in order.
            let answers = response.op_responses();
            let current: Vec<Option<KeyValue>> = answers
                .iter()
                .map(|answer| match answer {
                    TxnOpResponse::Get(get) => get.kvs().first().map(convert_kv),
                    _ => None,
                })
                .collect();
            let last_round = round + 1 == ROUNDS;
            let mut kept = Vec::with_capacity(chunk.len());
            for (index, write) in chunk.into_iter().enumerate() {
                let now = current.get(index).cloned().flatten();
                if last_round || !write.guard.holds(now.as_ref()) {
                    outcome.conflicts.push(Conflict { write, current: now });
                } else {
                    kept.push(write);
                }
            }
            chunk = kept;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_hold_at_most_128_keys_and_a_mebibyte() {
        let put = |bytes: usize| GuardedWrite {
            key: b"k".to_vec(),
            guard: Guard::Absent,
            change: Change::Put {
                value: vec![0; bytes],
                lease: OnLease::None,
            },
        };
        assert_eq!(chunk_sizes(&vec![put(10); 300]), [128, 128, 44]);
        // 600 KiB each: two do not fit one transaction; a larger one goes alone.
        assert_eq!(chunk_sizes(&vec![put(600 << 10); 3]), [1, 1, 1]);
        assert_eq!(chunk_sizes(&[put(10), put(2 << 20), put(10)]), [1, 1, 1]);
        assert_eq!(chunk_sizes(&[put(10), put(10), put(1 << 20)]), [2, 1]);
        assert!(chunk_sizes(&[]).is_empty());
        // A large write amid small ones goes last, and alone.
        let mut around: Vec<GuardedWrite> = vec![put(10); 129];
        around.insert(128, put(1 << 20));
        assert_eq!(chunk_sizes(&around), [128, 1, 1]);
        around.insert(1, put(10));
        assert_eq!(chunk_sizes(&around), [128, 1, 1, 1]);
        let ordered = large_last(around);
        assert_eq!(chunk_sizes(&ordered), [128, 2, 1]);
        assert!(matches!(&ordered[130].change, Change::Put { value, .. } if value.len() == 1 << 20));
    }

    #[test]
    fn guards_hold_only_on_the_state_they_name() {
        let mut kv = KeyValue::sample("/a", "1");
        kv.mod_revision = 7;
        assert!(Guard::Absent.holds(None));
        assert!(!Guard::Absent.holds(Some(&kv)));
        assert!(Guard::At(7).holds(Some(&kv)));
        assert!(!Guard::At(6).holds(Some(&kv)));
        assert!(!Guard::At(7).holds(None));
    }
}
