//! The WebSocket session: subscriptions, snapshots, coalesced patches, status.
//!
//! One task per socket reads client messages and hub updates; a second task
//! owns the socket's sink and writes batches. Between the two is a channel of
//! capacity one, so at most one batch waits while another is being written.
//! While that slot is taken, new updates merge into one pending patch per
//! topic (an entity's later op replaces its earlier one): at low load a change
//! goes out at once, under a burst each client gets a handful of messages.
//! A client that falls too far behind gets fresh snapshots instead of an
//! ever-growing backlog (DESIGN.md rules 6 and 7).
//!
//! Everything a client can make the server hold is bounded, by a limit
//! below with its reason: the topics of a socket ([`MAX_TOPICS`],
//! [`MAX_KV_TOPICS`]), its pending patches ([`MAX_PENDING_OPS`] per topic,
//! [`MAX_PENDING_BYTES`] in all; past them a topic gets a fresh snapshot
//! instead), the snapshots taken for one batch ([`SNAPSHOT_BATCH_BYTES`]),
//! its answers (one pong however many pings, at most
//! [`replies::MAX_QUEUED_ERRORS`] errors), and what it may send
//! ([`MAX_CLIENT_MESSAGE`], also the largest frame read). A socket that
//! floods is closed with 1008 and a reason.
//!
//! A client that opened the socket with `?compress=gzip` gets every message
//! of [`GZIP_FROM`] bytes or more as a binary frame of gzipped JSON: a
//! registry's snapshots shrink about tenfold, while the small patches of
//! everyday changes stay text.
//!
//! Ordering: every message carries a revision and a socket never sees one go
//! backwards. Snapshots are taken under the store's lock together with their
//! position (`seq`) in the stream of updates; updates at or before a topic's
//! snapshot are dropped for that topic, and each batch is ordered by revision.

mod pending;
mod replies;

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use app::model::{ClientMsg, EtcdState, Instance, PatchOp, Revision, ServerMsg, Topic};
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::response::Response;
use axum::Extension;
use flate2::write::GzEncoder;
use flate2::Compression;
use futures::{Sink, SinkExt, Stream, StreamExt};
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::sync::{broadcast, mpsc};
use tokio::time::Instant;

use super::error::ApiError;
use super::AppState;
use crate::auth::{Caller, Session as SignedIn};
use crate::hub::{Hub, Update};
use crate::registry::{patch_op, Store};
use pending::Pending;
use replies::{Flooded, Refusal, Replies};

/// Largest client message accepted, and largest frame: a client sends
/// `subscribe`, `unsubscribe` and `ping`, and a subscription to every topic
/// a socket may hold fits with room to spare. A frame is refused from its
/// header, before its payload is read (tungstenite's default of 16 MiB would
/// have the server buffer that much of a frame it then refuses).
pub const MAX_CLIENT_MESSAGE: usize = 64 * 1024;
/// Topics one socket may subscribe to at once. A page needs a dozen; each
/// topic is state per socket and an entry in what the lease sampler and the
/// patch builders go through.
pub const MAX_TOPICS: usize = 64;
/// Of those, `kv:<prefix>` and `kv-dir:<prefix>` topics: each prefix some
/// socket watches is matched against every key changed in every revision,
/// and the configuration tree needs one per open folder.
pub const MAX_KV_TOPICS: usize = 32;
/// Bytes read from a socket at a time. Clients send little; the WebSocket
/// layer zeroes this much before every read attempt, and its 128 KiB default
/// made that memset the largest single cost of fanning patches out to many
/// sockets.
const READ_CHUNK: usize = 4 * 1024;
/// Messages from this size on go gzipped to a client that asked for it; the
/// small ones (most patches) are not worth the work.
const GZIP_FROM: usize = 8 * 1024;
/// Fast: JSON compresses well even so, and a 10,000-instance snapshot's parts
/// are compressed per socket.
const GZIP_LEVEL: Compression = Compression::fast();
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
/// in flight per socket, and a socket may hold 32 `kv:` topics of up to
/// 64 MiB each.
pub const SNAPSHOT_BATCH_BYTES: usize = 8 << 20;
/// How long a closing socket gets to take its close frame and last batch;
/// after that its writer is stopped, so that a client that never reads does
/// not keep a task and a socket for ever.
const CLOSE_GRACE: Duration = Duration::from_secs(10);
/// Upserts per message when the rest of a large snapshot follows its first part.
const SNAPSHOT_PART_OPS: usize = 1000;
/// Malformed client messages tolerated per window before the socket is closed.
const BAD_MESSAGE_LIMIT: u32 = 20;
const BAD_MESSAGE_WINDOW: Duration = Duration::from_secs(10);
/// WebSocket close code "policy violation".
const CLOSE_POLICY: u16 = 1008;
/// WebSocket close code "going away".
const CLOSE_GOING_AWAY: u16 = 1001;
/// The sign-in ended (logout or expiry); the page should ask for a new one.
/// In the range WebSocket leaves to applications.
const CLOSE_SIGNED_OUT: u16 = 4401;

