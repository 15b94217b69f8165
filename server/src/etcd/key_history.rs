//! A key's history: the versions etcd still holds, newest first and within
//! bounds, read so that the bounds are kept while reading (see
//! [`Actions::key_history`]).
//!
//! Over the usual size: the read, its bounds and the check for versions
//! lost to compaction are one algorithm, with its unit tests.

use std::collections::VecDeque;
use std::time::Duration;

use app::model::Revision;
use etcd_client::{EventType, WatchOptions};

use super::keys::KvError;
use super::{with_timeout, Actions};

/// Most versions one history reports (the newest). A deletion counts as one.
pub const HISTORY_MAX: usize = 10_000;
/// Most bytes of values one history holds (the newest versions that fit;
/// the newest version is always kept, whatever its size). The answer is
/// built in memory and written as JSON in one go, and the page diffs any
/// two versions: 16 MiB is a thousand versions of a 16 KiB configuration,
/// or eleven of etcd's largest (1.5 MiB) values.
pub const HISTORY_MAX_BYTES: usize = 16 << 20;
/// Largest watch message accepted while reading the versions before the
/// key's current life. Where the read stops at a known revision the watch
/// asks etcd for fragments (a message of about etcd's largest request);
/// otherwise etcd sends up to [`WATCH_BATCH_REVISIONS`] revisions in one
/// message.
const MAX_HISTORY_ANSWER: usize = 256 << 20;
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

impl Version {
    fn bytes(&self) -> usize {
        self.value.as_ref().map_or(0, Vec::len)
    }
}

/// A key's versions, oldest first.
#[derive(Debug)]
pub struct KeyHistory {
    pub revision: Revision,
    pub versions: Vec<Version>,
    /// True only when nothing of the key can be missing: etcd has compacted
    /// nothing, or the oldest version left is the key's creation (version 1).
    /// False when a compaction cut versions off, when nothing of the key is
    /// left after one (it may have existed), and when `truncated`.
    pub complete: bool,
    /// Reading stopped at [`HISTORY_MAX`] versions or [`HISTORY_MAX_BYTES`]
    /// of values: older versions may exist.
    pub truncated: bool,
    /// etcd's compaction horizon when read (0: nothing compacted): no
    /// version older than it can be read.
    pub compact_revision: Revision,
}

/// Room left for versions.
#[derive(Debug, Clone, Copy)]
struct Budget {
    versions: usize,
    bytes: usize,
}

impl Budget {
    fn full() -> Self {
        Budget {
            versions: HISTORY_MAX,
            bytes: HISTORY_MAX_BYTES,
        }
    }

    /// Takes room for `version`; false (nothing taken) when it does not fit.
    /// `always`: it fits if any version may still be added, whatever its size.
    fn take(&mut self, version: &Version, always: bool) -> bool {
        let bytes = version.bytes();
        if self.versions == 0 || (bytes > self.bytes && !always) {
            return false;
        }
        self.versions -= 1;
        self.bytes = self.bytes.saturating_sub(bytes);
        true
    }
}

/// The newest versions that fit in a budget, fed oldest first: an older one
/// is let go as soon as a newer one needs its room, so no more than the
/// budget is ever held.
#[derive(Debug)]
struct Newest {
    kept: VecDeque<Version>,
    bytes: usize,
    budget: Budget,
    /// Some version was let go.
    dropped: bool,
}

impl Newest {
    fn new(budget: Budget) -> Self {
        Newest {
            kept: VecDeque::new(),
            bytes: 0,
            budget,
            dropped: false,
        }
    }

    fn push(&mut self, version: Version) {
        let bytes = version.bytes();
        if self.budget.versions == 0 || bytes > self.budget.bytes {
            // Too large even alone: it goes, and with it everything older,
            // so that what is kept stays an unbroken run up to the newest.
            self.dropped = true;
            self.kept.clear();
            self.bytes = 0;
            return;
        }
        self.kept.push_back(version);
        self.bytes += bytes;
        while self.kept.len() > self.budget.versions || self.bytes > self.budget.bytes {
            let Some(oldest) = self.kept.pop_front() else { break };
            self.bytes -= oldest.bytes();
            self.dropped = true;
        }
    }
}

/// How a watch over a key's past knows it has read everything up to `until`.
#[derive(Debug, Clone, Copy)]
enum End {
    /// An event of the key after `until` exists (the creation of its current
    /// life): the read ends when it comes.
    Known,
    /// Nothing is known after `until`: the read ends with the first message
    /// at or past it holding fewer than etcd's batch of revisions, or after
    /// [`HISTORY_QUIET`] without a message when `quiet` (the key had no
    /// version at the start either, so etcd may have nothing to send).
    Unknown { quiet: bool },
}

