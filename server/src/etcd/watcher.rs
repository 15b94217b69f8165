//! The watcher: keeps the store's mirror equal to etcd, list-then-watch.
//!
//! An explicit state machine, one [`Watcher::step`] per state:
//!
//! ```text
//!   Listing --(paginated range pinned at revision R)--> Watching { R }
//!   Watching { R } --(stream lost)--> Backoff --> Watching { last applied }   (resume)
//!   Watching { R } --(compacted, or etcd went back in time)--> Listing         (relist + diff)
//!   Listing --(error)--> Backoff --> Listing
//! ```
//!
//! Whole revisions are applied atomically. A stream that sends nothing, not
//! even an answer to a progress request, is taken for hung and replaced; the
//! gRPC keepalive catches a dead connection underneath it.

use std::collections::BTreeMap;
use std::time::Duration;

use app::model::{EtcdState, Revision};
use etcd_client::{Client, EventType, GetOptions, WatchOptions, WatchResponse};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{with_timeout, Error};
use crate::registry::{KeyValue, KvEvent, LeaseEnd, Mirror, Store};

/// Keys per page of the initial list.
const PAGE_SIZE: i64 = 1000;
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
    store: Store,
    /// Key ranges `[start, end)` watched; the whole keyspace by default.
    ranges: Vec<(Vec<u8>, Vec<u8>)>,
    /// Consecutive failures, for the backoff.
    failures: u32,
    /// The first list is done; later ones are relists.
    listed: bool,
    /// Added to a connection failure's text: what the configuration
    /// suggests checking (see [`super::connection_hint`]).
    hint: Option<&'static str>,
}

impl Watcher {
    /// `prefixes` empty means the whole keyspace.
    pub fn new(client: Client, store: Store, prefixes: Vec<Vec<u8>>) -> Self {
        let ranges = if prefixes.is_empty() {
            vec![(vec![0], vec![0])]
        } else {
            prefixes
                .into_iter()
                .map(|p| {
                    let end = prefix_end(&p);
                    (p, end)
                })
                .collect()
        };
        Watcher {
            client,
            store,
            ranges,
            failures: 0,
            listed: false,
            hint: None,
        }
    }

