//! What one topic of a feed has to send while its client is busy: the
//! patches of updates, held by reference, merged into one message when the
//! client has room again.

use std::collections::HashMap;
use std::sync::Arc;

use app::model::{PatchOp, Revision, Topic};

use super::Frame;
use crate::hub::{patch_text, Update};

/// What a topic has to send since its last message: patches of updates,
/// held by reference until the client has room.
pub(super) struct Pending {
    /// (update, index in its `patches`), oldest first.
    pub(super) parts: Vec<(Arc<Update>, usize)>,
    /// Ops in `parts`, before merging.
    pub(super) ops: usize,
    /// About the bytes of JSON those ops are ([`op_bytes`]), before merging.
    pub(super) bytes: usize,
    /// The position the topic reaches once they are applied: the last
    /// part's, or after a resume the feed's watermark.
    pub(super) revision: Revision,
    pub(super) seq: u64,
}

/// About the size of an op's JSON: what it carries (the id and the value's
/// JSON) and the few bytes around them. Counted from what the op holds, so
/// that nothing is serialized to measure it.
pub(super) fn op_bytes(op: &PatchOp) -> usize {
    const FRAME: usize = 32;
    match op {
        PatchOp::Upsert { id, value } => FRAME + id.len() + value.get().len(),
        PatchOp::Remove { id } => FRAME + id.len(),
        PatchOp::Append { value } => FRAME + value.get().len(),
    }
}

impl Pending {
    pub(super) fn new() -> Self {
        Pending {
            parts: Vec::new(),
            ops: 0,
            bytes: 0,
            revision: 0,
            seq: 0,
        }
    }

    /// Adds `update.patches[index]`; the topic is then at that update.
    pub(super) fn push(&mut self, update: Arc<Update>, index: usize) {
        if let Some((_, ops)) = update.patches.get(index) {
            self.ops += ops.len();
            self.bytes += ops.iter().map(op_bytes).sum::<usize>();
        }
        self.revision = update.revision;
        self.seq = update.seq;
        self.parts.push((update, index));
    }

    /// The `patch` message: a lone update's own shared text, or the parts
    /// merged into one patch in which an entity's later op replaces its
    /// earlier ones, assembled from the parts' serialized ops (a burst costs a
    /// busy client one message, and the server serializes nothing per client).
    pub(super) fn frame(&self, topic: &Topic) -> Option<Frame> {
        if let [(update, index)] = self.parts.as_slice() {
            if update.revision == self.revision {
                return update
                    .encoded(*index)
                    .map(|encoded| Frame::Shared(encoded.text.clone()));
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
            Ok((text, _)) => Some(Frame::Text(text)),
            Err(error) => {
                tracing::error!(%error, "cannot serialize a patch");
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use app::model::ServerMsg;
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

    fn text(frame: &Frame) -> &str {
        frame.text().unwrap_or_else(|| panic!("a text frame: {frame:?}"))
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
        assert_eq!(json(text(&first)), serde_patch(&topic, 41, ops));
        // A second session gets the very same bytes, not a new serialization.
        let second = pending.frame(&topic).unwrap_or_else(|| panic!("frame"));
        assert!(matches!(second, Frame::Shared(_)), "{second:?}");
        assert_eq!(text(&first).as_ptr(), text(&second).as_ptr());
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
        assert_eq!(json(text(&frame)), expected);
    }

    #[test]
    fn pending_bytes_are_about_the_json_of_the_ops() {
        let topic = Topic::Services;
        let ops = vec![upsert("a", 1), remove("b"), upsert("c", 2)];
        let update = Arc::new(Update::new(1, 10, vec![(topic.clone(), ops.clone())]));
        let pending = pending_of(&[update]);
        let json: usize = ops
            .iter()
            .map(|op| serde_json::to_string(op).map_or(0, |text| text.len()))
            .sum();
        assert!(
            pending.bytes >= json && pending.bytes <= json + 32 * ops.len(),
            "{} for {json}",
            pending.bytes
        );
    }

    #[test]
    fn a_resume_with_nothing_missed_is_an_empty_patch_at_the_watermark() {
        let pending = Pending {
            revision: 99,
            seq: 7,
            ..Pending::new()
        };
        let frame = pending.frame(&Topic::Locks).unwrap_or_else(|| panic!("frame"));
        assert_eq!(json(text(&frame)), serde_patch(&Topic::Locks, 99, vec![]));
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
            ..Pending::new()
        };
        let frame = pending.frame(&topic).unwrap_or_else(|| panic!("frame"));
        assert_eq!(json(text(&frame)), serde_patch(&topic, 25, vec![upsert("l", 1)]));
    }
}
