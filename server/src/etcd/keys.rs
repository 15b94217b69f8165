//! Keys as configuration, asked of etcd directly: paginated listings, one key
//! now or at a past revision, and compare-and-swap writes (a key's history is
//! in [`super::key_history`], the diff of a prefix in [`super::diff`]). The model
//! is not involved:
//! these read what etcd holds (and held), and writes come back to the model
//! through the watch like any other change.
//!
//! Every range is paginated in etcd (`limit`), never a whole prefix in one
//! answer; a page whose answer would be larger than the client accepts is
//! asked again with half the limit.

use app::model::Revision;
use etcd_client::{Compare, CompareOp, GetOptions, KvClient, PutOptions, Txn, TxnOp, TxnOpResponse};

use super::ranges::prefix_end;
use super::watcher::convert_kv;
use super::{with_timeout, Actions, Error};
use crate::registry::KeyValue;

/// Largest etcd answer accepted. etcd takes values of up to 1.5 MiB, so a
/// page of a few values may exceed gRPC's usual 4 MiB; a page larger than
/// this is asked again in halves.
const MAX_ANSWER: usize = 64 << 20;

#[derive(Debug, thiserror::Error)]
pub enum KvError {
    #[error("revision {0} is older than etcd's compaction: that history is gone")]
    Compacted(Revision),
    #[error("revision {0} is in the future: etcd has not reached it")]
    FutureRevision(Revision),
    /// etcd refused the request itself (a value too large, ...).
    #[error("etcd refused the request: {0}")]
    Refused(String),
    #[error("{0}")]
    TooLarge(String),
    #[error("{0}")]
    Unavailable(String),
    /// Something of Leasehold's own failed (a temporary file).
    #[error("{0}")]
    Local(String),
}

impl KvError {
    /// Maps an etcd error of a request made at `revision` (0: the current one).
    pub(super) fn from_etcd(error: Error, revision: Revision) -> Self {
        if let Error::Client(etcd_client::Error::GRpcStatus(status)) = &error {
            let message = status.message();
            if message.contains("required revision has been compacted") {
                return KvError::Compacted(revision);
            }
            if message.contains("required revision is a future revision") {
                return KvError::FutureRevision(revision);
            }
            if matches!(
                status.code(),
                tonic::Code::InvalidArgument | tonic::Code::ResourceExhausted
            ) {
                return KvError::Refused(message.trim_start_matches("etcdserver: ").to_owned());
            }
        }
        KvError::Unavailable(error.summary())
    }
}

/// True when etcd's answer was larger than the client accepts.
fn answer_too_large(error: &Error) -> bool {
    matches!(error, Error::Client(etcd_client::Error::GRpcStatus(status))
        if status.message().contains("decoded message length too large"))
}

/// One page of a listing.
#[derive(Debug)]
pub struct Page {
    /// etcd's revision when it answered.
    pub revision: Revision,
    pub items: Vec<KeyValue>,
    /// Keys follow the last item in the range.
    pub more: bool,
}

/// What a compare-and-swap did.
#[derive(Debug)]
pub enum Swap {
    /// Written at `revision`; `kv` is the key as written.
    Done { revision: Revision, kv: KeyValue },
    /// The key was not at the expected revision: this is what it is now.
    Conflict { current: Option<KeyValue> },
}

/// What a compare-and-delete did.
#[derive(Debug)]
pub enum Removal {
    Done {
        revision: Revision,
    },
    /// There was nothing to delete.
    Absent,
    Conflict {
        current: KeyValue,
    },
}

impl Actions {
    pub(super) fn kv_client(&self) -> KvClient {
        self.client.kv_client().max_decoding_message_size(MAX_ANSWER)
    }

    /// Keys in `[start, end)` at `revision` (0: now), at most `limit`.
    pub(super) async fn range_page(
        &self,
        start: &[u8],
        end: &[u8],
        limit: usize,
        revision: Revision,
    ) -> Result<Page, KvError> {
        let mut kv = self.kv_client();
        let mut limit = limit.max(1);
        // etcd refuses an empty key ("key is not provided"); no key sorts
        // before "\0", so a range from the start of the keyspace (an empty
        // prefix: every key) starts there.
        let start = if start.is_empty() { &[0u8][..] } else { start };
        loop {
            let mut options = GetOptions::new()
                .with_range(end.to_vec())
                .with_limit(i64::try_from(limit).unwrap_or(i64::MAX));
            if revision > 0 {
                options = options.with_revision(revision);
            }
            match with_timeout(self.timeout, kv.get(start.to_vec(), Some(options))).await {
                Ok(mut response) => {
                    return Ok(Page {
                        revision: response.header().map_or(0, |h| h.revision()),
                        more: response.more(),
                        items: response.take_kvs().iter().map(convert_kv).collect(),
                    });
                }
                Err(error) if answer_too_large(&error) && limit > 1 => limit /= 2,
                Err(error) => return Err(KvError::from_etcd(error, revision)),
            }
        }
    }

