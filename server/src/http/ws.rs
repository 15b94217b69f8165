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
//! Ordering: every message carries a revision and a socket never sees one go
//! backwards. Snapshots are taken under the store's lock together with their
//! position (`seq`) in the stream of updates; updates at or before a topic's
//! snapshot are dropped for that topic, and each batch is ordered by revision.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use app::model::{ClientMsg, EtcdState, Instance, PatchOp, Revision, ServerMsg, Topic};
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use axum::Extension;
use futures::{Sink, SinkExt, Stream, StreamExt};
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::sync::{broadcast, mpsc};
use tokio::time::Instant;

use super::AppState;
use crate::auth::{Caller, Session as SignedIn};
use crate::hub::{Hub, Update};
use crate::registry::{patch_op, Store};

/// Largest client message accepted.
const MAX_CLIENT_MESSAGE: usize = 64 * 1024;
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

/// `GET /api/v1/ws`.
pub async fn upgrade(
    ws: WebSocketUpgrade,
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Response {
    ws.max_message_size(MAX_CLIENT_MESSAGE)
        .on_upgrade(move |socket: WebSocket| {
            let (sink, stream) = socket.split();
            let mut session = Session::new(&state);
            session.signed_in = caller.session;
            session.run(sink, stream)
        })
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

/// Ops merged while the socket was busy.
struct Pending {
    revision: Revision,
    seq: u64,
    ops: Vec<PatchOp>,
    /// Entity id -> index in `ops`, so a later op replaces an earlier one.
    by_id: HashMap<String, usize>,
}

impl Pending {
    fn new() -> Self {
        Pending {
            revision: 0,
            seq: 0,
            ops: Vec::new(),
            by_id: HashMap::new(),
        }
    }

    fn merge(&mut self, update: &Update, ops: &[PatchOp]) {
        self.revision = update.revision;
        self.seq = update.seq;
        for op in ops {
            self.push(op.clone());
        }
    }

    /// Adds one op; a later op on an entity replaces its earlier one.
    fn push(&mut self, op: PatchOp) {
        match op.id() {
            Some(id) => match self.by_id.get(id) {
                Some(&index) => self.ops[index] = op,
                None => {
                    self.by_id.insert(id.to_owned(), self.ops.len());
                    self.ops.push(op);
                }
            },
            None => self.ops.push(op),
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
        for op in self.hub.missed(topic, since, up_to)? {
            pending.push(op);
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

    fn on_update(&mut self, update: &Update) {
        self.received = (update.seq, update.revision);
        for (topic, ops) in &update.patches {
            let Some(state) = self.topics.get_mut(topic) else {
                continue;
            };
            if state.needs_snapshot || update.seq <= state.floor {
                continue;
            }
            let pending = state.pending.get_or_insert_with(Pending::new);
            pending.merge(update, ops);
            if pending.ops.len() > MAX_PENDING_OPS {
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
            .map(|p| p.ops.len())
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
        let mut out: Vec<(Revision, u64, ServerMsg)> = Vec::new();
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
                        ServerMsg::Snapshot {
                            topic: topic.clone(),
                            revision: snapshot.revision,
                            data: snapshot.data,
                            more,
                        },
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
                ServerMsg::Patch {
                    topic: topic.clone(),
                    revision: continuation.revision,
                    ops,
                    more,
                },
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
                out.push((
                    pending.revision,
                    pending.seq,
                    ServerMsg::Patch {
                        topic: topic.clone(),
                        revision: pending.revision,
                        ops: pending.ops,
                        more: false,
                    },
                ));
            }
        }
        out.sort_by_key(|(revision, seq, _)| (*revision, *seq));

        // 5. Status and pongs last, at a revision no earlier than anything above.
        let mut watermark = self.watermark();
        if let Some((revision, _, _)) = out.last() {
            watermark = watermark.max(*revision);
        }
        let mut messages: Vec<ServerMsg> = out.into_iter().map(|(_, _, m)| m).collect();
        if self.status_due {
            self.status_due = false;
            self.status_sent = Some(watermark);
            let link = self.store.link();
            messages.push(ServerMsg::Status {
                etcd: link.state,
                revision: watermark,
                error: link.error.filter(|_| link.state != EtcdState::Connected),
            });
        }
        for _ in 0..std::mem::take(&mut self.pongs) {
            messages.push(ServerMsg::Pong { revision: watermark });
        }
        messages.append(&mut self.errors);

        self.count_pending();
        let texts: Vec<String> = messages
            .iter()
            .filter_map(|message| match serde_json::to_string(message) {
                Ok(text) => Some(text),
                Err(error) => {
                    tracing::error!(%error, "cannot serialize a server message");
                    None
                }
            })
            .collect();
        self.store
            .metrics()
            .sent(texts.len(), texts.iter().map(String::len).sum());
        texts.into_iter().map(|text| Message::Text(text.into())).collect()
    }
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
