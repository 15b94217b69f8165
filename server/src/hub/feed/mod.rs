//! One client's feed: subscriptions, snapshots, coalesced patches, status,
//! as frames ready to write, with no transport of its own.
//!
//! A [`Feed`] reads what its client sends ([`FromClient`]) and the hub's
//! updates and link state, and hands out batches of [`Frame`]s on a channel
//! of capacity one, so at most one batch waits while another is being
//! written. While that slot is taken, new updates merge into one pending
//! patch per topic (an entity's later op replaces its earlier one): at low
//! load a change goes out at once, under a burst each client gets a handful
//! of messages. A client that falls too far behind gets fresh snapshots
//! instead of an ever-growing backlog (ARCHITECTURE.md, rules 5 and 6;
//! docs/websocket.md, "Busy clients" and "Limits").
//! [`crate::http::ws`] pumps a WebSocket through it.
//!
//! Everything a client can make the server hold is bounded, by a limit
//! below with its reason: the topics of a socket ([`MAX_TOPICS`],
//! [`MAX_KV_TOPICS`]), its pending patches ([`MAX_PENDING_OPS`] per topic,
//! [`MAX_PENDING_BYTES`] in all; past them a topic gets a fresh snapshot
//! instead), the snapshots taken for one batch ([`SNAPSHOT_BATCH_BYTES`]),
//! its answers (one pong however many pings, at most [`MAX_QUEUED_ERRORS`]
//! errors), and how many malformed messages it may send
//! ([`BAD_MESSAGE_LIMIT`]). A client that floods is told to close with
//! [`CLOSE_POLICY`] and a reason ([`Ended::Close`]).
//!
//! A client that asked for gzip gets every message of [`GZIP_FROM`] bytes
//! or more as [`Frame::Gzip`]: a registry's snapshots shrink about tenfold,
//! while the small patches of everyday changes stay text.
//!
//! Ordering: every message carries a revision and a client never sees one go
//! backwards. Snapshots are taken together with their position (`seq`) in the
//! stream of updates ([`Snapshots`]); updates at or before a topic's snapshot
//! are dropped for that topic, and each batch is ordered by revision.

mod client;
mod drain;
mod pending;
mod replies;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use app::model::{Instance, Revision, Topic};
use flate2::Compression;
use futures::{Stream, StreamExt};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{broadcast, mpsc, watch};
use tokio::time::Instant;

use super::{Hub, Link, Snapshots, Text, Update};
use crate::metrics::Metrics;
use pending::Pending;
use replies::Replies;
pub use replies::MAX_QUEUED_ERRORS;

/// Topics one client may subscribe to at once. A page needs a dozen; each
/// topic is state per client and an entry in what the lease sampler and the
/// patch builders go through.
pub const MAX_TOPICS: usize = 64;
/// Of those, `kv:<prefix>` and `kv-dir:<prefix>` topics: each prefix some
/// client watches is matched against every key changed in every revision,
/// and the configuration tree needs one per open folder.
pub const MAX_KV_TOPICS: usize = 32;
/// Merged ops one topic may hold for a busy client before it is resynced with
/// a snapshot instead.
pub const MAX_PENDING_OPS: usize = 10_000;
/// Bytes of patches (about their JSON) a busy client's topics may hold in
/// all; past this the topic holding the most is resynced with a snapshot.
/// The ops are shared with every other client, but a stuck socket would keep
/// them alive: ten thousand ops of 1.5 MiB values would be 15 GB.
pub const MAX_PENDING_BYTES: usize = 4 << 20;
/// Snapshots taken for one batch stop once they reach this many bytes; the
/// other topics' snapshots wait for the next batch. At most two batches are
/// in flight per client, and a client may hold 32 `kv:` topics of up to
/// 64 MiB each.
pub const SNAPSHOT_BATCH_BYTES: usize = 8 << 20;
/// Upserts per message when the rest of a large snapshot follows its first part.
pub const SNAPSHOT_PART_OPS: usize = 1000;
/// Messages from this size on go gzipped to a client that asked for it; the
/// small ones (most patches) are not worth the work.
pub const GZIP_FROM: usize = 8 * 1024;
/// Fast: JSON compresses well even so, and a 10,000-instance snapshot's parts
/// are compressed per client.
const GZIP_LEVEL: Compression = Compression::fast();
/// Malformed client messages tolerated per window before the client is closed.
pub const BAD_MESSAGE_LIMIT: u32 = 20;
const BAD_MESSAGE_WINDOW: Duration = Duration::from_secs(10);
/// How often a feed checks whether its client's revision moved with no
/// message saying so (a change to nothing it is subscribed to): then a
/// `status` is due.
const STATUS_CHECK: Duration = Duration::from_secs(1);
/// WebSocket close code "policy violation", for a client that broke a limit.
pub const CLOSE_POLICY: u16 = 1008;