/// `GET /api/v1/ws`, or `GET /api/v1/ws?compress=gzip` for large messages
/// as gzip in binary frames.
pub async fn upgrade(
    ws: WebSocketUpgrade,
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let gzip = match query.get("compress").map(String::as_str) {
        None => false,
        Some("gzip") => true,
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "compress={other:?}: the only compression offered is \"gzip\""
            )))
        }
    };
    Ok(ws
        .max_message_size(MAX_CLIENT_MESSAGE)
        .max_frame_size(MAX_CLIENT_MESSAGE)
        .read_buffer_size(READ_CHUNK)
        .on_upgrade(move |socket: WebSocket| {
            let (sink, stream) = socket.split();
            let mut session = Session::new(&state);
            session.signed_in = caller.session;
            session.gzip = gzip;
            session.run(sink, stream)
        }))
}

/// Completes when the sign-in a socket was opened with ends (logout or
/// expiry); never without one.
async fn sign_in_ended(signed_in: Option<&SignedIn>) {
    match signed_in {
        Some(session) => {
            let expires = tokio::time::Instant::from_std(session.expires);
            tokio::select! {
                () = session.ended.cancelled() => {}
                () = tokio::time::sleep_until(expires) => {}
            }
        }
        None => std::future::pending().await,
    }
}

/// What a session knows about one subscribed topic.
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

pub struct Session {
    store: Store,
    hub: Hub,
    updates: broadcast::Receiver<Arc<Update>>,
    link: tokio::sync::watch::Receiver<crate::hub::Link>,
    stop: tokio_util::sync::CancellationToken,
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
    close: Option<(u16, &'static str)>,
    /// What this session last added to the pending-ops gauge.
    pending_counted: i64,
    /// The prefixes the server mirrors (empty: every key); a `kv:<prefix>`
    /// topic is served only inside them.
    mirrored: Arc<[String]>,
    /// The sign-in this socket was opened with (`--auth users`): the socket
    /// closes when it ends.
    pub signed_in: Option<SignedIn>,
    /// The client asked for large messages gzipped (`?compress=gzip`).
    pub gzip: bool,
}

impl Session {
    /// Subscribes to the hub at once, so nothing published after this point
    /// can be missed by a later snapshot.
    pub fn new(state: &AppState) -> Self {
        state.store.metrics().client_connected();
        let updates = state.hub.subscribe();
        Session {
            store: state.store.clone(),
            hub: state.hub.clone(),
            updates,
            link: state.hub.watch_link(),
            stop: state.stop.clone(),
            topics: BTreeMap::new(),
            received: (0, 0),
            status_sent: None,
            status_due: true,
            replies: Replies::default(),
            bad_messages: 0,
            bad_window: Instant::now(),
            close: None,
            pending_counted: 0,
            mirrored: state.config.prefixes.clone().into(),
            signed_in: None,
            gzip: false,
        }
    }

