//! The watcher: keeps the model's mirror equal to etcd, list-then-watch.
//!
//! An explicit state machine, one [`Watcher::step`] per state:
//!
//! ```text
//!   Listing --(paginated range pinned at revision R)--> Watching { R }
//!   Watching { R } --(stream lost)--> Backoff --> Watching { last applied }   (resume)
//!   Watching { R } --(compacted, etcd went back in time, answer too large)--> Listing   (relist + diff)
//!   Listing --(error)--> Backoff --> Listing
//! ```
//!
//! Whole revisions are applied atomically. Several `--prefix` are watched as
//! one range, from the smallest prefix to the end of the largest, and the
//! events between them are dropped here: etcd catches up each watch of a
//! stream on its own, so separate watches would deliver one prefix's
//! revisions after another's later ones, and a transaction spanning two
//! prefixes in two halves. The list reads each prefix on its own, pinned at
//! one revision.
//!
//! Answers are bounded by bytes as well as keys: a list page asks for as
//! many keys as fit [`PAGE_BYTES`] at the sizes seen so far, and a page or a
//! watch answer over the gRPC limit is retried smaller (the list) or
//! replaced by a relist (the watch), never retried as it was.
//!
//! A stream that sends nothing, not even an answer to a progress request, is
//! taken for hung and replaced; the gRPC keepalive catches a dead connection
//! underneath it.
//!
//! One file, over the usual size, on purpose: the state machine reads top to
//! bottom, one `step` per state, and splitting it would scatter the states.

use std::collections::BTreeMap;
use std::time::Duration;

use app::model::{EtcdState, Revision};
use etcd_client::{Client, EventType, GetOptions, WatchOptions, WatchResponse};
use tokio::sync::OwnedMutexGuard;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::ranges::Ranges;
use super::{with_timeout, Error};
use crate::registry::{KeyValue, KvEvent, LeaseEnd, Mirror, WentBack, Writer};

/// Most keys per page of a list.
const PAGE_KEYS: i64 = 1000;
/// Keys asked for in a list's first page, before any value size is known:
/// etcd builds a whole answer in its memory before sending it, so a first
/// page of 1,000 values of 1.5 MiB would cost it 1.5 GiB.
const FIRST_PAGE_KEYS: i64 = 100;
/// Bytes (keys and values) a list page aims at; the next page's key count
/// follows from the sizes seen so far.
const PAGE_BYTES: usize = 4 << 20;
/// The largest answer decoded from etcd (list page or watch response).
/// etcd-client's default is 4 MiB, which three 1.4 MiB values exceed; etcd
/// sends a revision in one watch response however large it is (a
/// transaction of up to `--max-request-bytes`, or a `del --prefix` of a
/// million keys), and catches up a lagging watch up to 1,000 revisions in one.
const MAX_ANSWER: usize = 256 << 20;
/// Leases emptied in one revision above which one `LeaseLeases` call tells
/// which ended, instead of one `TimeToLive` each.
const LEASE_CHECKS_EACH: usize = 8;
/// Limit for one page of the list.
const PAGE_TIMEOUT: Duration = Duration::from_secs(15);
/// Limit for the watch to be created.
const WATCH_CREATE_TIMEOUT: Duration = Duration::from_secs(10);
/// Limit for asking etcd whether a lease that lost its keys still exists.
const LEASE_CHECK_TIMEOUT: Duration = Duration::from_secs(2);
/// Silence after which a progress request is sent.
const PROGRESS_AFTER: Duration = Duration::from_secs(3);
/// Silence after which the stream is taken for hung.
const HUNG_AFTER: Duration = Duration::from_secs(8);
/// Backoff between attempts: doubles from the first to the cap, with jitter.
const BACKOFF_FIRST: Duration = Duration::from_millis(250);
const BACKOFF_CAP: Duration = Duration::from_secs(10);

#[derive(Debug)]
enum State {
    /// List everything (first sync, or after compaction), then watch.
    Listing,
    /// Watch from `revision + 1`; the mirror is current up to `revision`.
    Watching {
        revision: Revision,
    },
    /// Wait, then go to `then`.
    Backoff {
        then: Box<State>,
    },
    Stopped,
}