/// What a client sent: a text message (`T` is whatever holds its text), or a
/// binary one, which the protocol has no use for.
#[derive(Debug)]
pub enum FromClient<T> {
    Text(T),
    Binary,
}

/// One message for the client, already encoded.
#[derive(Debug)]
pub enum Frame {
    /// JSON text shared with every other client sending it (an update's patch).
    Shared(Text),
    /// JSON text written for this client alone.
    Text(String),
    /// JSON, gzipped (the client asked for it): a binary frame.
    Gzip(Vec<u8>),
}

impl Frame {
    /// Bytes the frame carries.
    pub fn len(&self) -> usize {
        match self {
            Frame::Shared(text) => text.len(),
            Frame::Text(text) => text.len(),
            Frame::Gzip(gz) => gz.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The JSON of a text frame.
    fn text(&self) -> Option<&str> {
        match self {
            Frame::Shared(text) => Some(text.as_str()),
            Frame::Text(text) => Some(text),
            Frame::Gzip(_) => None,
        }
    }
}

/// Closing the connection, with a WebSocket close code and reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Close {
    pub code: u16,
    pub reason: &'static str,
}

/// Why [`Feed::run`] returned.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    /// The client's messages ended: it closed, or reading failed.
    ClientGone,
    /// Nothing takes the frames any more.
    Disconnected,
    /// The hub stopped publishing.
    HubGone,
    /// The client broke a limit of the protocol and is to be closed so.
    Close(Close),
}

/// What a feed is told about this server and its client.
#[derive(Debug, Clone)]
pub struct Options {
    /// The prefixes the server mirrors (empty: every key); a `kv:<prefix>`
    /// topic is served only inside them.
    pub mirrored: Arc<[String]>,
    /// The client asked for large messages gzipped.
    pub gzip: bool,
}

/// What a feed knows about one subscribed topic.
#[derive(Default)]
struct TopicState {
    /// Updates with `seq <= floor` are already in the snapshot this client got.
    floor: u64,
    needs_snapshot: bool,
    pending: Option<Pending>,
    /// The rest of a large snapshot still to send; the topic's pending
    /// patches wait until it is all out.
    continuation: Option<Continuation>,
}

/// Instances that complete a snapshot sent in parts, at its place in the order.
struct Continuation {
    revision: Revision,
    seq: u64,
    instances: std::vec::IntoIter<Instance>,
    /// False in the round that sent the first part, which goes out alone.
    started: bool,
}

/// One client's view of the model, fed from `S` and the hub.
pub struct Feed<S: Snapshots> {
    source: S,
    hub: Hub,
    metrics: Metrics,
    updates: broadcast::Receiver<Arc<Update>>,
    link: watch::Receiver<Link>,
    topics: BTreeMap<Topic, TopicState>,
    /// The last update received from the hub: (seq, revision).
    received: (u64, Revision),
    /// Revision of the last status sent, and whether one is due.
    status_sent: Option<Revision>,
    status_due: bool,
    /// Pongs and errors due.
    replies: Replies,
    bad_messages: u32,
    bad_window: Instant,
    close: Option<Close>,
    /// What this feed last added to the pending-ops gauge.
    pending_counted: i64,
    options: Options,
}

impl<S: Snapshots> Feed<S> {
    /// Subscribes to the hub at once, so nothing published after this point
    /// can be missed by a later snapshot.
    pub fn new(hub: &Hub, source: S, metrics: Metrics, options: Options) -> Self {
        metrics.client_connected();
        let updates = hub.subscribe();
        let received = (source.position().0, 0);
        Feed {
            source,
            hub: hub.clone(),
            metrics,
            updates,
            link: hub.watch_link(),
            topics: BTreeMap::new(),
            received,
            status_sent: None,
            status_due: true,
            replies: Replies::default(),
            bad_messages: 0,
            bad_window: Instant::now(),
            close: None,
            pending_counted: 0,
            options,
        }
    }

