//! OpenStack tooz 9's etcd3 drivers (CLIENTS.md, tooz): group membership.
//! A member of group `<group>` is the key `tooz/groups/<group>/<member id>`
//! on its coordinator's membership lease, its value the member's
//! capabilities in msgpack (`{"host": ..., "port": ..., ...}` or nil). The
//! group's own key `tooz/groups/<group>/` (no member, no lease) is not a
//! member. tooz's locks are in `coordination.rs`.

use std::collections::BTreeMap;

use app::model::{Instance, Layout};
use rmpv::Value;

use super::{instance, Parsed};
use crate::registry::mirror::KeyValue;
use crate::registry::text::{host_port, join_host_port};

const PREFIX: &[u8] = b"tooz/groups/";
/// Deep enough for any capabilities, shallow enough that a hostile value
/// cannot recurse far.
const MAX_DEPTH: usize = 16;

#[derive(Debug, Clone, Copy, Default)]
pub struct Tooz;

impl Tooz {
    pub fn classify(&self, kv: &KeyValue) -> Option<Instance> {
        let rest = kv.key.strip_prefix(PREFIX)?;
        let split = rest.iter().position(|&b| b == b'/')?;
        let (group, member) = (&rest[..split], &rest[split + 1..]);
        if group.is_empty() || member.is_empty() {
            return None;
        }
        let mut parsed = parse(&kv.value);
        if let Ok(parsed) = &mut parsed {
            let member = String::from_utf8_lossy(member).into_owned();
            parsed.metadata.insert("member".to_owned(), member);
        }
        Some(instance(
            kv,
            String::from_utf8_lossy(group).into_owned(),
            Layout::Tooz,
            parsed,
        ))
    }
}

fn parse(value: &[u8]) -> Result<Parsed, String> {
    let mut reader = value;
    let capabilities = rmpv::decode::read_value_with_max_depth(&mut reader, MAX_DEPTH)
        .map_err(|e| format!("capabilities are not msgpack: {e}"))?;
    if !reader.is_empty() {
        return Err(format!("{} bytes after the capabilities' msgpack", reader.len()));
    }
    let mut metadata = BTreeMap::new();
    let mut endpoints = Vec::new();
    match &capabilities {
        Value::Nil => {}
        Value::Map(entries) => {
            for (name, value) in entries {
                metadata.insert(text(name), text(value));
            }
            let field = |name: &str| metadata.get(name).map(String::as_str);
            let from_host = field("host").zip(field("port").and_then(|p| p.parse::<u16>().ok()));
            if let Some((host, port)) = from_host {
                endpoints.push(join_host_port(host, port));
            } else if let Some(address) = field("address").or(field("url")).and_then(host_port) {
                endpoints.push(address);
            }
        }
        other => {
            metadata.insert("capabilities".to_owned(), text(other));
        }
    }
    Ok(Parsed {
        address: endpoints.first().cloned(),
        endpoints,
        version: None,
        metadata,
    })
}

/// A decoded value as text: strings as they are, the rest as rmpv writes them.
fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.as_str().map_or_else(|| value.to_string(), str::to_owned),
        Value::Binary(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(key: &str, value: &[u8]) -> Option<Instance> {
        Tooz.classify(&KeyValue {
            value: value.to_vec(),
            ..KeyValue::sample(key, "").with_lease(5)
        })
    }

    /// `{"host":"10.0.0.1","port":8001,"weight":1}` as tooz 9.1 wrote it.
    const CAPABILITIES: &[u8] = &[
        0x83, 0xa4, b'h', b'o', b's', b't', 0xa8, b'1', b'0', b'.', b'0', b'.', b'0', b'.', b'1', 0xa4, b'p', b'o',
        b'r', b't', 0xcd, 0x1f, 0x41, 0xa6, b'w', b'e', b'i', b'g', b'h', b't', 0x01,
    ];

    #[test]
    fn members_are_instances_of_their_group() {
        let Some(m) = member("tooz/groups/g1/m1", CAPABILITIES) else {
            panic!("not recognised")
        };
        assert_eq!(m.service, "g1");
        assert_eq!(m.layout, Layout::Tooz);
        assert_eq!(m.address.as_deref(), Some("10.0.0.1:8001"));
        let meta = |name: &str| m.metadata.get(name).map(String::as_str);
        assert_eq!(meta("weight"), Some("1"));
        assert_eq!(meta("member"), Some("m1"));
        assert_eq!(m.error, None);
        assert!(m.value_base64.is_some(), "msgpack is kept as bytes");
    }

    #[test]
    fn no_capabilities_other_shapes_and_broken_values() {
        let none = member("tooz/groups/g1/m2", &[0xc0]);
        assert!(none.is_some_and(|m| m.error.is_none() && m.address.is_none()));
        let scalar = member("tooz/groups/g1/m3", &[0xa2, b'o', b'k']);
        assert_eq!(
            scalar.and_then(|m| m.metadata.get("capabilities").cloned()).as_deref(),
            Some("ok")
        );
        let truncated = member("tooz/groups/g1/m4", &CAPABILITIES[..10]);
        assert!(truncated.is_some_and(|m| m.error.is_some()));
        let trailing = member("tooz/groups/g1/m5", &[0xc0, 0xc0]);
        assert!(trailing.is_some_and(|m| m.error.is_some()));
        // The group's own key, and nothing under the prefix.
        assert!(member("tooz/groups/g1/", b"tooz/groups/g1/").is_none());
        assert!(member("tooz/groups/g1", b"x").is_none());
        // Nested too deep: refused, not followed.
        let deep = [0x91; 64];
        assert!(member("tooz/groups/g1/m6", &deep).is_some_and(|m| m.error.is_some()));
    }
}