    pub async fn run<W, R>(mut self, sink: W, mut stream: R)
    where
        W: Sink<Message> + Unpin + Send + 'static,
        R: Stream<Item = Result<Message, axum::Error>> + Unpin,
    {
        let (tx, rx) = mpsc::channel::<Vec<Message>>(1);
        let mut writer = tokio::spawn(write_batches(sink, rx));
        // A JoinHandle must not be polled again once it has completed.
        let mut writer_done = false;
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        self.received.0 = self.store.position().0;

        loop {
            let has_work = self.has_work();
            tokio::select! {
                () = self.stop.cancelled() => {
                    self.close = Some((CLOSE_GOING_AWAY, "server shutting down"));
                }
                () = sign_in_ended(self.signed_in.as_ref()) => {
                    self.signed_in = None;
                    self.close = Some((CLOSE_SIGNED_OUT, "signed out: sign in again"));
                }
                incoming = stream.next() => match incoming {
                    Some(Ok(message)) => {
                        self.on_client_message(message);
                        self.count_pending();
                    }
                    Some(Err(error)) => {
                        tracing::debug!(%error, "websocket read failed");
                        break;
                    }
                    None => break,
                },
                update = self.updates.recv() => match update {
                    Ok(update) => self.on_update(&update),
                    Err(RecvError::Lagged(missed)) => self.on_lagged(missed),
                    Err(RecvError::Closed) => break,
                },
                changed = self.link.changed() => {
                    if changed.is_err() {
                        break;
                    }
                    self.status_due = true;
                }
                _ = tick.tick() => {
                    if self.status_sent != Some(self.watermark()) {
                        self.status_due = true;
                    }
                }
                permit = tx.reserve(), if has_work => match permit {
                    Ok(permit) => permit.send(self.drain()),
                    Err(_) => break,
                },
                _ = &mut writer => {
                    writer_done = true;
                    break;
                }
            }
            if let Some((code, reason)) = self.close.take() {
                let frame = CloseFrame {
                    code,
                    reason: reason.into(),
                };
                tracing::debug!(code, reason, "closing a websocket");
                // Best effort, and bounded: the client may be gone or not reading.
                let close = tx.send(vec![Message::Close(Some(frame))]);
                let _ = tokio::time::timeout(CLOSE_GRACE, close).await;
                break;
            }
        }
        drop(tx);
        // Let the writer flush what it has (a close frame, a last batch), and
        // read what the client still sends until its own close: dropping a
        // socket with unread input resets the connection, and a reset throws
        // away what the client has not read yet (the close frame among it).
        // Not for ever: a client that does not read never lets the writer end.
        let finish = async {
            if !writer_done {
                let _ = (&mut writer).await;
            }
        };
        let drain = async { while let Some(Ok(_)) = stream.next().await {} };
        if tokio::time::timeout(CLOSE_GRACE, futures::future::join(finish, drain))
            .await
            .is_err()
        {
            writer.abort();
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

    fn on_client_message(&mut self, message: Message) {
        let text = match message {
            Message::Text(text) => text,
            Message::Binary(_) => {
                return self.bad_message("messages must be JSON text frames".to_owned());
            }
            // Pings are answered by the WebSocket layer; a close ends the stream next.
            Message::Ping(_) | Message::Pong(_) | Message::Close(_) => return,
        };
        match serde_json::from_str::<ClientMsg>(text.as_str()) {
            Ok(ClientMsg::Subscribe { topics, since }) => {
                for topic in topics {
                    if self.close.is_some() {
                        break;
                    }
                    if let Topic::Kv(prefix) | Topic::KvDir(prefix) = &topic {
                        if !crate::config::within_prefixes(&self.mirrored, prefix.as_bytes()) {
                            let message = format!(
                                "{topic}: this Leasehold mirrors only keys under {:?}; subscribe to a prefix inside them",
                                self.mirrored
                            );
                            self.refuse(Refusal::NotServed, message, Some(topic));
                            continue;
                        }
                    }
                    if let Some(message) = self.over_topic_limits(&topic) {
                        self.refuse(Refusal::TooManyTopics, message, Some(topic));
                        continue;
                    }
                    let resumed = since.and_then(|since| self.resume(&topic, since));
                    if !self.topics.contains_key(&topic) {
                        self.hub.watch_topic(&topic);
                    }
                    let state = self.topics.entry(topic).or_default();
                    match resumed {
                        Some((floor, pending)) => {
                            state.floor = floor;
                            state.needs_snapshot = false;
                            state.pending = Some(pending);
                        }
                        None => {
                            state.needs_snapshot = true;
                            state.pending = None;
                        }
                    }
                }
                // A resume may bring more than a busy socket may hold.
                self.bound_pending_bytes();
            }
            Ok(ClientMsg::Unsubscribe { topics }) => {
                for topic in topics {
                    if self.topics.remove(&topic).is_some() {
                        self.hub.unwatch_topic(&topic);
                    }
                }
            }
            Ok(ClientMsg::Ping) => self.replies.ping(),
            Err(error) => self.bad_message(format!("malformed message: {error}")),
        }
    }

    /// What a client that had `topic` at revision `since` missed, as one
    /// pending patch, if the hub still knows all of it. Topics that also
    /// change between revisions (the cluster, the lease list) always get a
    /// snapshot, and so do `kv:<prefix>` and `kv-dir:<prefix>` topics: their patches are made only
    /// while some session watches the prefix, so the history may lack them.
    fn resume(&self, topic: &Topic, since: Revision) -> Option<(u64, Pending)> {
        if matches!(topic, Topic::Cluster | Topic::Leases | Topic::Kv(_) | Topic::KvDir(_)) {
            return None;
        }
        let watermark = self.watermark();
        if since > watermark {
            return None;
        }
        let up_to = self.received.0;
        let mut pending = Pending::new();
        for (update, index) in self.hub.missed(topic, since, up_to)? {
            pending.push(update, index);
        }
        // After these ops the topic is as the model was at `up_to`.
        pending.revision = watermark;
        pending.seq = up_to;
        Some((up_to, pending))
    }

    /// Why subscribing to `topic` (not yet subscribed) would go over this
    /// socket's limits, if it would.
    fn over_topic_limits(&self, topic: &Topic) -> Option<String> {
        if self.topics.contains_key(topic) {
            return None;
        }
        if self.topics.len() >= MAX_TOPICS {
            return Some(format!(
                "{topic}: a socket holds at most {MAX_TOPICS} topics; unsubscribe from one first"
            ));
        }
        let is_kv = |t: &Topic| matches!(t, Topic::Kv(_) | Topic::KvDir(_));
        if is_kv(topic) && self.topics.keys().filter(|t| is_kv(t)).count() >= MAX_KV_TOPICS {
            return Some(format!(
                "{topic}: a socket holds at most {MAX_KV_TOPICS} kv: and kv-dir: topics; unsubscribe from one first (close a folder)"
            ));
        }
        None
    }

    /// Answers a request with an error; closes the socket when errors pile
    /// up unread.
    fn refuse(&mut self, why: Refusal, message: String, topic: Option<Topic>) {
        if self.replies.refuse(why, message, topic) == Err(Flooded) && self.close.is_none() {
            self.close = Some((CLOSE_POLICY, "too many unread errors: read the socket"));
        }
    }

    fn bad_message(&mut self, message: String) {
        if self.bad_window.elapsed() > BAD_MESSAGE_WINDOW {
            self.bad_window = Instant::now();
            self.bad_messages = 0;
        }
        self.bad_messages += 1;
        if self.bad_messages > BAD_MESSAGE_LIMIT {
            self.close = Some((CLOSE_POLICY, "too many malformed messages"));
            return;
        }
        self.refuse(Refusal::BadRequest, message, None);
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
                self.store.metrics().snapshot_forced();
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
            self.store.metrics().snapshot_forced();
        }
    }

    /// Keeps the pending-ops gauge equal to what this session holds.
    fn count_pending(&mut self) {
        let total: usize = self
            .topics
            .values()
            .filter_map(|t| t.pending.as_ref())
            .map(|p| p.ops)
            .sum();
        let total = i64::try_from(total).unwrap_or(i64::MAX);
        self.store.metrics().pending_ops(total - self.pending_counted);
        self.pending_counted = total;
    }

    fn on_lagged(&mut self, missed: u64) {
        tracing::debug!(missed, "session fell behind; resyncing with snapshots");
        for state in self.topics.values_mut() {
            state.pending = None;
            state.needs_snapshot = true;
            self.store.metrics().snapshot_forced();
        }
        self.count_pending();
    }

    /// The revision this session can claim to be current to: the store's, if
    /// every update published so far has been received, else the last
    /// received update's.
    fn watermark(&self) -> Revision {
        let (seq, revision) = self.store.position();
        if self.received.0 >= seq {
            revision.max(self.received.1)
        } else {
            self.received.1
        }
    }

    /// Everything due, as frames, in revision order.
    fn drain(&mut self) -> Vec<Message> {
        // 1. Snapshots, each at its position in the update order.
        let mut out: Vec<(Revision, u64, Out)> = Vec::new();
        let mut refused = Vec::new();
        let mut errors = Vec::new();
        let mut snapshot_bytes = 0;
        for (topic, state) in &mut self.topics {
            // Past the batch's share, the others wait for the next batch.
            if !state.needs_snapshot || snapshot_bytes >= SNAPSHOT_BATCH_BYTES {
                continue;
            }
            state.needs_snapshot = false;
            state.pending = None;
            state.continuation = None;
            match self.store.snapshot(topic) {
                Ok(snapshot) => {
                    snapshot_bytes += snapshot.data.get().len();
                    state.floor = snapshot.seq;
                    let more = !snapshot.rest.is_empty();
                    if more {
                        state.continuation = Some(Continuation {
                            revision: snapshot.revision,
                            seq: snapshot.seq,
                            instances: snapshot.rest.into_iter(),
                            started: false,
                        });
                    }
                    out.push((
                        snapshot.revision,
                        snapshot.seq,
                        Out::Message(ServerMsg::Snapshot {
                            topic: topic.clone(),
                            revision: snapshot.revision,
                            data: snapshot.data,
                            more,
                        }),
                    ));
                }
                Err(error) => {
                    refused.push(topic.clone());
                    errors.push(ServerMsg::Error {
                        code: error.code().to_owned(),
                        message: error.to_string(),
                        topic: Some(topic.clone()),
                    });
                }
            }
        }
        for topic in refused {
            if self.topics.remove(&topic).is_some() {
                self.hub.unwatch_topic(&topic);
            }
        }
        // 2. Updates already published when those snapshots were taken are in
        //    the channel now: take them, so none is sent after a later snapshot.
        loop {
            match self.updates.try_recv() {
                Ok(update) => self.on_update(&update),
                Err(TryRecvError::Lagged(missed)) => {
                    // Rare: resync on the next round rather than loop here.
                    self.on_lagged(missed);
                    break;
                }
                Err(TryRecvError::Empty | TryRecvError::Closed) => break,
            }
        }
        // 3. The next part of each snapshot sent in parts, one per round, so
        //    the first part reaches the client before the rest is written.
        for (topic, state) in &mut self.topics {
            let Some(continuation) = &mut state.continuation else {
                continue;
            };
            if !std::mem::replace(&mut continuation.started, true) {
                continue;
            }
            let ops: Vec<PatchOp> = continuation
                .instances
                .by_ref()
                .take(SNAPSHOT_PART_OPS)
                .map(|instance| patch_op(&instance.id, Some(&instance)))
                .collect();
            let more = continuation.instances.len() > 0;
            out.push((
                continuation.revision,
                continuation.seq,
                Out::Message(ServerMsg::Patch {
                    topic: topic.clone(),
                    revision: continuation.revision,
                    ops,
                    more,
                }),
            ));
            if !more {
                state.continuation = None;
            }
        }
        // 4. Pending patches, after the whole snapshot of their topic.
        for (topic, state) in &mut self.topics {
            if state.continuation.is_some() {
                continue;
            }
            if let Some(pending) = state.pending.take() {
                if let Some(frame) = pending.frame(topic) {
                    out.push((pending.revision, pending.seq, Out::Frame(frame)));
                }
            }
        }
        // In the order the model went through them. Revisions follow that
        // order too, except once etcd went back in time: then the relist's
        // update has a higher `seq` and a lower revision than those before it.
        out.sort_by_key(|(revision, seq, _)| (*seq, *revision));

        // 5. Status, pong and errors last, at a revision no earlier than anything above.
        let mut watermark = self.watermark();
        if let Some((revision, _, _)) = out.last() {
            watermark = watermark.max(*revision);
        }
        let mut messages: Vec<Out> = out.into_iter().map(|(_, _, m)| m).collect();
        if self.status_due {
            self.status_due = false;
            self.status_sent = Some(watermark);
            let link = self.store.link();
            messages.push(Out::Message(ServerMsg::Status {
                etcd: link.state,
                revision: watermark,
                error: link.error.filter(|_| link.state != EtcdState::Connected),
            }));
        }
        messages.extend(self.replies.take(watermark).into_iter().map(Out::Message));
        messages.extend(errors.into_iter().map(Out::Message));

        self.count_pending();
        let gzip_large = self.gzip;
        let mut bytes = 0;
        let frames: Vec<Message> = messages
            .into_iter()
            .filter_map(|message| {
                let text: Utf8Bytes = match message {
                    Out::Frame(frame) => frame,
                    Out::Message(message) => match serde_json::to_string(&message) {
                        Ok(text) => text.into(),
                        Err(error) => {
                            tracing::error!(%error, "cannot serialize a server message");
                            return None;
                        }
                    },
                };
                let gzipped = if gzip_large && text.len() >= GZIP_FROM {
                    gzip(text.as_bytes()).ok()
                } else {
                    None
                };
                Some(match gzipped {
                    Some(gz) => {
                        bytes += gz.len();
                        Message::Binary(gz.into())
                    }
                    None => {
                        bytes += text.len();
                        Message::Text(text)
                    }
                })
            })
            .collect();
        self.store.metrics().sent(frames.len(), bytes);
        frames
    }
}

/// `text` as gzip, in one go (it is in memory already).
fn gzip(text: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut encoder = GzEncoder::new(Vec::with_capacity(text.len() / 8), GZIP_LEVEL);
    encoder.write_all(text)?;
    encoder.finish()
}

/// A message due on a socket: to be serialized, or already a frame.
enum Out {
    Message(ServerMsg),
    Frame(Utf8Bytes),
}

impl Drop for Session {
    fn drop(&mut self) {
        self.store.metrics().pending_ops(-self.pending_counted);
        self.store.metrics().client_gone();
        for topic in self.topics.keys() {
            self.hub.unwatch_topic(topic);
        }
    }
}

/// Owns the sink: writes each batch, flushing once per batch.
async fn write_batches<W>(mut sink: W, mut batches: mpsc::Receiver<Vec<Message>>)
where
    W: Sink<Message> + Unpin,
{
    while let Some(batch) = batches.recv().await {
        for message in batch {
            if sink.feed(message).await.is_err() {
                return;
            }
        }
        if sink.flush().await.is_err() {
            return;
        }
    }
    let _ = sink.close().await;
}