    /// Runs until `stop` is cancelled. Failures are retried here, never returned.
    pub async fn run(mut self, stop: CancellationToken) -> Result<(), Error> {
        self.store.set_link(EtcdState::Resyncing, None);
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
                Ok((revision, mirror)) => {
                    tracing::info!(revision, keys = mirror.len(), "listed");
                    if self.listed {
                        self.store.metrics().relisted();
                    }
                    self.listed = true;
                    self.store.replace_mirror(revision, mirror);
                    self.store.metrics().applied(self.store.revision());
                    State::Watching { revision }
                }
                Err(error) => self.failed(error, State::Listing),
            },
            State::Watching { revision } => match self.watch(revision, stop).await {
                Ok(WatchEnd::Stopped) => State::Stopped,
                Ok(WatchEnd::Compacted { compact_revision }) => {
                    tracing::warn!(revision, compact_revision, "watch compacted; listing again");
                    self.store.set_link(EtcdState::Resyncing, None);
                    State::Listing
                }
                Err(error @ Error::RevisionWentBack { .. }) => {
                    tracing::warn!(%error, "listing again");
                    self.store.set_link(EtcdState::Resyncing, Some(error.summary()));
                    State::Listing
                }
                Err(error) => {
                    let resume = State::Watching {
                        revision: self.store.revision().max(revision),
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
        self.store.metrics().etcd_error();
        self.failures = self.failures.saturating_add(1);
        let mut summary = error.summary();
        if let Some(hint) = self
            .hint
            .filter(|_| summary.contains("transport error") && super::tls_hint(&summary).is_none())
        {
            summary = format!("{summary} ({hint})");
        }
        tracing::warn!(error = %summary, failures = self.failures, "etcd link lost; retrying");
        self.store.set_link(EtcdState::Reconnecting, Some(summary));
        State::Backoff { then: Box::new(then) }
    }

    /// A paginated range over every watched range, pinned at the revision of
    /// the first page.
    async fn list(&mut self) -> Result<(Revision, Mirror), Error> {
        let mut revision: Revision = 0;
        let mut items = Vec::new();
        for (start, end) in &self.ranges {
            let mut key = start.clone();
            loop {
                let mut options = GetOptions::new().with_range(end.clone()).with_limit(PAGE_SIZE);
                if revision > 0 {
                    options = options.with_revision(revision);
                }
                let mut response = with_timeout(PAGE_TIMEOUT, self.client.get(key.clone(), Some(options))).await?;
                if revision == 0 {
                    revision = response.header().map_or(0, |h| h.revision());
                }
                let more = response.more();
                let page = response.take_kvs();
                let Some(last) = page.last() else { break };
                key = last.key().to_vec();
                key.push(0);
                items.extend(page.iter().map(convert_kv));
                if !more {
                    break;
                }
            }
        }
        Ok((revision, Mirror::from_list(items)))
    }

    /// Watches from `revision + 1` until the stream fails or `stop`.
    async fn watch(&mut self, revision: Revision, stop: &CancellationToken) -> Result<WatchEnd, Error> {
        let mut ranges = self.ranges.iter();
        let Some((first_key, first_end)) = ranges.next() else {
            return Ok(WatchEnd::Stopped);
        };
        // No `prev_kv`: the mirror already has every previous value, and
        // asking etcd for it costs etcd a backend read per event (it halved
        // etcd's put rate under load in `make bench`).
        let options = |end: &Vec<u8>| {
            WatchOptions::new()
                .with_range(end.clone())
                .with_start_revision(revision + 1)
                .with_progress_notify()
        };
        let mut stream = with_timeout(
            WATCH_CREATE_TIMEOUT,
            self.client.watch(first_key.clone(), Some(options(first_end))),
        )
        .await?;
        for (key, end) in ranges {
            stream.watch(key.clone(), Some(options(end))).await?;
        }

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
                        self.store.metrics().etcd_at(header.revision(), applied);
                    }
                    last_heard = Instant::now();
                    progress_requested = false;
                    if response.created() {
                        let theirs = response.header().map_or(0, |h| h.revision());
                        if theirs < revision {
                            return Err(Error::RevisionWentBack { ours: revision, theirs });
                        }
                        self.failures = 0;
                        self.store.set_link(EtcdState::Connected, None);
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
            self.store.metrics().events_applied(batch.len());
            self.store.apply_revision(revision, batch, &ended);
            applied = applied.max(revision);
        }
        // A progress notification (no events) means etcd has sent everything
        // up to its header's revision. The `created` answer is not one: its
        // header is etcd's revision when the watch was made, and the events
        // from our start revision up to it are still on their way.
        if response.events().is_empty() && !response.created() {
            if let Some(header) = response.header() {
                if header.revision() > applied {
                    self.store.advance(header.revision());
                    applied = header.revision();
                }
            }
        }
        self.store.metrics().applied(applied);
        applied
    }

    /// Leases that lost all their keys in `batch` because they ended: etcd
    /// deletes a lease's keys in one revision when it expires or is revoked,
    /// and `TimeToLive` then says -1. A lease still alive had its keys
    /// deleted one by one, which is deregistration, not expiry.
    async fn ended_leases(&mut self, batch: &[KvEvent]) -> BTreeMap<i64, LeaseEnd> {
        let mut ended = BTreeMap::new();
        for lease in self.store.leases_emptied_by(batch) {
            match with_timeout(LEASE_CHECK_TIMEOUT, self.client.lease_time_to_live(lease, None)).await {
                Ok(answer) if answer.ttl() < 0 => {
                    ended.insert(lease, self.store.lease_end(lease));
                }
                Ok(_) => {}
                Err(error) => tracing::debug!(lease, error = %error.summary(), "cannot tell how a lease ended"),
            }
        }
        ended
    }
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

/// The end of the range of keys starting with `prefix`, as etcd defines it.
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    // Empty prefix, or all 0xff: to the end of the keyspace.
    vec![0]
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
    fn prefix_ends() {
        assert_eq!(prefix_end(b"/a"), b"/b".to_vec());
        assert_eq!(prefix_end(&[b'a', 0xff]), b"b".to_vec());
        assert_eq!(prefix_end(&[0xff, 0xff]), vec![0]);
        assert_eq!(prefix_end(b""), vec![0]);
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