/// How a watch stream ended without an error.
enum WatchEnd {
    Stopped,
    /// etcd compacted past where we were: only a relist can catch up.
    Compacted {
        compact_revision: Revision,
    },
}

pub struct Watcher {
    client: Client,
    /// The model's one writer, held for as long as this watcher runs.
    model: OwnedMutexGuard<Writer>,
    /// The watched key ranges, sorted and without overlaps.
    ranges: Ranges,
    /// Keys asked for in the next list page, following the sizes seen.
    page_keys: i64,
    /// The cluster the mirror was listed from, once known; another id
    /// behind the same endpoints means another keyspace.
    cluster_id: Option<u64>,
    /// The highest raft term etcd's answers carried. A cluster's term never
    /// goes back; a lower one is a member restored from a backup (whose
    /// revision may already have passed ours), or one that campaigned alone:
    /// either way a relist, never a resume, is exact.
    raft_term: u64,
    /// Consecutive failures, for the backoff.
    failures: u32,
    /// The first list is done; later ones are relists.
    listed: bool,
    /// Added to a connection failure's text: what the configuration
    /// suggests checking (see [`super::connection_hint`]).
    hint: Option<&'static str>,
}

/// What a finished list read.
struct Listed {
    revision: Revision,
    cluster_id: u64,
    raft_term: u64,
    mirror: Mirror,
}

impl Watcher {
    /// `prefixes` empty means the whole keyspace.
    pub fn new(client: Client, model: OwnedMutexGuard<Writer>, prefixes: Vec<Vec<u8>>) -> Self {
        Watcher {
            client,
            model,
            ranges: Ranges::of(prefixes),
            page_keys: FIRST_PAGE_KEYS,
            cluster_id: None,
            raft_term: 0,
            failures: 0,
            listed: false,
            hint: None,
        }
    }

    /// Runs until `stop` is cancelled. Failures are retried here, never returned.
    pub async fn run(mut self, stop: CancellationToken) -> Result<(), Error> {
        self.model.set_link(EtcdState::Resyncing, None);
        let mut state = State::Listing;
        loop {
            state = tokio::select! {
                () = stop.cancelled() => State::Stopped,
                next = self.step(state, &stop) => next,
            };
            if matches!(state, State::Stopped) {
                return Ok(());
            }
        }
    }

    async fn step(&mut self, state: State, stop: &CancellationToken) -> State {
        match state {
            State::Listing => match self.list().await {
                Ok(listed) => {
                    let revision = listed.revision;
                    tracing::info!(revision, keys = listed.mirror.len(), "listed");
                    if self.listed {
                        self.model.metrics().relisted();
                    }
                    let went_back = self.went_back(&listed);
                    self.listed = true;
                    self.cluster_id = Some(listed.cluster_id);
                    self.raft_term = listed.raft_term;
                    self.model.replace_mirror(revision, listed.mirror, went_back);
                    self.model.metrics().applied(self.model.revision());
                    State::Watching { revision }
                }
                Err(error) => self.failed(error, State::Listing),
            },
            State::Watching { revision } => match self.watch(revision, stop).await {
                Ok(WatchEnd::Stopped) => State::Stopped,
                Ok(WatchEnd::Compacted { compact_revision }) => {
                    tracing::warn!(revision, compact_revision, "watch compacted; listing again");
                    self.model.set_link(EtcdState::Resyncing, None);
                    State::Listing
                }
                Err(
                    error
                    @ (Error::RevisionWentBack { .. } | Error::ClusterChanged { .. } | Error::TermWentBack { .. }),
                ) => {
                    tracing::warn!(%error, "listing again");
                    self.model.set_link(EtcdState::Resyncing, Some(error.summary()));
                    State::Listing
                }
                Err(error) if error.is_too_large() => {
                    // Resuming would ask for the same answer again; a list
                    // is paged by bytes, and the watch then starts after it.
                    self.model.metrics().etcd_error();
                    let summary = format!("{}; listing again instead of resuming", error.summary());
                    tracing::warn!(error = %summary, "watch answer too large");
                    self.model.set_link(EtcdState::Resyncing, Some(summary));
                    State::Listing
                }
                Err(error) => {
                    let resume = State::Watching {
                        revision: self.model.revision().max(revision),
                    };
                    self.failed(error, resume)
                }
            },
            State::Backoff { then } => {
                tokio::time::sleep(backoff(self.failures)).await;
                *then
            }
            State::Stopped => State::Stopped,
        }
    }

