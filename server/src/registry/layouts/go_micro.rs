//! go-micro (`registry/etcd`): key `/micro/registry/<service>/<node id>`
//! (slashes in names replaced by `-`), value the JSON of a registry `Service`
//! holding the one node the key is for:
//! `{"name","version","metadata":{..},"endpoints":[..],"nodes":[{"id","address","metadata":{..}}]}`.

use app::model::{Instance, Layout};
use serde::Deserialize;

use super::{instance, metadata_of, Parsed};
use crate::registry::mirror::KeyValue;

const PREFIX: &[u8] = b"/micro/registry/";

#[derive(Deserialize)]
struct Service {
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    metadata: Option<serde_json::Value>,
    #[serde(default)]
    nodes: Option<Vec<Node>>,
}

#[derive(Deserialize)]
struct Node {
    #[serde(default)]
    id: String,
    #[serde(default)]
    address: String,
    #[serde(default)]
    metadata: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct GoMicro;

impl GoMicro {
    pub fn classify(&self, kv: &KeyValue) -> Option<Instance> {
        let rest = kv.key.strip_prefix(PREFIX)?;
        let split = rest.iter().position(|&b| b == b'/')?;
        let (service, node) = (&rest[..split], &rest[split + 1..]);
        if service.is_empty() || node.is_empty() {
            return None;
        }
        let node = String::from_utf8_lossy(node).into_owned();
        let parsed = parse(&kv.value, &node);
        Some(instance(
            kv,
            String::from_utf8_lossy(service).into_owned(),
            Layout::GoMicro,
            parsed,
        ))
    }
}

fn parse(value: &[u8], node_id: &str) -> Result<Parsed, String> {
    let service: Service = serde_json::from_slice(value).map_err(|e| format!("not a go-micro service (JSON): {e}"))?;
    let nodes = service.nodes.unwrap_or_default();
    // The key names the node; older writers may hold several.
    let node = nodes
        .iter()
        .find(|n| n.id == node_id)
        .or_else(|| nodes.first())
        .ok_or_else(|| "a go-micro service without nodes".to_owned())?;
    if node.address.is_empty() {
        return Err("a go-micro node without an address".to_owned());
    }
    let mut metadata = metadata_of(service.metadata.as_ref());
    metadata.extend(metadata_of(node.metadata.as_ref()));
    Ok(Parsed {
        address: Some(node.address.clone()),
        endpoints: nodes
            .iter()
            .map(|n| n.address.clone())
            .filter(|a| !a.is_empty())
            .collect(),
        version: service.version.filter(|v| !v.is_empty()),
        metadata,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_go_micro_writes() {
        // As go-micro v4 marshals it: nested node, null endpoints allowed.
        let value = r#"{"name":"greeter","version":"latest","metadata":{"owner":"team-a"},"endpoints":null,"nodes":[{"id":"greeter-5f1c","address":"10.1.2.3:38201","metadata":{"broker":"http","protocol":"mucp","registry":"etcd","server":"mucp","transport":"http"}}]}"#;
        let kv = KeyValue::sample("/micro/registry/greeter/greeter-5f1c", value).with_lease(7);
        let Some(i) = GoMicro.classify(&kv) else {
            panic!("not recognised")
        };
        assert_eq!(i.service, "greeter");
        assert_eq!(i.layout, Layout::GoMicro);
        assert_eq!(i.address.as_deref(), Some("10.1.2.3:38201"));
        assert_eq!(i.version.as_deref(), Some("latest"));
        assert_eq!(i.metadata.get("protocol").map(String::as_str), Some("mucp"));
        assert_eq!(i.metadata.get("owner").map(String::as_str), Some("team-a"));
        assert_eq!(i.error, None);
    }

    #[test]
    fn the_node_named_by_the_key_is_the_one_shown() {
        let value = r#"{"name":"s","nodes":[{"id":"a","address":"10.0.0.1:1"},{"id":"b","address":"10.0.0.2:2"}]}"#;
        let i = GoMicro.classify(&KeyValue::sample("/micro/registry/s/b", value));
        assert_eq!(i.and_then(|i| i.address).as_deref(), Some("10.0.0.2:2"));
    }

    #[test]
    fn broken_values_are_kept() {
        let no_nodes = GoMicro.classify(&KeyValue::sample("/micro/registry/s/a", r#"{"name":"s","nodes":[]}"#));
        assert!(no_nodes.is_some_and(|i| i.error.is_some() && i.address.is_none()));
        let garbage = GoMicro.classify(&KeyValue::sample("/micro/registry/s/a", "garbage"));
        assert!(garbage.is_some_and(|i| i.error.is_some() && i.value == "garbage"));
        assert!(GoMicro
            .classify(&KeyValue::sample("/micro/registry/only", "{}"))
            .is_none());
    }
}
