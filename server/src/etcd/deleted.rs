//! The keys deleted under a prefix since a revision, each with its last
//! value: etcd's own history, read by a watch from that revision with the
//! previous values, up to the revision a read of the prefix fixes first.

use std::collections::BTreeMap;
use std::time::Duration;

use app::model::Revision;
use etcd_client::{EventType, WatchOptions};

use super::keys::KvError;
use super::ranges::prefix_end;
use super::watcher::convert_kv;
use super::{with_timeout, Actions};
use crate::registry::KeyValue;

/// Most deleted keys one answer holds.
pub const DELETED_MAX: usize = 10_000;
/// Most bytes of last values one answer holds.
pub const DELETED_MAX_BYTES: usize = 64 << 20;
/// Largest watch message accepted: etcd sends up to a thousand revisions
/// of a catching-up watcher in one message.
const MAX_MESSAGE: usize = 256 << 20;
/// etcd sends at most this many revisions of events to a catching-up
/// watcher in one message (`watchBatchMaxRevs`); a message with fewer holds
/// everything up to its header's revision.
const WATCH_BATCH_REVISIONS: usize = 1000;
/// How long the read waits for a first message. etcd catches an unsynced
/// watcher up every 100 ms; a prefix with no event since the revision gets
/// no message at all, and this is how that is told.
const QUIET: Duration = Duration::from_secs(2);

/// A key deleted and not written since.
#[derive(Debug, Clone)]
pub struct DeletedKey {
    /// The key as it was before its deletion.
    pub last: KeyValue,
    /// The revision of the deletion.
    pub deleted_revision: Revision,
}

/// The keys deleted under a prefix in `(since, revision]`, in key order.
#[derive(Debug)]
pub struct Deleted {
    pub revision: Revision,
    pub keys: Vec<DeletedKey>,
    /// Keys deleted in that time and written again since, present at
    /// `revision`: the key before its (last) deletion, and the key now, in
    /// key order.
    pub recreated: Vec<(DeletedKey, KeyValue)>,
}

impl Actions {
    /// The keys under `prefix` deleted after `since` and absent now, each
    /// with its value before the deletion (the last deletion, for a key
    /// deleted, written again and deleted again). More than
    /// [`DELETED_MAX`] keys or [`DELETED_MAX_BYTES`] of values is an error:
    /// the answer is whole or it is not given. `with_recreated`: also the
    /// keys deleted and written again since ([`Deleted::recreated`], counted
    /// in those bounds), else none.
    pub async fn deleted_since(
        &self,
        prefix: &[u8],
        since: Revision,
        with_recreated: bool,
    ) -> Result<Deleted, KvError> {
        let end = prefix_end(prefix);
        // The prefix now fixes the revision the answer reflects.
        let now = self.range_page(prefix, &end, 1, 0).await?.revision;
        let mut deleted: BTreeMap<Vec<u8>, DeletedKey> = BTreeMap::new();
        let mut recreated: BTreeMap<Vec<u8>, (DeletedKey, KeyValue)> = BTreeMap::new();
        if since >= now {
            return Ok(Deleted {
                revision: now,
                keys: Vec::new(),
                recreated: Vec::new(),
            });
        }
        let mut bytes = 0usize;
        let start = if prefix.is_empty() { vec![0u8] } else { prefix.to_vec() };
        let mut client = self.client.watch_client().max_decoding_message_size(MAX_MESSAGE);
        let options = WatchOptions::new()
            .with_start_revision(since + 1)
            .with_range(end.clone())
            .with_prev_key();
        let mut stream = with_timeout(self.timeout, client.watch(start, Some(options)))
            .await
            .map_err(|e| KvError::from_etcd(e, since + 1))?;
        let deadline = tokio::time::Instant::now() + self.timeout.max(Duration::from_secs(30));
        let mut heard = false;
        'read: loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let wait = if heard { left } else { left.min(QUIET) };
            let response = match tokio::time::timeout(wait, stream.message()).await {
                Err(_) if !heard => break,
                Err(_) => {
                    return Err(KvError::Unavailable(
                        "etcd did not send the prefix's history in time".to_owned(),
                    ))
                }
                Ok(Err(error)) => return Err(KvError::from_etcd(error.into(), since + 1)),
                Ok(Ok(None)) => return Err(KvError::Unavailable("etcd ended the watch".to_owned())),
                Ok(Ok(Some(response))) => response,
            };
            if response.compact_revision() > 0 {
                return Err(KvError::Compacted(since));
            }
            if response.canceled() {
                return Err(KvError::Unavailable(format!(
                    "etcd cancelled the watch: {}",
                    response.cancel_reason()
                )));
            }
            if response.events().is_empty() {
                continue;
            }
            heard = true;
            let mut revisions = 0usize;
            let mut last_revision = None;
            for event in response.events() {
                let Some(kv) = event.kv() else { continue };
                if kv.mod_revision() > now {
                    break 'read;
                }
                if last_revision != Some(kv.mod_revision()) {
                    revisions += 1;
                    last_revision = Some(kv.mod_revision());
                }
                // The key's last deletion so far, whether it was written
                // again after it or not.
                let before = match deleted.remove(kv.key()) {
                    Some(gone) => Some(gone),
                    None => recreated.remove(kv.key()).map(|(gone, now)| {
                        bytes -= now.value.len();
                        gone
                    }),
                };
                if event.event_type() != EventType::Delete {
                    match before {
                        Some(gone) if with_recreated => {
                            let now = convert_kv(kv);
                            bytes += now.value.len();
                            recreated.insert(kv.key().to_vec(), (gone, now));
                        }
                        Some(gone) => bytes -= gone.last.value.len(),
                        None => {}
                    }
                } else {
                    if let Some(gone) = before {
                        bytes -= gone.last.value.len();
                    }
                    // A deletion etcd has no previous value for (compacted
                    // under the read) cannot be brought back: not listed.
                    let Some(previous) = event.prev_kv() else { continue };
                    let last = convert_kv(previous);
                    bytes += last.value.len();
                    deleted.insert(
                        kv.key().to_vec(),
                        DeletedKey {
                            last,
                            deleted_revision: kv.mod_revision(),
                        },
                    );
                }
                if deleted.len() + recreated.len() > DELETED_MAX || bytes > DELETED_MAX_BYTES {
                    return Err(KvError::TooLarge(format!(
                        "more than {DELETED_MAX} deleted keys or {} MiB of their values: narrow the prefix or the \
                         time",
                        DELETED_MAX_BYTES >> 20
                    )));
                }
            }
            let header = response.header().map_or(0, |h| h.revision());
            if header >= now && revisions < WATCH_BATCH_REVISIONS {
                break;
            }
        }
        Ok(Deleted {
            revision: now,
            keys: deleted.into_values().collect(),
            recreated: recreated.into_values().collect(),
        })
    }
}
