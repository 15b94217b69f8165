//! Keys as configuration (`KV` of docs/api.md): the wire form of a key with the
//! classifier's kind, and the `kv:<prefix>` topic served from the mirror: its
//! snapshot, and the patches of each change for the prefixes some session
//! is subscribed to. The key tree's `kv-dir:<prefix>` topic is in
//! `kv_dir.rs`.

use app::model::{Kv, KvKind, KvListBody, LeaseId, PatchOp, Topic};
use serde_json::value::to_raw_value;

use super::classify::{Classifier, Kind};
use super::mirror::{ChangeRef, KeyValue, Mirror};
use super::text::{key_id, text_and_base64};
use crate::hub::SnapshotError;

pub use app::model::KV_TOPIC_MAX;

/// The most bytes (keys and values) a `kv:<prefix>` snapshot carries: ten
/// thousand keys of configuration could otherwise be gigabytes in one
/// message, built in the server's memory and again in the browser's.
pub const KV_TOPIC_BYTES_MAX: usize = 64 << 20;

/// What the classifier says a key is, as `KV.kind` writes it.
pub fn kind_of(classifier: &Classifier, kv: &KeyValue) -> KvKind {
    match classifier.classify(kv) {
        Kind::Instance(_) | Kind::Instances(_) => KvKind::Instance,
        Kind::Heartbeat(_) => KvKind::Kv,
        Kind::Contender { proposal: None, .. } => KvKind::Lock,
        Kind::Contender { proposal: Some(_), .. } => KvKind::Election,
        Kind::Plain => KvKind::Kv,
    }
}

/// A key as docs/api.md's `KV`.
pub fn to_kv(classifier: &Classifier, kv: &KeyValue) -> Kv {
    let (key, key_base64) = text_and_base64(&kv.key);
    let (value, value_base64) = text_and_base64(&kv.value);
    Kv {
        key,
        key_base64,
        value,
        value_base64,
        create_revision: kv.create_revision,
        mod_revision: kv.mod_revision,
        version: kv.version,
        lease: (kv.lease != 0).then_some(LeaseId(kv.lease)),
        kind: kind_of(classifier, kv),
    }
}

/// The `kv:<prefix>` snapshot: every mirrored key under `prefix`, in key order.
pub(super) fn snapshot_body(
    classifier: &Classifier,
    mirror: &Mirror,
    topic: &Topic,
    prefix: &str,
    revision: app::model::Revision,
    stale: bool,
) -> Result<KvListBody, SnapshotError> {
    let under: Vec<&KeyValue> = mirror.under(prefix.as_bytes()).take(KV_TOPIC_MAX + 1).collect();
    if under.len() > KV_TOPIC_MAX {
        return Err(SnapshotError::TooLarge(topic.clone(), KV_TOPIC_MAX));
    }
    let bytes: usize = under.iter().map(|kv| kv.key.len() + kv.value.len()).sum();
    if bytes > KV_TOPIC_BYTES_MAX {
        return Err(SnapshotError::TooManyBytes(topic.clone(), KV_TOPIC_BYTES_MAX));
    }
    Ok(KvListBody {
        revision,
        items: under.into_iter().map(|kv| to_kv(classifier, kv)).collect(),
        more: false,
        stale,
    })
}

/// The patches `changes` make to the `kv:<prefix>` topics of `prefixes`
/// (those sessions watch): nothing (and no work) when there is none. Each changed key is
/// serialized once, whatever the number of topics it falls under.
pub(super) fn patches(
    prefixes: &[String],
    classifier: &Classifier,
    changes: &[ChangeRef<'_>],
) -> Vec<(Topic, Vec<PatchOp>)> {
    if changes.is_empty() || prefixes.is_empty() {
        return Vec::new();
    }
    let mut per_topic: Vec<Vec<PatchOp>> = vec![Vec::new(); prefixes.len()];
    for change in changes {
        let key = match change {
            ChangeRef::Upserted { after, .. } => &after.key,
            ChangeRef::Removed(kv) => &kv.key,
        };
        let matching: Vec<usize> = prefixes
            .iter()
            .enumerate()
            .filter(|(_, prefix)| key.starts_with(prefix.as_bytes()))
            .map(|(i, _)| i)
            .collect();
        if matching.is_empty() {
            continue;
        }
        let id = key_id(key);
        let op = match change {
            ChangeRef::Upserted { after, .. } => match to_raw_value(&to_kv(classifier, after)) {
                Ok(value) => PatchOp::Upsert { id, value },
                Err(error) => {
                    tracing::error!(%error, "cannot serialize a key for the kv topic");
                    continue;
                }
            },
            ChangeRef::Removed(_) => PatchOp::Remove { id },
        };
        for i in matching {
            if let Some(ops) = per_topic.get_mut(i) {
                ops.push(op.clone());
            }
        }
    }
    prefixes
        .iter()
        .zip(per_topic)
        .map(|(prefix, ops)| (Topic::Kv(prefix.clone()), ops))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mirror(keys: &[&str]) -> Mirror {
        Mirror::from_list(keys.iter().map(|k| KeyValue::sample(k, "v")))
    }

    #[test]
    fn a_snapshot_holds_the_prefix_in_key_order_and_refuses_a_large_one() {
        let classifier = Classifier::default();
        let topic = Topic::Kv("/a/".into());
        let body = snapshot_body(
            &classifier,
            &mirror(&["/b", "/a/2", "/a", "/a/1"]),
            &topic,
            "/a/",
            7,
            false,
        );
        let keys: Vec<String> = body
            .map(|b| b.items.into_iter().map(|kv| kv.key).collect())
            .unwrap_or_default();
        assert_eq!(keys, ["/a/1", "/a/2"]);

        let many: Vec<String> = (0..=KV_TOPIC_MAX).map(|i| format!("/big/{i:05}")).collect();
        let many = Mirror::from_list(many.iter().map(|k| KeyValue::sample(k, "")));
        let refused = snapshot_body(&classifier, &many, &Topic::Kv("/big/".into()), "/big/", 1, false);
        assert!(matches!(refused, Err(SnapshotError::TooLarge(..))), "{refused:?}");
        assert!(snapshot_body(&classifier, &many, &Topic::Kv("/big/0".into()), "/big/0", 1, false).is_ok());
    }

    #[test]
    fn kinds_come_from_the_classifier() {
        let classifier = Classifier::default();
        let lock = KeyValue::sample("jobs/694d8b0ee8ec6c0a", "").with_lease(0x694d8b0ee8ec6c0a);
        assert_eq!(kind_of(&classifier, &lock), KvKind::Lock);
        let candidate = KeyValue::sample("leader/694d8b0ee8ec6c0a", "me").with_lease(0x694d8b0ee8ec6c0a);
        assert_eq!(kind_of(&classifier, &candidate), KvKind::Election);
        let kratos = KeyValue::sample(
            "/microservices/shop/1",
            r#"{"id":"1","name":"shop","endpoints":["grpc://10.0.0.1:9000"]}"#,
        );
        assert_eq!(kind_of(&classifier, &kratos), KvKind::Instance);
        assert_eq!(kind_of(&classifier, &KeyValue::sample("/config/a", "x")), KvKind::Kv);
        let binary = KeyValue {
            value: vec![0xff, 0],
            ..KeyValue::sample("/config/b", "")
        };
        let kv = to_kv(&classifier, &binary);
        assert_eq!(kv.value_base64.as_deref(), Some("/wA="));
        assert_eq!(kv.lease, None);
    }
}