    /// Adds what to check to connection failures' text.
    pub fn with_hint(mut self, hint: Option<&'static str>) -> Self {
        self.hint = hint;
        self
    }

    fn failed(&mut self, error: Error, then: State) -> State {
        self.model.metrics().etcd_error();
        self.failures = self.failures.saturating_add(1);
        let mut summary = error.summary();
        if let Some(hint) = self
            .hint
            .filter(|_| summary.contains("transport error") && super::tls_hint(&summary).is_none())
        {
            summary = format!("{summary} ({hint})");
        }
        tracing::warn!(error = %summary, failures = self.failures, "etcd link lost; retrying");
        self.model.set_link(EtcdState::Reconnecting, Some(summary));
        State::Backoff { then: Box::new(then) }
    }

    /// Whether `listed` is from before what the mirror showed: etcd restored
    /// from a backup, or another cluster behind the same endpoints.
    fn went_back(&self, listed: &Listed) -> Option<WentBack> {
        if !self.listed {
            return None;
        }
        let from = self.model.revision();
        let cluster_changed = self.cluster_id.is_some_and(|id| id != listed.cluster_id);
        (listed.revision < from || cluster_changed).then(|| WentBack {
            from,
            to: listed.revision,
            cluster_id: cluster_changed.then_some(listed.cluster_id),
        })
    }

    /// A paginated range over every watched range, pinned at the revision of
    /// the first page.
    async fn list(&mut self) -> Result<Listed, Error> {
        let mut kv = self.client.kv_client().max_decoding_message_size(MAX_ANSWER);
        let mut revision: Revision = 0;
        let mut cluster_id = 0;
        let mut raft_term = 0;
        let mut items = Vec::new();
        for range in self.ranges.iter() {
            let mut key = range.start.clone();
            loop {
                let mut options = GetOptions::new()
                    .with_range(range.etcd_end())
                    .with_limit(self.page_keys);
                if revision > 0 {
                    options = options.with_revision(revision);
                }
                let mut response = match with_timeout(PAGE_TIMEOUT, kv.get(key.clone(), Some(options))).await {
                    Ok(response) => response,
                    Err(error) if error.is_too_large() && self.page_keys > 1 => {
                        self.page_keys = (self.page_keys / 4).max(1);
                        tracing::info!(
                            keys = self.page_keys,
                            "list page over the answer limit; asking for fewer keys"
                        );
                        continue;
                    }
                    Err(error) => return Err(error),
                };
                if revision == 0 {
                    let header = response.header();
                    revision = header.map_or(0, |h| h.revision());
                    cluster_id = header.map_or(0, |h| h.cluster_id());
                    raft_term = header.map_or(0, |h| h.raft_term());
                }
                let more = response.more();
                let page = response.take_kvs();
                let Some(last) = page.last() else { break };
                key = last.key().to_vec();
                key.push(0);
                let bytes: usize = page.iter().map(|kv| kv.key().len() + kv.value().len()).sum();
                self.page_keys = next_page_keys(page.len(), bytes);
                items.extend(page.iter().map(convert_kv));
                if !more {
                    break;
                }
            }
        }
        Ok(Listed {
            revision,
            cluster_id,
            raft_term,
            mirror: Mirror::from_list(items),
        })
    }

