//! Keys as configuration, asked of etcd directly: paginated listings, one key
//! now or at a past revision, a key's history, compare-and-swap writes and
//! the diff of a prefix between two revisions. The model is not involved:
//! these read what etcd holds (and held), and writes come back to the model
//! through the watch like any other change.
//!
//! Every range is paginated in etcd (`limit`), never a whole prefix in one
//! answer; a page whose answer would be larger than the client accepts is
//! asked again with half the limit.

use std::collections::{BTreeSet, VecDeque};
use std::time::Duration;

use app::model::Revision;
use etcd_client::{
    Compare, CompareOp, EventType, GetOptions, KvClient, PutOptions, Txn, TxnOp, TxnOpResponse, WatchOptions,
};

use super::watcher::{convert_kv, prefix_end};
use super::{with_timeout, Actions, Error};
use crate::registry::KeyValue;

/// Largest etcd answer accepted. etcd takes values of up to 1.5 MiB, so a
/// page of a few values may exceed gRPC's usual 4 MiB; a page larger than
/// this is asked again in halves.
const MAX_ANSWER: usize = 64 << 20;
/// Largest watch message accepted while reading a key's history: etcd sends
/// the history up to the current revision in one message.
const MAX_HISTORY_ANSWER: usize = 256 << 20;
/// Keys per page when a diff walks a prefix.
const DIFF_PAGE: usize = 1000;
/// Most differences one diff reports.
pub const DIFF_MAX: usize = 10_000;
/// Most versions one history reports (the newest).
pub const HISTORY_MAX: usize = 10_000;
/// etcd sends at most this many revisions of events to one catching-up
/// watcher in one message (`watchBatchMaxRevs` in etcd's mvcc); a message
/// with fewer holds everything up to its header's revision.
const WATCH_BATCH_REVISIONS: usize = 1000;
/// How long a history waits for a first message when etcd may have nothing
/// to send (a key absent both at the start and at the end of the history).
const HISTORY_QUIET: Duration = Duration::from_secs(1);
/// Histories retried when a compaction moves under one.
const HISTORY_ATTEMPTS: usize = 3;

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
}

impl KvError {
    /// Maps an etcd error of a request made at `revision` (0: the current one).
    fn from_etcd(error: Error, revision: Revision) -> Self {
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

/// One version of a key: `value` `None` is a deletion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    pub mod_revision: Revision,
    /// 0 for a deletion.
    pub version: i64,
    pub value: Option<Vec<u8>>,
}

/// A key's versions, oldest first.
#[derive(Debug)]
pub struct History {
    pub revision: Revision,
    pub versions: Vec<Version>,
    /// False when compaction removed versions that existed (or more than
    /// [`HISTORY_MAX`] were left out).
    pub complete: bool,
}

/// A prefix at two revisions, each list in key order.
#[derive(Debug, Default)]
pub struct Diff {
    pub revision: Revision,
    pub to: Revision,
    pub added: Vec<KeyValue>,
    pub removed: Vec<KeyValue>,
    pub changed: Vec<(KeyValue, KeyValue)>,
}

/// What a watch over a key's history delivered.
enum Watched {
    Events(Vec<Version>),
    /// etcd compacted past the start: history starts at this revision.
    Compacted(Revision),
}

impl Actions {
    fn kv_client(&self) -> KvClient {
        self.client.kv_client().max_decoding_message_size(MAX_ANSWER)
    }

    /// Keys in `[start, end)` at `revision` (0: now), at most `limit`.
    async fn range_page(&self, start: &[u8], end: &[u8], limit: usize, revision: Revision) -> Result<Page, KvError> {
        let mut kv = self.kv_client();
        let mut limit = limit.max(1);
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
                    })
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

    /// Every version of `key` etcd still holds, up to its current revision.
    ///
    /// How: the key now (which fixes the revision R the history reflects);
    /// whether revision 1 is still readable (if not, a watch from revision 1
    /// is answered with etcd's compaction revision C, and the key at C is the
    /// oldest version left); then a watch on that one key from C+1, read
    /// until it has delivered everything up to R. When the key exists at R,
    /// its `mod_revision` is the last event to wait for. When it does not,
    /// the last event is a deletion of unknown revision: the read ends with
    /// the first message etcd sends with a header at or past R and fewer
    /// than etcd's batch of revisions (etcd sends a catching-up watcher
    /// everything up to its header's revision in one message), or, when the
    /// key was absent at C too, after [`HISTORY_QUIET`] without any message.
    pub async fn key_history(&self, key: &[u8]) -> Result<History, KvError> {
        let mut last_error = None;
        for _ in 0..HISTORY_ATTEMPTS {
            match self.try_history(key).await {
                Err(KvError::Compacted(revision)) => last_error = Some(KvError::Compacted(revision)),
                other => return other,
            }
        }
        Err(last_error.unwrap_or_else(|| KvError::Unavailable("the history could not be read".to_owned())))
    }

