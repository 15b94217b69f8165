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
//! A client that opened the socket with `?compress=gzip` gets every message
//! of [`GZIP_FROM`] bytes or more as a binary frame of gzipped JSON: a
//! registry's snapshots shrink about tenfold, while the small patches of
//! everyday changes stay text.
//!
//! Ordering: every message carries a revision and a socket never sees one go
//! backwards. Snapshots are taken under the store's lock together with their
//! position (`seq`) in the stream of updates; updates at or before a topic's
//! snapshot are dropped for that topic, and each batch is ordered by revision.

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
use crate::hub::{patch_text, Hub, Update};
use crate::registry::{patch_op, Store};

/// Largest client message accepted.
const MAX_CLIENT_MESSAGE: usize = 64 * 1024;
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
const MAX_PENDING_OPS: usize = 10_000;
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

/// What a topic has to send since its last message: patches of updates,
/// held by reference until the socket is free.
struct Pending {
    /// (update, index in its `patches`), oldest first.
    parts: Vec<(Arc<Update>, usize)>,
    /// Ops in `parts`, before merging.
    ops: usize,
    /// The position the topic reaches once they are applied: the last
    /// part's, or after a resume the session's watermark.
    revision: Revision,
    seq: u64,
}

impl Pending {
    fn new() -> Self {
        Pending {
            parts: Vec::new(),
            ops: 0,
            revision: 0,
            seq: 0,
        }
    }

    /// Adds `update.patches[index]`; the topic is then at that update.
    fn push(&mut self, update: Arc<Update>, index: usize) {
        self.ops += update.patches.get(index).map_or(0, |(_, ops)| ops.len());
        self.revision = update.revision;
        self.seq = update.seq;
        self.parts.push((update, index));
    }

