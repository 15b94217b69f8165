//! gRPC-go naming through etcd (`go.etcd.io/etcd/client/v3/naming/endpoints`,
//! the `endpoints.Manager`): key `<target>/<addr>`, value JSON
//! `{"Op":0,"Addr":"host:port","Metadata":...}`. No fixed prefix: recognised by
//! the value's shape (a JSON object with `Addr`) and a key ending in that address.

use app::model::{Instance, Layout};
use serde::Deserialize;

use super::{instance, metadata_of, Miss, Parsed};
use crate::registry::mirror::KeyValue;

#[derive(Deserialize)]
struct Update {
    #[serde(rename = "Addr")]
    addr: String,
    #[serde(rename = "Metadata", default)]
    metadata: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct Grpc;

impl Grpc {
    pub fn classify(&self, kv: &KeyValue) -> Option<Instance> {
        self.probe(kv).ok()
    }

    pub fn probe(&self, kv: &KeyValue) -> Result<Instance, Miss> {
        // Cheap shape check before parsing: values of other layouts rarely say "Addr".
        if !kv.value.windows(6).any(|w| w == b"\"Addr\"") {
            return Err(Miss::No);
        }
        let update: Update = serde_json::from_slice(&kv.value)
            .map_err(|_| Miss::Near("the value names \"Addr\" but is not {\"Op\",\"Addr\",\"Metadata\"} JSON"))?;
        let key = std::str::from_utf8(&kv.key).map_err(|_| Miss::Near("the key is not text"))?;
        let target = key
            .strip_suffix(update.addr.as_str())
            .and_then(|k| k.strip_suffix('/'))
            .ok_or(Miss::Near("the key does not end in /<Addr>"))?;
        if target.is_empty() || update.addr.is_empty() {
            return Err(Miss::Near("an empty target or Addr"));
        }
        let parsed = Parsed::single(update.addr, metadata_of(update.metadata.as_ref()));
        Ok(instance(kv, target.to_owned(), Layout::Grpc, Ok(parsed)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_the_endpoints_manager_writes() {
        // Metadata is often null; the target itself may contain slashes.
        let kv = KeyValue::sample(
            "foo/bar/my-service/10.0.0.5:50051",
            r#"{"Op":0,"Addr":"10.0.0.5:50051","Metadata":null}"#,
        );
        let Some(i) = Grpc.classify(&kv) else {
            panic!("not recognised")
        };
        assert_eq!(i.service, "foo/bar/my-service");
        assert_eq!(i.layout, Layout::Grpc);
        assert_eq!(i.address.as_deref(), Some("10.0.0.5:50051"));
        assert!(i.metadata.is_empty());

        let with_meta = Grpc.classify(&KeyValue::sample(
            "svc/10.0.0.6:1",
            r#"{"Op":0,"Addr":"10.0.0.6:1","Metadata":{"zone":"b"}}"#,
        ));
        assert_eq!(
            with_meta.and_then(|i| i.metadata.get("zone").cloned()).as_deref(),
            Some("b")
        );
    }

    #[test]
    fn other_json_is_not_grpc() {
        assert!(Grpc
            .classify(&KeyValue::sample("svc/10.0.0.6:1", r#"{"addr":"10.0.0.6:1"}"#))
            .is_none());
        // The key must end in the address it announces.
        assert!(Grpc
            .classify(&KeyValue::sample("svc/other", r#"{"Op":0,"Addr":"10.0.0.6:1"}"#))
            .is_none());
    }
}
