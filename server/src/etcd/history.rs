//! A key's history: every version etcd still holds, read with a watch on
//! that one key (see [`Actions::key_history`]).

use std::collections::BTreeSet;
use std::time::Duration;

use app::model::Revision;
use etcd_client::{EventType, WatchOptions};

use super::kv::KvError;
use super::{with_timeout, Actions};
use crate::registry::KeyValue;

/// Largest watch message accepted while reading a key's history: etcd sends
/// the history up to the current revision in one message.
const MAX_HISTORY_ANSWER: usize = 256 << 20;
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

/// What a watch over a key's history delivered.
enum Watched {
    Events(Vec<Version>),
    /// etcd compacted past the start: history starts at this revision.
    Compacted(Revision),
}

impl Actions {
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
}
