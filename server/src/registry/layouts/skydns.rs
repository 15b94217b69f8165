//! CoreDNS's `etcd` plugin and SkyDNS before it: key `/skydns/<domain labels
//! reversed>`, value the JSON of a SkyDNS `msg.Service` with lowercase fields
//! `{"host","port","priority","weight","text","mail","ttl","targetstrip","group"}`.
//!
//! Several records answer for one name when they sit one level below it:
//! `/skydns/local/skydns/x1` and `/skydns/local/skydns/x2` both answer
//! `skydns.local`, so the last label is the instance and the labels before it,
//! reversed, are the service (docs/api.md, "Instance"). A key with a single
//! label is its own service.

use std::collections::BTreeMap;

use app::model::{Instance, Layout};
use serde::Deserialize;

use super::{instance, Parsed};
use crate::registry::mirror::KeyValue;
use crate::registry::text::join_host_port;

const PREFIX: &[u8] = b"/skydns/";

#[derive(Deserialize)]
struct Record {
    #[serde(default)]
    host: String,
    #[serde(default)]
    port: Option<u16>,
    #[serde(default)]
    priority: Option<i64>,
    #[serde(default)]
    weight: Option<i64>,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    mail: Option<bool>,
    #[serde(default)]
    ttl: Option<u32>,
    #[serde(default)]
    targetstrip: Option<i64>,
    #[serde(default)]
    group: Option<String>,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct Skydns;

impl Skydns {
    pub fn classify(&self, kv: &KeyValue) -> Option<Instance> {
        let rest = kv.key.strip_prefix(PREFIX)?;
        let rest = String::from_utf8_lossy(rest);
        let labels: Vec<&str> = rest.split('/').filter(|l| !l.is_empty()).collect();
        let service = match labels.split_last()? {
            (only, []) => (*only).to_owned(),
            (_, name) => name.iter().rev().copied().collect::<Vec<_>>().join("."),
        };
        Some(instance(kv, service, Layout::Skydns, parse(&kv.value)))
    }
}

fn parse(value: &[u8]) -> Result<Parsed, String> {
    let record: Record = serde_json::from_slice(value).map_err(|e| format!("not a SkyDNS record (JSON): {e}"))?;
    if record.host.is_empty() {
        return Err("a SkyDNS record without a host".to_owned());
    }
    // An A/AAAA or CNAME record has no port: its host is the whole address.
    let address = match record.port {
        Some(port) if port > 0 => join_host_port(&record.host, port),
        _ => record.host.clone(),
    };
    let mut metadata = BTreeMap::new();
    let numbers = [
        ("priority", record.priority),
        ("weight", record.weight),
        ("ttl", record.ttl.map(i64::from)),
        ("targetstrip", record.targetstrip),
    ];
    for (name, number) in numbers {
        if let Some(number) = number {
            metadata.insert(name.to_owned(), number.to_string());
        }
    }
    for (name, text) in [("text", record.text), ("group", record.group)] {
        if let Some(text) = text.filter(|t| !t.is_empty()) {
            metadata.insert(name.to_owned(), text);
        }
    }
    if record.mail == Some(true) {
        metadata.insert("mail".to_owned(), "true".to_owned());
    }
    Ok(Parsed::single(address, metadata))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_coredns_serves() {
        let kv = KeyValue::sample(
            "/skydns/local/skydns/x1",
            r#"{"host":"10.0.0.1","port":8080,"priority":10,"weight":20,"ttl":30,"targetstrip":0}"#,
        );
        let Some(i) = Skydns.classify(&kv) else {
            panic!("not recognised")
        };
        assert_eq!(i.service, "skydns.local");
        assert_eq!(i.id, "/skydns/local/skydns/x1");
        assert_eq!(i.layout, Layout::Skydns);
        assert_eq!(i.address.as_deref(), Some("10.0.0.1:8080"));
        assert_eq!(i.metadata.get("priority").map(String::as_str), Some("10"));
        assert_eq!(i.metadata.get("ttl").map(String::as_str), Some("30"));
        assert!(i.error.is_none());
    }

    #[test]
    fn deep_names_and_records_without_a_port() {
        let i = Skydns.classify(&KeyValue::sample(
            "/skydns/com/example/prod/db/replica-2",
            r#"{"host":"fd00::2","port":5432,"text":"replica"}"#,
        ));
        assert_eq!(i.as_ref().map(|i| i.service.as_str()), Some("db.prod.example.com"));
        assert_eq!(i.as_ref().and_then(|i| i.address.as_deref()), Some("[fd00::2]:5432"));
        let a_record = Skydns.classify(&KeyValue::sample("/skydns/local/dns/ns1", r#"{"host":"10.0.0.53"}"#));
        assert_eq!(a_record.and_then(|i| i.address), Some("10.0.0.53".to_owned()));
        let single = Skydns.classify(&KeyValue::sample("/skydns/local", r#"{"host":"10.0.0.9"}"#));
        assert_eq!(single.map(|i| i.service), Some("local".to_owned()));
    }

    #[test]
    fn broken_records_are_kept() {
        for value in ["10.0.0.1", r#"{"port":53}"#, r#"{"host":"a","port":"53"}"#] {
            let i = Skydns.classify(&KeyValue::sample("/skydns/local/x/y", value));
            assert!(i.is_some_and(|i| i.error.is_some() && i.address.is_none()), "{value}");
        }
        assert!(Skydns.classify(&KeyValue::sample("/skydns/", "{}")).is_none());
        assert!(Skydns.classify(&KeyValue::sample("/skydnsx/a/b", "{}")).is_none());
    }
}