    /// At most `limit` keys under `prefix`, strictly after `after`, in etcd's
    /// byte order. Fewer than `limit` with `more` set when the values are so
    /// large that `limit` of them do not fit one answer.
    pub async fn list_keys(&self, prefix: &[u8], after: Option<&[u8]>, limit: usize) -> Result<Page, KvError> {
        let end = prefix_end(prefix);
        let start = match after {
            Some(after) if after >= prefix => {
                let mut start = after.to_vec();
                start.push(0);
                start
            }
            _ => prefix.to_vec(),
        };
        self.range_page(&start, &end, limit, 0).await
    }

    /// The key at `revision` (0: now), and etcd's current revision.
    pub async fn get_key(&self, key: &[u8], revision: Revision) -> Result<(Revision, Option<KeyValue>), KvError> {
        let mut kv = self.kv_client();
        let mut options = GetOptions::new();
        if revision > 0 {
            options = options.with_revision(revision);
        }
        let response = with_timeout(self.timeout, kv.get(key.to_vec(), Some(options)))
            .await
            .map_err(|e| KvError::from_etcd(e, revision))?;
        let now = response.header().map_or(0, |h| h.revision());
        Ok((now, response.kvs().first().map(convert_kv)))
    }

    /// Writes `value` if the key's `mod_revision` is `expect` (0: the key
    /// must not exist). A key that exists keeps its lease.
    pub async fn put_key(&self, key: &[u8], value: Vec<u8>, expect: Revision) -> Result<Swap, KvError> {
        // `ignore_lease` keeps the key's lease; etcd refuses it for a key that
        // does not exist, which only `expect` 0 may create.
        let put = (expect > 0).then(|| PutOptions::new().with_ignore_lease());
        let txn = Txn::new()
            .when([Compare::mod_revision(key.to_vec(), CompareOp::Equal, expect)])
            .and_then([TxnOp::put(key.to_vec(), value, put), TxnOp::get(key.to_vec(), None)])
            .or_else([TxnOp::get(key.to_vec(), None)]);
        let response = with_timeout(self.timeout, self.kv_client().txn(txn))
            .await
            .map_err(|e| KvError::from_etcd(e, 0))?;
        let revision = response.header().map_or(0, |h| h.revision());
        let read = last_get(&response.op_responses());
        if !response.succeeded() {
            return Ok(Swap::Conflict { current: read });
        }
        let kv = read.ok_or_else(|| KvError::Unavailable("etcd did not return the key it wrote".to_owned()))?;
        Ok(Swap::Done { revision, kv })
    }

    /// Deletes the key if its `mod_revision` is `expect`.
    pub async fn delete_key(&self, key: &[u8], expect: Revision) -> Result<Removal, KvError> {
        let txn = Txn::new()
            .when([Compare::mod_revision(key.to_vec(), CompareOp::Equal, expect)])
            .and_then([TxnOp::delete(key.to_vec(), None)])
            .or_else([TxnOp::get(key.to_vec(), None)]);
        let response = with_timeout(self.timeout, self.kv_client().txn(txn))
            .await
            .map_err(|e| KvError::from_etcd(e, 0))?;
        let revision = response.header().map_or(0, |h| h.revision());
        let answers = response.op_responses();
        if response.succeeded() {
            let deleted = answers
                .iter()
                .any(|a| matches!(a, TxnOpResponse::Delete(d) if d.deleted() > 0));
            return Ok(if deleted {
                Removal::Done { revision }
            } else {
                Removal::Absent
            });
        }
        Ok(match last_get(&answers) {
            Some(current) => Removal::Conflict { current },
            None => Removal::Absent,
        })
    }
}

/// The key read by the last `get` of a transaction's answers.
fn last_get(answers: &[TxnOpResponse]) -> Option<KeyValue> {
    answers.iter().rev().find_map(|answer| match answer {
        TxnOpResponse::Get(get) => Some(get.kvs().first().map(convert_kv)),
        _ => None,
    })?
}
