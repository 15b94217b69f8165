//! A feed's next batch: everything due, in the order the model went through
//! it, encoded as frames.

use std::io::Write;

use app::model::{EtcdState, PatchOp, Revision, ServerMsg};
use flate2::write::GzEncoder;
use tokio::sync::broadcast::error::TryRecvError;

use super::{Continuation, Feed, Frame, Snapshots, GZIP_FROM, GZIP_LEVEL, SNAPSHOT_BATCH_BYTES, SNAPSHOT_PART_OPS};
use crate::hub::patch_op;

/// A message due to a client: to be serialized, or already a frame.
enum Out {
    Message(ServerMsg),
    Frame(Frame),
}

impl<S: Snapshots> Feed<S> {
    /// Everything due, as frames, in revision order.
    pub(super) fn drain(&mut self) -> Vec<Frame> {
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
            match self.source.snapshot(topic) {
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
                        code: error.code(),
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
            let link = self.hub.link();
            messages.push(Out::Message(ServerMsg::Status {
                etcd: link.state,
                revision: watermark,
                error: link.error.filter(|_| link.state != EtcdState::Connected),
            }));
        }
        messages.extend(self.replies.take(watermark).into_iter().map(Out::Message));
        messages.extend(errors.into_iter().map(Out::Message));

        self.count_pending();
        let gzip_large = self.options.gzip;
        let frames: Vec<Frame> = messages
            .into_iter()
            .filter_map(|message| {
                let frame = match message {
                    Out::Frame(frame) => frame,
                    Out::Message(message) => match serde_json::to_string(&message) {
                        Ok(text) => Frame::Text(text),
                        Err(error) => {
                            tracing::error!(%error, "cannot serialize a server message");
                            return None;
                        }
                    },
                };
                let gzipped = match frame.text() {
                    Some(text) if gzip_large && text.len() >= GZIP_FROM => gzip(text.as_bytes()).ok(),
                    _ => None,
                };
                Some(gzipped.map_or(frame, Frame::Gzip))
            })
            .collect();
        let bytes = frames.iter().map(Frame::len).sum();
        self.metrics.sent(frames.len(), bytes);
        frames
    }
}

/// `text` as gzip, in one go (it is in memory already).
fn gzip(text: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut encoder = GzEncoder::new(Vec::with_capacity(text.len() / 8), GZIP_LEVEL);
    encoder.write_all(text)?;
    encoder.finish()
}
