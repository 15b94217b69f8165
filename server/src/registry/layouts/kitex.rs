//! Kitex (`kitex-contrib/registry-etcd`): key
//! `kitex/registry-etcd/<service>/<host:port>`, value JSON
//! `{"network":"tcp","address":"host:port","weight":10,"tags":{..}}`.

use app::model::{Instance, Layout};
use serde::Deserialize;

use super::{instance, metadata_of, Parsed};
use crate::registry::mirror::KeyValue;
use crate::registry::text::host_port;

const PREFIX: &[u8] = b"kitex/registry-etcd/";

#[derive(Deserialize)]
struct Info {
    #[serde(default)]
    network: Option<String>,
    #[serde(default)]
    address: String,
    #[serde(default)]
    weight: Option<i64>,
    #[serde(default)]
    tags: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct Kitex;

impl Kitex {
    pub fn classify(&self, kv: &KeyValue) -> Option<Instance> {
        let rest = kv.key.strip_prefix(PREFIX)?;
        let split = rest.iter().position(|&b| b == b'/')?;
        let (service, address) = (&rest[..split], &rest[split + 1..]);
        if service.is_empty() || address.is_empty() {
            return None;
        }
        let service = String::from_utf8_lossy(service).into_owned();
        Some(instance(kv, service, Layout::Kitex, parse(&kv.value)))
    }
}

fn parse(value: &[u8]) -> Result<Parsed, String> {
    let info: Info = serde_json::from_slice(value).map_err(|e| format!("not a Kitex instance (JSON): {e}"))?;
    let address = host_port(&info.address).ok_or_else(|| format!("address {:?} is not host:port", info.address))?;
    let mut metadata = metadata_of(info.tags.as_ref());
    if let Some(weight) = info.weight {
        metadata.insert("weight".to_owned(), weight.to_string());
    }
    if let Some(network) = info.network.filter(|n| !n.is_empty()) {
        metadata.insert("network".to_owned(), network);
    }
    Ok(Parsed::single(address, metadata))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_kitex_writes() {
        let value =
            r#"{"network":"tcp","address":"10.3.0.4:8888","weight":10,"tags":{"cluster":"default","env":"prod"}}"#;
        let kv = KeyValue::sample("kitex/registry-etcd/echo/10.3.0.4:8888", value);
        let Some(i) = Kitex.classify(&kv) else {
            panic!("not recognised")
        };
        assert_eq!(i.service, "echo");
        assert_eq!(i.layout, Layout::Kitex);
        assert_eq!(i.address.as_deref(), Some("10.3.0.4:8888"));
        assert_eq!(i.metadata.get("env").map(String::as_str), Some("prod"));
        assert_eq!(i.metadata.get("weight").map(String::as_str), Some("10"));
        assert_eq!(i.metadata.get("network").map(String::as_str), Some("tcp"));
    }

    #[test]
    fn broken_values_are_kept() {
        let i = Kitex.classify(&KeyValue::sample(
            "kitex/registry-etcd/echo/x",
            r#"{"address":"nowhere"}"#,
        ));
        assert!(i.is_some_and(|i| i.error.is_some() && i.address.is_none()));
        assert!(Kitex
            .classify(&KeyValue::sample("kitex/registry-etcd/echo", "{}"))
            .is_none());
    }
}