    /// The `patch` message: a lone update's own shared text, or the parts
    /// merged into one patch in which an entity's later op replaces its
    /// earlier ones, assembled from the parts' serialized ops (a burst costs a
    /// busy client one message, and the server serializes nothing per client).
    fn frame(&self, topic: &Topic) -> Option<Utf8Bytes> {
        if let [(update, index)] = self.parts.as_slice() {
            if update.revision == self.revision {
                return update.encoded(*index).map(|encoded| encoded.text.clone());
            }
        }
        let mut merged: Vec<&str> = Vec::with_capacity(self.ops);
        let mut by_id: HashMap<&str, usize> = HashMap::with_capacity(self.ops);
        for (update, index) in &self.parts {
            let (Some((_, ops)), Some(encoded)) = (update.patches.get(*index), update.encoded(*index)) else {
                continue;
            };
            for (op, range) in ops.iter().zip(&encoded.ops) {
                let Some(text) = encoded.text.as_str().get(range.clone()) else {
                    continue;
                };
                match op.id().map(|id| by_id.get(id).copied().ok_or(id)) {
                    Some(Ok(at)) => merged[at] = text,
                    Some(Err(id)) => {
                        by_id.insert(id, merged.len());
                        merged.push(text);
                    }
                    None => merged.push(text),
                }
            }
        }
        match patch_text(topic, self.revision, merged) {
            Ok((text, _)) => Some(text.into()),
            Err(error) => {
                tracing::error!(%error, "cannot serialize a patch");
                None
            }
        }
    }
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
    pongs: usize,
    errors: Vec<ServerMsg>,
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
            pongs: 0,
            errors: Vec::new(),
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
                // Best effort, and bounded: the client may be gone or not reading.
                let close = tx.send(vec![Message::Close(Some(frame))]);
                let _ = tokio::time::timeout(Duration::from_secs(5), close).await;
                break;
            }
        }
        drop(tx);
        if !writer_done {
            // Let the writer flush what it has (a close frame, a last batch).
            let _ = tokio::time::timeout(Duration::from_secs(5), writer).await;
        }
    }

    fn has_work(&self) -> bool {
        self.status_due
            || self.pongs > 0
            || !self.errors.is_empty()
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
                    if let Topic::Kv(prefix) | Topic::KvDir(prefix) = &topic {
                        if !self.mirrored.is_empty() && !self.mirrored.iter().any(|m| prefix.starts_with(m.as_str())) {
                            self.errors.push(ServerMsg::Error {
                                code: "not_served".to_owned(),
                                message: format!(
                                    "{topic}: this Leasehold mirrors only keys under {:?}; subscribe to a prefix inside them",
                                    self.mirrored
                                ),
                                topic: Some(topic.clone()),
                            });
                            continue;
                        }
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
            }
            Ok(ClientMsg::Unsubscribe { topics }) => {
                for topic in topics {
                    if self.topics.remove(&topic).is_some() {
                        self.hub.unwatch_topic(&topic);
                    }
                }
            }
            Ok(ClientMsg::Ping) => self.pongs += 1,
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
        self.errors.push(ServerMsg::Error {
            code: "bad_request".to_owned(),
            message,
            topic: None,
        });
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
        self.count_pending();
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
        for (topic, state) in &mut self.topics {
            if !state.needs_snapshot {
                continue;
            }
            state.needs_snapshot = false;
            state.pending = None;
            state.continuation = None;
            match self.store.snapshot(topic) {
                Ok(snapshot) => {
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
                    self.errors.push(ServerMsg::Error {
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
        out.sort_by_key(|(revision, seq, _)| (*revision, *seq));

        // 5. Status and pongs last, at a revision no earlier than anything above.
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
        for _ in 0..std::mem::take(&mut self.pongs) {
            messages.push(Out::Message(ServerMsg::Pong { revision: watermark }));
        }
        messages.extend(self.errors.drain(..).map(Out::Message));

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

#[cfg(test)]
mod tests {
    use serde_json::value::RawValue;
    use serde_json::Value;

    use super::*;

    fn upsert(id: &str, n: u32) -> PatchOp {
        let value = RawValue::from_string(format!(r#"{{"name":"{id}","n":{n},"note":"a \"quoted\" é"}}"#));
        PatchOp::Upsert {
            id: id.to_owned(),
            value: value.unwrap_or_else(|error| panic!("raw value: {error}")),
        }
    }

    fn remove(id: &str) -> PatchOp {
        PatchOp::Remove { id: id.to_owned() }
    }

    fn json(text: &str) -> Value {
        serde_json::from_str(text).unwrap_or_else(|error| panic!("{error}: {text}"))
    }

    fn serde_patch(topic: &Topic, revision: Revision, ops: Vec<PatchOp>) -> Value {
        let message = ServerMsg::Patch {
            topic: topic.clone(),
            revision,
            ops,
            more: false,
        };
        json(&serde_json::to_string(&message).unwrap_or_else(|error| panic!("{error}")))
    }

    fn pending_of(updates: &[Arc<Update>]) -> Pending {
        let mut pending = Pending::new();
        for update in updates {
            pending.push(update.clone(), 0);
        }
        pending
    }

    #[test]
    fn a_lone_update_is_sent_as_the_message_serde_writes_and_shared() {
        let topic = Topic::Service("a \"b\"".to_owned());
        let ops = vec![upsert("x", 1), remove("y"), upsert("z", 2)];
        let update = Arc::new(Update::new(
            3,
            41,
            vec![(Topic::Services, vec![]), (topic.clone(), ops.clone())],
        ));
        let mut pending = Pending::new();
        pending.push(update, 1);
        let first = pending.frame(&topic).unwrap_or_else(|| panic!("frame"));
        assert_eq!(json(first.as_str()), serde_patch(&topic, 41, ops));
        // A second session gets the very same bytes, not a new serialization.
        let second = pending.frame(&topic).unwrap_or_else(|| panic!("frame"));
        assert_eq!(first.as_str().as_ptr(), second.as_str().as_ptr());
    }

    #[test]
    fn merged_updates_keep_each_entitys_last_op_in_its_first_place() {
        let topic = Topic::Services;
        let updates = [
            Arc::new(Update::new(
                1,
                10,
                vec![(topic.clone(), vec![upsert("a", 1), upsert("b", 1)])],
            )),
            Arc::new(Update::new(
                2,
                11,
                vec![(topic.clone(), vec![remove("a"), upsert("c", 1)])],
            )),
            Arc::new(Update::new(3, 12, vec![(topic.clone(), vec![upsert("b", 2)])])),
        ];
        let pending = pending_of(&updates);
        assert_eq!((pending.revision, pending.seq, pending.ops), (12, 3, 5));
        let frame = pending.frame(&topic).unwrap_or_else(|| panic!("frame"));
        let expected = serde_patch(&topic, 12, vec![remove("a"), upsert("b", 2), upsert("c", 1)]);
        assert_eq!(json(frame.as_str()), expected);
    }

    #[test]
    fn a_resume_with_nothing_missed_is_an_empty_patch_at_the_watermark() {
        let pending = Pending {
            parts: Vec::new(),
            ops: 0,
            revision: 99,
            seq: 7,
        };
        let frame = pending.frame(&Topic::Locks).unwrap_or_else(|| panic!("frame"));
        assert_eq!(json(frame.as_str()), serde_patch(&Topic::Locks, 99, vec![]));
    }

    #[test]
    fn a_resumed_single_update_is_sent_at_the_watermark_not_its_own_revision() {
        let topic = Topic::Locks;
        let update = Arc::new(Update::new(5, 20, vec![(topic.clone(), vec![upsert("l", 1)])]));
        let pending = Pending {
            parts: vec![(update, 0)],
            ops: 1,
            revision: 25,
            seq: 6,
        };
        let frame = pending.frame(&topic).unwrap_or_else(|| panic!("frame"));
        assert_eq!(json(frame.as_str()), serde_patch(&topic, 25, vec![upsert("l", 1)]));
    }
}
