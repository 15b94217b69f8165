//! The registry as it was at a past revision: a model of its own, built from
//! etcd's keys at that revision by the same classifier and index the live
//! model uses, and read through the same views. Nothing in it is live: no
//! lease was sampled then (TTLs are unknown), no event is derived, and it
//! changes never.

use std::sync::Arc;

use app::model::{EtcdState, Revision};

use super::classify::Classifier;
use super::history::HistoryConfig;
use super::mirror::{KeyValue, Mirror};
use super::store::Store;
use super::writer::Writer;
use crate::hub::Hub;

/// A past registry, read-only.
#[derive(Clone)]
pub struct Past {
    pub revision: Revision,
    pub store: Store,
    /// Keys and values it holds, in bytes.
    pub bytes: usize,
}

impl Past {
    /// The registry of `items`, etcd's keys at `revision`.
    pub fn build(classifier: Classifier, revision: Revision, items: Vec<KeyValue>) -> Arc<Past> {
        let bytes = items.iter().map(|kv| kv.key.len() + kv.value.len()).sum();
        let history = HistoryConfig {
            services: 0,
            ..HistoryConfig::default()
        };
        let mut writer = Writer::new(Hub::new(), classifier, 1, history);
        writer.replace_mirror(revision, Mirror::from_list(items), None);
        // Its bodies are etcd's at that revision, not a stale copy of now.
        writer.set_link(EtcdState::Connected, None);
        Arc::new(Past {
            revision,
            store: writer.store(),
            bytes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_past_registry_reads_like_the_live_one() {
        let instance = |id: usize| KeyValue {
            key: format!("/microservices/pay/p{id}").into_bytes(),
            value: format!(r#"{{"id":"p{id}","name":"pay","endpoints":["grpc://10.0.0.{id}:9000"]}}"#).into_bytes(),
            create_revision: 3,
            mod_revision: 3,
            version: 1,
            lease: 0,
        };
        let past = Past::build(Classifier::new(Vec::new()), 7, vec![instance(1), instance(2)]);
        let services = past.store.services_body(None);
        assert_eq!((services.revision, services.stale), (7, false));
        assert_eq!(services.services.len(), 1);
        assert_eq!(past.store.service_body("pay").map(|s| s.instances.len()), Some(2));
    }
}
