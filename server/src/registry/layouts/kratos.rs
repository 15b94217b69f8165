//! Kratos (`contrib/registry/etcd`): key `/microservices/<service>/<id>`, value
//! JSON `{"id","name","version","metadata":{..},"endpoints":["grpc://h:p?isSecure=false",..]}`.

use app::model::{Instance, Layout};
use serde::Deserialize;

use super::{instance, metadata_of, Parsed};
use crate::registry::mirror::KeyValue;

const PREFIX: &[u8] = b"/microservices/";

#[derive(Debug, Clone, Copy, Default)]
pub struct Kratos;

#[derive(Deserialize)]
struct Value {
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    metadata: Option<serde_json::Value>,
    #[serde(default)]
    endpoints: Vec<String>,
}

impl Kratos {
    pub fn classify(&self, kv: &KeyValue) -> Option<Instance> {
        let rest = kv.key.strip_prefix(PREFIX)?;
        let split = rest.iter().position(|&b| b == b'/')?;
        let (service, id) = (&rest[..split], &rest[split + 1..]);
        if service.is_empty() || id.is_empty() {
            return None;
        }
        let service = String::from_utf8_lossy(service).into_owned();
        Some(instance(kv, service, Layout::Kratos, parse(&kv.value)))
    }
}

fn parse(value: &[u8]) -> Result<Parsed, String> {
    let value: Value =
        serde_json::from_slice(value).map_err(|e| format!("not a Kratos service instance (JSON): {e}"))?;
    if value.endpoints.is_empty() {
        return Err("a Kratos instance without endpoints".to_owned());
    }
    Ok(Parsed {
        address: None,
        version: value.version.filter(|v| !v.is_empty()),
        metadata: metadata_of(value.metadata.as_ref()),
        endpoints: value.endpoints,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(key: &str, value: &str) -> KeyValue {
        KeyValue::sample(key, value).at(5).with_lease(0x694d8b0ee8ec6c0a)
    }

    #[test]
    fn reads_what_kratos_writes() {
        let value = r#"{"id":"host-1","name":"helloworld","version":"v1.2.0","metadata":{"region":"eu","weight":"10"},"endpoints":["grpc://10.0.0.7:9000?isSecure=false","http://10.0.0.7:8000?isSecure=false"]}"#;
        let Some(instance) = Kratos.classify(&kv("/microservices/helloworld/host-1", value)) else {
            panic!("not recognised");
        };
        assert_eq!(instance.service, "helloworld");
        assert_eq!(instance.layout, Layout::Kratos);
        assert_eq!(instance.address.as_deref(), Some("10.0.0.7:9000"));
        assert_eq!(instance.endpoints.len(), 2);
        assert_eq!(instance.version.as_deref(), Some("v1.2.0"));
        assert_eq!(instance.metadata.get("region").map(String::as_str), Some("eu"));
        assert_eq!(
            instance.lease.map(|l| l.to_string()).as_deref(),
            Some("694d8b0ee8ec6c0a")
        );
        assert_eq!(instance.error, None);
        assert_eq!(instance.value, value);
    }

    #[test]
    fn a_broken_value_is_kept_with_an_error() {
        let Some(instance) = Kratos.classify(&kv("/microservices/api/x", "{not json")) else {
            panic!("not recognised");
        };
        assert_eq!(instance.service, "api");
        assert_eq!(instance.address, None);
        assert!(instance.error.is_some());
        assert_eq!(instance.value, "{not json");
    }

    #[test]
    fn other_keys_are_not_kratos() {
        assert!(Kratos.classify(&kv("/microservices/only-service", "{}")).is_none());
        assert!(Kratos.classify(&kv("/micro/registry/a/b", "{}")).is_none());
    }
}