    async fn try_history(&self, key: &[u8]) -> Result<History, KvError> {
        let (now, current) = self.get_key(key, 0).await?;
        let compacted = match self.get_key(key, 1).await {
            Ok(_) => 0,
            Err(KvError::Compacted(_)) => match self.watch_key(key, 0, now, None, false).await? {
                Watched::Compacted(revision) => revision,
                // Compacted for a get, not for a watch: etcd compacts one then the other.
                Watched::Events(_) => return Err(KvError::Compacted(1)),
            },
            Err(error) => return Err(error),
        };
        let mut versions = Vec::new();
        let mut complete = true;
        let mut existed = false;
        if compacted > 0 {
            let (_, base) = self.get_key(key, compacted).await?;
            if let Some(base) = base {
                // Its earlier versions are gone.
                complete = base.version <= 1;
                existed = true;
                versions.push(Version {
                    mod_revision: base.mod_revision,
                    version: base.version,
                    value: Some(base.value),
                });
            }
        }
        let quiet_allowed = !existed && current.is_none();
        match self
            .watch_key(key, compacted, now, current.as_ref(), quiet_allowed)
            .await?
        {
            Watched::Events(events) => versions.extend(events),
            Watched::Compacted(revision) => return Err(KvError::Compacted(revision)),
        }
        if versions.len() > HISTORY_MAX {
            versions.drain(..versions.len() - HISTORY_MAX);
            complete = false;
        }
        Ok(History {
            revision: now,
            versions,
            complete,
        })
    }

    /// The events of `key` in `(since, until]`; see [`Actions::key_history`].
    /// `last` is the key at `until`.
    async fn watch_key(
        &self,
        key: &[u8],
        since: Revision,
        until: Revision,
        last: Option<&KeyValue>,
        quiet_allowed: bool,
    ) -> Result<Watched, KvError> {
        if since >= until || last.is_some_and(|kv| kv.mod_revision <= since) {
            return Ok(Watched::Events(Vec::new()));
        }
        let mut client = self.client.watch_client().max_decoding_message_size(MAX_HISTORY_ANSWER);
        let options = WatchOptions::new().with_start_revision(since + 1);
        let mut stream = with_timeout(self.timeout, client.watch(key.to_vec(), Some(options)))
            .await
            .map_err(|e| KvError::from_etcd(e, since + 1))?;
        let deadline = tokio::time::Instant::now() + self.timeout;
        let mut events = Vec::new();
        let mut heard = false;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let quiet = quiet_allowed && !heard;
            let wait = if quiet { left.min(HISTORY_QUIET) } else { left };
            let response = match tokio::time::timeout(wait, stream.message()).await {
                Err(_) if quiet => return Ok(Watched::Events(events)),
                Err(_) => {
                    return Err(KvError::Unavailable(format!(
                        "etcd did not send the key's history within {:?}",
                        self.timeout
                    )))
                }
                Ok(Err(error)) => return Err(KvError::from_etcd(error.into(), since + 1)),
                Ok(Ok(None)) => return Err(KvError::Unavailable("etcd ended the watch".to_owned())),
                Ok(Ok(Some(response))) => response,
            };
            if response.compact_revision() > 0 {
                return Ok(Watched::Compacted(response.compact_revision()));
            }
            if response.canceled() {
                return Err(KvError::Unavailable(format!(
                    "etcd cancelled the watch: {}",
                    response.cancel_reason()
                )));
            }
            if response.events().is_empty() {
                // The creation answer, or a progress notification.
                continue;
            }
            heard = true;
            let mut revisions = BTreeSet::new();
            for event in response.events() {
                let Some(kv) = event.kv() else { continue };
                if kv.mod_revision() > until {
                    return Ok(Watched::Events(events));
                }
                revisions.insert(kv.mod_revision());
                events.push(match event.event_type() {
                    EventType::Put => Version {
                        mod_revision: kv.mod_revision(),
                        version: kv.version(),
                        value: Some(kv.value().to_vec()),
                    },
                    EventType::Delete => Version {
                        mod_revision: kv.mod_revision(),
                        version: 0,
                        value: None,
                    },
                });
            }
            let done = match last {
                Some(last) => events.last().is_some_and(|v| v.mod_revision >= last.mod_revision),
                None => {
                    let header = response.header().map_or(0, |h| h.revision());
                    header >= until && revisions.len() < WATCH_BATCH_REVISIONS
                }
            };
            if done {
                return Ok(Watched::Events(events));
            }
        }
    }

    /// The keys under `prefix` at `from` against `to` (`None`: now): added,
    /// removed, and changed (another `mod_revision`), walking both sides page
    /// by page in key order. More than [`DIFF_MAX`] differences is an error.
    pub async fn diff_prefix(&self, prefix: &[u8], from: Revision, to: Option<Revision>) -> Result<Diff, KvError> {
        let end = prefix_end(prefix);
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

/// The key read by the last `get` of a transaction's answers.
fn last_get(answers: &[TxnOpResponse]) -> Option<KeyValue> {
    answers.iter().rev().find_map(|answer| match answer {
        TxnOpResponse::Get(get) => Some(get.kvs().first().map(convert_kv)),
        _ => None,
    })?
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