impl Actions {
    /// The versions of `key` etcd still holds, newest first within
    /// [`HISTORY_MAX`] versions and [`HISTORY_MAX_BYTES`] of values.
    ///
    /// How: the key now fixes the revision R the history reflects. The
    /// key's current life is read newest first, one version per get (the
    /// version before a put at revision M is the key at M-1, until its
    /// creation, version 1), so reading stops as soon as the bounds are
    /// reached. What came before the creation C (earlier lives, each ended
    /// by a deletion; or everything, when the key is absent at R) can only
    /// be read oldest first: a watch of that one key from etcd's compaction
    /// revision, keeping only the newest versions that fit in what the
    /// bounds leave, until the event at C (or, for a key absent at R, until
    /// etcd has sent everything up to R, see [`End::Unknown`]). The key at
    /// etcd's compaction revision is the oldest version left.
    pub async fn key_history(&self, key: &[u8]) -> Result<KeyHistory, KvError> {
        let mut last_error = None;
        for _ in 0..HISTORY_ATTEMPTS {
            match self.try_history(key).await {
                Err(KvError::Compacted(revision)) => last_error = Some(KvError::Compacted(revision)),
                other => return other,
            }
        }
        Err(last_error.unwrap_or_else(|| KvError::Unavailable("the history could not be read".to_owned())))
    }

    async fn try_history(&self, key: &[u8]) -> Result<KeyHistory, KvError> {
        let (now, current) = self.get_key(key, 0).await?;
        let compacted = self.compaction_revision(key).await?;
        let mut budget = Budget::full();

        // 1. The current life, newest first.
        let mut newest_first: Vec<Version> = Vec::new();
        let mut truncated = false;
        // The revision the read of the older part ends before (the current
        // life's creation), or `None` when the key is absent now.
        let mut before: Option<Revision> = None;
        let mut reached_floor = false;
        let mut next = current;
        while let Some(kv) = next.take() {
            let version = Version {
                mod_revision: kv.mod_revision,
                version: kv.version,
                value: Some(kv.value),
            };
            if !budget.take(&version, newest_first.is_empty()) {
                truncated = true;
                break;
            }
            let (mod_revision, number) = (version.mod_revision, version.version);
            newest_first.push(version);
            if mod_revision <= compacted {
                // Alive at the compaction: nothing older is left.
                reached_floor = true;
                break;
            }
            before = Some(mod_revision);
            if number > 1 {
                next = self.get_key(key, mod_revision - 1).await?.1;
            }
        }

        // 2. What came before, oldest first, in what the bounds leave.
        let mut older = Newest::new(budget);
        if !truncated && !reached_floor {
            let until = before.map_or(now, |creation| creation - 1);
            let mut base_existed = false;
            if compacted > 0 && compacted <= until {
                if let (_, Some(base)) = self.get_key(key, compacted).await? {
                    base_existed = true;
                    older.push(Version {
                        mod_revision: base.mod_revision,
                        version: base.version,
                        value: Some(base.value),
                    });
                }
            }
            let end = match before {
                Some(_) => End::Known,
                None => End::Unknown { quiet: !base_existed },
            };
            self.watch_key(key, compacted, until, end, &mut older).await?;
            truncated = older.dropped;
        }

        let mut versions: Vec<Version> = older.kept.into();
        versions.extend(newest_first.into_iter().rev());
        let complete = !truncated && (compacted == 0 || versions.first().is_some_and(|v| v.version == 1));
        Ok(KeyHistory {
            revision: now,
            versions,
            complete,
            truncated,
            compact_revision: compacted,
        })
    }