    /// Watches from `revision + 1` until the stream fails or `stop`.
    async fn watch(&mut self, revision: Revision, stop: &CancellationToken) -> Result<WatchEnd, Error> {
        let covering = self.ranges.covering();
        // No `prev_kv`: the mirror already has every previous value, and
        // asking etcd for it costs etcd a backend read per event (it halved
        // etcd's put rate under load in `make bench`).
        let options = WatchOptions::new()
            .with_range(covering.etcd_end())
            .with_start_revision(revision + 1)
            .with_progress_notify();
        let mut client = self.client.watch_client().max_decoding_message_size(MAX_ANSWER);
        let mut stream = with_timeout(WATCH_CREATE_TIMEOUT, client.watch(covering.start, Some(options))).await?;

        let mut applied = revision;
        let mut last_heard = Instant::now();
        let mut progress_requested = false;
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                () = stop.cancelled() => return Ok(WatchEnd::Stopped),
                message = stream.message() => {
                    let response = message?.ok_or(Error::WatchEnded)?;
                    if let Some(header) = response.header() {
                        self.model.metrics().etcd_at(header.revision(), applied);
                        if !response.created() {
                            // Within one watch, on one member: terms only grow.
                            self.raft_term = self.raft_term.max(header.raft_term());
                        }
                    }
                    last_heard = Instant::now();
                    progress_requested = false;
                    if response.created() {
                        let header = response.header();
                        let theirs = header.map_or(0, |h| h.revision());
                        if theirs < revision {
                            return Err(Error::RevisionWentBack { ours: revision, theirs });
                        }
                        let cluster_id = header.map_or(0, |h| h.cluster_id());
                        if let Some(ours) = self.cluster_id.filter(|ours| *ours != cluster_id) {
                            return Err(Error::ClusterChanged { ours, theirs: cluster_id });
                        }
                        let raft_term = header.map_or(0, |h| h.raft_term());
                        if raft_term < self.raft_term {
                            return Err(Error::TermWentBack { ours: self.raft_term, theirs: raft_term });
                        }
                        self.raft_term = raft_term;
                        self.failures = 0;
                        self.model.set_link(EtcdState::Connected, None);
                        tracing::info!(from = revision + 1, "watching");
                    }
                    if response.compact_revision() > 0 {
                        return Ok(WatchEnd::Compacted { compact_revision: response.compact_revision() });
                    }
                    if response.canceled() {
                        return Err(Error::WatchCancelled(response.cancel_reason().to_owned()));
                    }
                    applied = self.apply(&response, applied).await;
                }
                _ = tick.tick() => {
                    let silent = last_heard.elapsed();
                    if silent >= HUNG_AFTER {
                        return Err(Error::WatchHung(silent));
                    }
                    if silent >= PROGRESS_AFTER && !progress_requested {
                        stream.request_progress().await?;
                        progress_requested = true;
                    }
                }
            }
        }
    }

    /// Applies one watch response, one whole revision at a time; returns the
    /// revision the mirror is now current to.
    async fn apply(&mut self, response: &WatchResponse, mut applied: Revision) -> Revision {
        let mut batches: Vec<(Revision, Vec<KvEvent>)> = Vec::new();
        for event in response.events() {
            let Some(kv) = event.kv() else { continue };
            if !self.ranges.contains(kv.key()) {
                continue;
            }
            let revision = kv.mod_revision();
            let converted = match event.event_type() {
                EventType::Put => KvEvent::Put(convert_kv(kv)),
                EventType::Delete => KvEvent::Delete { key: kv.key().to_vec() },
            };
            match batches.last_mut() {
                Some((batch_revision, batch)) if *batch_revision == revision => batch.push(converted),
                _ => batches.push((revision, vec![converted])),
            }
        }
        for (revision, batch) in batches {
            let ended = self.ended_leases(&batch).await;
            self.model.metrics().events_applied(batch.len());
            self.model.apply_revision(revision, batch, &ended);
            applied = applied.max(revision);
        }
        // Events between the watched prefixes, dropped above, still say the
        // mirror is current up to them.
        let seen = response
            .events()
            .iter()
            .filter_map(|e| e.kv())
            .map(|kv| kv.mod_revision())
            .max();
        if let Some(seen) = seen.filter(|seen| *seen > applied) {
            self.model.advance(seen);
            applied = seen;
        }
        // A progress notification (no events) means etcd has sent everything
        // up to its header's revision. The `created` answer is not one: its
        // header is etcd's revision when the watch was made, and the events
        // from our start revision up to it are still on their way. Nor is a
        // response whose events all fell between the watched prefixes.
        if response.events().is_empty() && !response.created() {
            if let Some(header) = response.header() {
                if header.revision() > applied {
                    self.model.advance(header.revision());
                    applied = header.revision();
                }
            }
        }
        self.model.metrics().applied(applied);
        applied
    }

    /// Leases that lost all their keys in `batch` because they ended: etcd
    /// deletes a lease's keys in one revision when it expires or is revoked,
    /// and `TimeToLive` then says -1. A lease still alive had its keys
    /// deleted one by one, which is deregistration, not expiry.
    ///
    /// The watch waits for this, so it costs at most one round trip: a few
    /// leases are asked about together, more (a `del --prefix` over
    /// thousands of instances) with one `LeaseLeases`.
    async fn ended_leases(&mut self, batch: &[KvEvent]) -> BTreeMap<i64, LeaseEnd> {
        let emptied = self.model.leases_emptied_by(batch);
        let mut ended = BTreeMap::new();
        if emptied.is_empty() {
            return ended;
        }
        let asks = if emptied.len() > LEASE_CHECKS_EACH {
            1
        } else {
            emptied.len()
        };
        self.model.metrics().lease_end_requests(asks);
        let alive: Result<Vec<bool>, Error> = if emptied.len() > LEASE_CHECKS_EACH {
            with_timeout(LEASE_CHECK_TIMEOUT, self.client.leases())
                .await
                .map(|answer| {
                    let live: std::collections::BTreeSet<i64> = answer.leases().iter().map(|l| l.id()).collect();
                    emptied.iter().map(|lease| live.contains(lease)).collect()
                })
        } else {
            let checks = emptied.iter().map(|lease| {
                let mut client = self.client.clone();
                let lease = *lease;
                async move {
                    with_timeout(LEASE_CHECK_TIMEOUT, client.lease_time_to_live(lease, None))
                        .await
                        .map(|answer| answer.ttl() >= 0)
                }
            });
            futures::future::join_all(checks).await.into_iter().collect()
        };
        match alive {
            Ok(alive) => {
                for (lease, alive) in emptied.into_iter().zip(alive) {
                    if !alive {
                        ended.insert(lease, self.model.lease_end(lease));
                    }
                }
            }
            Err(error) => {
                tracing::debug!(leases = emptied.len(), error = %error.summary(), "cannot tell how leases ended")
            }
        }
        ended
    }
}