    /// Reads `incoming` and the hub, and sends batches of frames on
    /// `outgoing` whenever it has room, until one of them ends or the client
    /// is to be closed. Cancel-safe: dropped while waiting, it loses nothing
    /// and may be run again.
    pub async fn run<I, T, B>(&mut self, incoming: &mut I, outgoing: &mpsc::Sender<B>) -> Ended
    where
        I: Stream<Item = FromClient<T>> + Unpin,
        T: Deref<Target = str>,
        B: From<Vec<Frame>>,
    {
        let mut tick = tokio::time::interval(STATUS_CHECK);
        loop {
            let has_work = self.has_work();
            tokio::select! {
                message = incoming.next() => match message {
                    Some(message) => {
                        self.on_client(message);
                        self.count_pending();
                    }
                    None => return Ended::ClientGone,
                },
                update = self.updates.recv() => match update {
                    Ok(update) => self.on_update(&update),
                    Err(RecvError::Lagged(missed)) => self.on_lagged(missed),
                    Err(RecvError::Closed) => return Ended::HubGone,
                },
                changed = self.link.changed() => {
                    if changed.is_err() {
                        return Ended::HubGone;
                    }
                    self.status_due = true;
                }
                _ = tick.tick() => {
                    if self.status_sent != Some(self.watermark()) {
                        self.status_due = true;
                    }
                }
                permit = outgoing.reserve(), if has_work => match permit {
                    Ok(permit) => permit.send(B::from(self.drain())),
                    Err(_) => return Ended::Disconnected,
                },
            }
            if let Some(close) = self.close.take() {
                return Ended::Close(close);
            }
        }
    }

    fn has_work(&self) -> bool {
        self.status_due
            || !self.replies.is_empty()
            || self
                .topics
                .values()
                .any(|t| t.needs_snapshot || t.pending.is_some() || t.continuation.is_some())
    }

    fn on_update(&mut self, update: &Arc<Update>) {
        self.received = (update.seq, update.revision);
        for (index, (topic, _)) in update.patches.iter().enumerate() {
            let Some(state) = self.topics.get_mut(topic) else {
                continue;
            };
            if state.needs_snapshot || update.seq <= state.floor {
                continue;
            }
            let pending = state.pending.get_or_insert_with(Pending::new);
            pending.push(update.clone(), index);
            if pending.ops > MAX_PENDING_OPS {
                state.pending = None;
                state.needs_snapshot = true;
                self.metrics.snapshot_forced();
            }
        }
        self.bound_pending_bytes();
        self.count_pending();
    }

    /// Keeps the bytes of pending patches within [`MAX_PENDING_BYTES`]: the
    /// topics holding the most are resynced with a snapshot instead.
    fn bound_pending_bytes(&mut self) {
        let bytes = |state: &TopicState| state.pending.as_ref().map_or(0, |p| p.bytes);
        let mut total: usize = self.topics.values().map(bytes).sum();
        while total > MAX_PENDING_BYTES {
            let Some(state) = self.topics.values_mut().max_by_key(|state| bytes(state)) else {
                break;
            };
            total -= bytes(state);
            state.pending = None;
            state.needs_snapshot = true;
            self.metrics.snapshot_forced();
        }
    }

    /// Keeps the pending-ops gauge equal to what this feed holds.
    fn count_pending(&mut self) {
        let total: usize = self
            .topics
            .values()
            .filter_map(|t| t.pending.as_ref())
            .map(|p| p.ops)
            .sum();
        let total = i64::try_from(total).unwrap_or(i64::MAX);
        self.metrics.pending_ops(total - self.pending_counted);
        self.pending_counted = total;
    }

    fn on_lagged(&mut self, missed: u64) {
        tracing::debug!(missed, "session fell behind; resyncing with snapshots");
        for state in self.topics.values_mut() {
            state.pending = None;
            state.needs_snapshot = true;
            self.metrics.snapshot_forced();
        }
        self.count_pending();
    }

    /// The revision this feed can claim to be current to: the model's, if
    /// every update published so far has been received, else the last
    /// received update's.
    fn watermark(&self) -> Revision {
        let (seq, revision) = self.source.position();
        if self.received.0 >= seq {
            revision.max(self.received.1)
        } else {
            self.received.1
        }
    }
}

impl<S: Snapshots> Drop for Feed<S> {
    fn drop(&mut self) {
        self.metrics.pending_ops(-self.pending_counted);
        self.metrics.client_gone();
        for topic in self.topics.keys() {
            self.hub.unwatch_topic(topic);
        }
    }
}