    /// etcd's compaction revision (0: nothing compacted). A get at revision
    /// 1 tells whether there is one; a watch from revision 1 is then
    /// answered with it.
    async fn compaction_revision(&self, key: &[u8]) -> Result<Revision, KvError> {
        match self.get_key(key, 1).await {
            Ok(_) => return Ok(0),
            Err(KvError::Compacted(_)) => {}
            Err(error) => return Err(error),
        }
        let mut client = self.client.watch_client();
        let options = WatchOptions::new().with_start_revision(1);
        let mut stream = with_timeout(self.timeout, client.watch(key.to_vec(), Some(options)))
            .await
            .map_err(|e| KvError::from_etcd(e, 1))?;
        let deadline = tokio::time::Instant::now() + self.timeout;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let response = match tokio::time::timeout(left, stream.message()).await {
                Err(_) => {
                    return Err(KvError::Unavailable(format!(
                        "etcd did not say its compaction revision within {:?}",
                        self.timeout
                    )));
                }
                Ok(Err(error)) => return Err(KvError::from_etcd(error.into(), 1)),
                Ok(Ok(None)) => return Err(KvError::Unavailable("etcd ended the watch".to_owned())),
                Ok(Ok(Some(response))) => response,
            };
            if response.compact_revision() > 0 {
                return Ok(response.compact_revision());
            }
            if !response.events().is_empty() || response.canceled() {
                // Compacted for a get, not yet for a watch: etcd compacts one
                // then the other. Try the whole history again.
                return Err(KvError::Compacted(1));
            }
        }
    }

    /// Feeds `into` the events of `key` in `(since, until]`, oldest first;
    /// see [`End`] for how the read knows it is over.
    async fn watch_key(
        &self,
        key: &[u8],
        since: Revision,
        until: Revision,
        end: End,
        into: &mut Newest,
    ) -> Result<(), KvError> {
        if since >= until {
            return Ok(());
        }
        let mut client = self.client.watch_client().max_decoding_message_size(MAX_HISTORY_ANSWER);
        let mut options = WatchOptions::new().with_start_revision(since + 1);
        if matches!(end, End::Known) {
            // The read stops at an event, whatever the message: let etcd cut
            // its catch-up into messages of about its largest request.
            options = options.with_fragment();
        }
        let mut stream = with_timeout(self.timeout, client.watch(key.to_vec(), Some(options)))
            .await
            .map_err(|e| KvError::from_etcd(e, since + 1))?;
        let deadline = tokio::time::Instant::now() + self.timeout;
        let mut heard = false;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let quiet = matches!(end, End::Unknown { quiet: true }) && !heard;
            let wait = if quiet { left.min(HISTORY_QUIET) } else { left };
            let response = match tokio::time::timeout(wait, stream.message()).await {
                Err(_) if quiet => return Ok(()),
                Err(_) => {
                    return Err(KvError::Unavailable(format!(
                        "etcd did not send the key's history within {:?}",
                        self.timeout
                    )));
                }
                Ok(Err(error)) => return Err(KvError::from_etcd(error.into(), since + 1)),
                Ok(Ok(None)) => return Err(KvError::Unavailable("etcd ended the watch".to_owned())),
                Ok(Ok(Some(response))) => response,
            };
            if response.compact_revision() > 0 {
                return Err(KvError::Compacted(response.compact_revision()));
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
            let mut revisions = 0;
            let mut last_revision = None;
            for event in response.events() {
                let Some(kv) = event.kv() else { continue };
                if kv.mod_revision() > until {
                    return Ok(());
                }
                if last_revision != Some(kv.mod_revision()) {
                    revisions += 1;
                    last_revision = Some(kv.mod_revision());
                }
                into.push(match event.event_type() {
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
            if let End::Unknown { .. } = end {
                let header = response.header().map_or(0, |h| h.revision());
                if header >= until && revisions < WATCH_BATCH_REVISIONS {
                    return Ok(());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(mod_revision: Revision, bytes: usize) -> Version {
        Version {
            mod_revision,
            version: mod_revision,
            value: Some(vec![b'x'; bytes]),
        }
    }

    fn revisions(newest: &Newest) -> Vec<Revision> {
        newest.kept.iter().map(|v| v.mod_revision).collect()
    }

    #[test]
    fn the_newest_that_fit_are_kept_and_never_more_than_the_budget() {
        let mut newest = Newest::new(Budget { versions: 3, bytes: 10 });
        for revision in 1..=5 {
            newest.push(put(revision, 2));
        }
        assert_eq!(revisions(&newest), [3, 4, 5]);
        assert!(newest.dropped);
        newest.push(put(6, 7));
        assert_eq!(revisions(&newest), [5, 6], "9 bytes of 10");
        // Too large alone: it goes with everything older; newer ones stay.
        newest.push(put(7, 11));
        assert!(newest.kept.is_empty());
        newest.push(put(8, 1));
        assert_eq!(revisions(&newest), [8]);
    }

    #[test]
    fn nothing_dropped_when_everything_fits() {
        let mut newest = Newest::new(Budget::full());
        newest.push(put(1, 5));
        newest.push(Version {
            mod_revision: 2,
            version: 0,
            value: None,
        });
        assert_eq!(revisions(&newest), [1, 2]);
        assert!(!newest.dropped);
        let mut none_left = Newest::new(Budget { versions: 0, bytes: 10 });
        none_left.push(put(1, 1));
        assert!(none_left.kept.is_empty() && none_left.dropped);
    }

    #[test]
    fn the_budget_always_takes_the_newest_version() {
        let mut budget = Budget { versions: 2, bytes: 4 };
        assert!(budget.take(&put(9, 100), true), "the newest, whatever its size");
        assert!(!budget.take(&put(8, 1), false), "nothing left");
        let mut budget = Budget { versions: 5, bytes: 4 };
        assert!(budget.take(&put(9, 3), false));
        assert!(!budget.take(&put(8, 2), false));
        assert!(budget.take(&put(8, 1), false));
    }
}