/// Keys for the next list page: as many as fit [`PAGE_BYTES`] at the mean
/// size of the page just read, between 1 and [`PAGE_KEYS`].
fn next_page_keys(keys: usize, bytes: usize) -> i64 {
    let mean = (bytes / keys.max(1)).max(1);
    i64::try_from(PAGE_BYTES / mean)
        .unwrap_or(PAGE_KEYS)
        .clamp(1, PAGE_KEYS)
}

pub(super) fn convert_kv(kv: &etcd_client::KeyValue) -> KeyValue {
    KeyValue {
        key: kv.key().to_vec(),
        value: kv.value().to_vec(),
        create_revision: kv.create_revision(),
        mod_revision: kv.mod_revision(),
        version: kv.version(),
        lease: kv.lease(),
    }
}

fn backoff(failures: u32) -> Duration {
    let exponent = failures.saturating_sub(1).min(16);
    let base = BACKOFF_FIRST.saturating_mul(1u32 << exponent).min(BACKOFF_CAP);
    // Full jitter on the upper half: spreads replicas that lost etcd together.
    let jitter = 0.5 + rand::random::<f64>() * 0.5;
    base.mul_f64(jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_follow_value_sizes() {
        assert_eq!(next_page_keys(100, 100 * 64), PAGE_KEYS);
        assert_eq!(next_page_keys(100, 100 * (1 << 20)), 4);
        assert_eq!(next_page_keys(3, 3 * (6 << 20)), 1);
        assert_eq!(next_page_keys(0, 0), PAGE_KEYS);
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        for failures in 0..40 {
            let wait = backoff(failures);
            assert!(wait <= BACKOFF_CAP, "{failures}: {wait:?}");
            assert!(wait >= BACKOFF_FIRST / 2, "{failures}: {wait:?}");
        }
        assert!(backoff(30) >= BACKOFF_CAP / 2);
    }
}
