//! Moleculer 0.14's Etcd3 discoverer (CLIENTS.md, Moleculer). Under
//! `moleculer/discovery/` (`moleculer-<namespace>/discovery/` in a
//! namespace) each node keeps two keys, each on a lease of its own:
//!
//! - `info/<node id>`: the JSON INFO packet, listing every service the node
//!   runs (`services[]`: `name`, `version`, `fullName`, `metadata`,
//!   `actions`) with the node's `ipList`, `hostname`, `port`, `instanceID`
//!   and `client`. One key, so one instance per service it lists, each in
//!   the service Moleculer calls it by (`fullName`, such as `v2.greeter`),
//!   `$node` (the internal service every node runs) included, so that a
//!   node without services of its own is still seen.
//! - `beats/<node id>/<instanceID's first 8>/<seq>`: the heartbeat, re-put
//!   every `heartbeatInterval` on a lease of `heartbeatTimeout`. It is the
//!   node's liveness: other nodes drop a node whose beat key is gone, though
//!   its INFO key lives on (its lease is 60 s). A beat is never a service:
//!   the index joins it to its node's instances as their TTL
//!   ([`NodeKey`]).
//!
//! A namespace's services are named `<namespace>/<fullName>`: two
//! namespaces are two clusters that never see each other.

use std::collections::BTreeMap;

use app::model::{Instance, Layout};
use serde::Deserialize;
use serde_json::Value;

use super::{instance, metadata_of, Parsed};
use crate::registry::mirror::KeyValue;
use crate::registry::text::join_host_port;

const ROOT: &str = "moleculer";
const DISCOVERY: &str = "/discovery/";
/// The service every Moleculer node runs, and the one an INFO that cannot
/// be read is shown in.
const NODE_SERVICE: &str = "$node";

/// A node's identity: its discovery prefix and node id, shared by its INFO
/// key and its beat keys.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeKey {
    /// `moleculer/discovery` or `moleculer-<namespace>/discovery`.
    pub prefix: String,
    pub node: String,
}

/// What a key under a discovery prefix is.
#[derive(Debug, PartialEq, Eq)]
pub enum Role {
    Info,
    Beat,
}

/// `(role, node, namespace)` for Moleculer's keys.
pub fn key_role(key: &[u8]) -> Option<(Role, NodeKey, Option<&str>)> {
    let key = std::str::from_utf8(key).ok()?;
    let rest = key.strip_prefix(ROOT)?;
    let (namespace, rest) = match rest.strip_prefix('-') {
        Some(named) => {
            let (namespace, rest) = named.split_once('/')?;
            if namespace.is_empty() {
                return None;
            }
            (Some(namespace), rest)
        }
        None => (None, rest.strip_prefix('/')?),
    };
    let rest = rest.strip_prefix(&DISCOVERY[1..])?;
    let prefix = key[..key.len() - rest.len() - 1].to_owned();
    if let Some(node) = rest.strip_prefix("info/") {
        return (!node.is_empty()).then(|| {
            let node = node.to_owned();
            (Role::Info, NodeKey { prefix, node }, namespace)
        });
    }
    // beats/<node>/<instance>/<seq>, read as Moleculer reads it.
    let beat = rest.strip_prefix("beats/")?;
    let mut parts = beat.split('/');
    let (node, instance, seq) = (parts.next()?, parts.next()?, parts.next()?);
    if node.is_empty() || instance.is_empty() || seq.parse::<u64>().is_err() || parts.next().is_some() {
        return None;
    }
    let node = node.to_owned();
    Some((Role::Beat, NodeKey { prefix, node }, namespace))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Info {
    #[serde(default)]
    ip_list: Vec<String>,
    #[serde(default)]
    hostname: Option<String>,
    #[serde(default)]
    port: Option<u16>,
    #[serde(default, rename = "instanceID")]
    instance_id: Option<String>,
    #[serde(default)]
    client: Option<Client>,
    #[serde(default)]
    metadata: Option<Value>,
    #[serde(default)]
    services: Vec<Service>,
}

#[derive(Deserialize)]
struct Client {
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    version: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Service {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    version: Option<Value>,
    #[serde(default)]
    full_name: Option<String>,
    #[serde(default)]
    metadata: Option<Value>,
    #[serde(default)]
    actions: Option<serde_json::Map<String, Value>>,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct Moleculer;

impl Moleculer {
    /// The instances a node's INFO key stands for, one per service it lists;
    /// `None` for any other key (beats included).
    pub fn classify(&self, kv: &KeyValue) -> Option<Vec<Instance>> {
        let (role, node, namespace) = key_role(&kv.key)?;
        if role != Role::Info {
            return None;
        }
        let qualify = |name: &str| match namespace {
            Some(namespace) => format!("{namespace}/{name}"),
            None => name.to_owned(),
        };
        let info: Info = match serde_json::from_slice(&kv.value) {
            Ok(info) => info,
            Err(e) => {
                let error = Err(format!("not a Moleculer INFO packet (JSON): {e}"));
                return Some(vec![instance(kv, qualify(NODE_SERVICE), Layout::Moleculer, error)]);
            }
        };
        let mut node_metadata = metadata_of(info.metadata.as_ref());
        node_metadata.insert("node".to_owned(), node.node.clone());
        if let Some(namespace) = namespace {
            node_metadata.insert("namespace".to_owned(), namespace.to_owned());
        }
        if let Some(hostname) = info.hostname.filter(|h| !h.is_empty()) {
            node_metadata.insert("hostname".to_owned(), hostname);
        }
        if let Some(id) = info.instance_id.filter(|i| !i.is_empty()) {
            node_metadata.insert("instance_id".to_owned(), id);
        }
        if let Some(client) = info.client {
            let text = [client.kind, client.version]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" ");
            if !text.is_empty() {
                node_metadata.insert("client".to_owned(), text);
            }
        }
        // With the TCP transporter the port is its listener; other
        // transporters (NATS, Redis, ...) leave it null: the IPs alone.
        let endpoints: Vec<String> = match info.port {
            Some(port) => info.ip_list.iter().map(|ip| join_host_port(ip, port)).collect(),
            None => info.ip_list.clone(),
        };
        let address = info
            .port
            .and_then(|port| info.ip_list.first().map(|ip| join_host_port(ip, port)));
        let mut seen = std::collections::BTreeSet::new();
        let mut out = Vec::new();
        for service in info.services {
            let Some(full_name) = service.full_name.or(service.name).filter(|n| !n.is_empty()) else {
                continue;
            };
            // A service listed twice is shown once: its instance is the key.
            if !seen.insert(full_name.clone()) {
                continue;
            }
            let mut metadata: BTreeMap<String, String> = metadata_of(service.metadata.as_ref());
            metadata.extend(node_metadata.clone());
            if let Some(actions) = service.actions.filter(|a| !a.is_empty()) {
                let names: Vec<&str> = actions.keys().map(String::as_str).collect();
                metadata.insert("actions".to_owned(), names.join(", "));
            }
            let parsed = Parsed {
                endpoints: endpoints.clone(),
                address: address.clone(),
                version: service.version.as_ref().and_then(version_text),
                metadata,
            };
            out.push(instance(kv, qualify(&full_name), Layout::Moleculer, Ok(parsed)));
        }
        if out.is_empty() {
            let error = Err("a Moleculer INFO packet listing no service, not even $node".to_owned());
            out.push(instance(kv, qualify(NODE_SERVICE), Layout::Moleculer, error));
        }
        Some(out)
    }
}

/// A service's version as Moleculer names it: the number 2 or the string "2".
fn version_text(version: &Value) -> Option<String> {
    match version {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An INFO packet as moleculer 0.14.36 wrote it (trimmed: `config`, `seq`
    /// and the `$node` actions but one).
    const INFO: &str = r#"{"ver":"4","sender":"node-a","ipList":["192.0.2.2","198.51.100.7"],"hostname":"box","instanceID":"866c8d10-25cf-40b6-a61b-2d750b41ed46","client":{"type":"nodejs","version":"0.14.36","langVersion":"v20.20.2"},"config":{},"port":null,"seq":2,"metadata":{},"services":[{"name":"$node","fullName":"$node","settings":{},"metadata":{},"actions":{"$node.list":{"rawName":"list","name":"$node.list"}},"events":{}},{"name":"greeter","version":2,"fullName":"v2.greeter","settings":{},"metadata":{"team":"a"},"actions":{"v2.greeter.hello":{"rawName":"hello","name":"v2.greeter.hello"}},"events":{}}]}"#;

    #[test]
    fn a_node_is_an_instance_of_every_service_it_lists() {
        let kv = KeyValue::sample("moleculer/discovery/info/node-a", INFO).with_lease(7);
        let Some(instances) = Moleculer.classify(&kv) else {
            panic!("not recognised")
        };
        let services: Vec<&str> = instances.iter().map(|i| i.service.as_str()).collect();
        assert_eq!(services, ["$node", "v2.greeter"]);
        let greeter = &instances[1];
        assert_eq!(greeter.layout, Layout::Moleculer);
        assert_eq!(greeter.id, "moleculer/discovery/info/node-a");
        assert_eq!(greeter.version.as_deref(), Some("2"));
        assert_eq!(greeter.address, None, "no port with a brokered transporter");
        assert_eq!(greeter.endpoints, ["192.0.2.2", "198.51.100.7"]);
        let meta = |name: &str| greeter.metadata.get(name).map(String::as_str);
        assert_eq!(meta("node"), Some("node-a"));
        assert_eq!(meta("hostname"), Some("box"));
        assert_eq!(meta("client"), Some("nodejs 0.14.36"));
        assert_eq!(meta("team"), Some("a"));
        assert_eq!(meta("actions"), Some("v2.greeter.hello"));
        assert_eq!(meta("namespace"), None);
        assert_eq!(greeter.error, None);
    }

    #[test]
    fn a_tcp_port_makes_the_address_and_a_namespace_names_the_services() {
        let info = INFO.replace(r#""port":null"#, r#""port":40123"#);
        let kv = KeyValue::sample("moleculer-dev/discovery/info/node-a", &info);
        let instances = Moleculer.classify(&kv).unwrap_or_default();
        let greeter = instances.iter().find(|i| i.service == "dev/v2.greeter");
        let Some(greeter) = greeter else {
            panic!("{instances:?}")
        };
        assert_eq!(greeter.address.as_deref(), Some("192.0.2.2:40123"));
        assert_eq!(greeter.metadata.get("namespace").map(String::as_str), Some("dev"));
    }

    #[test]
    fn beats_are_told_apart_and_never_instances() {
        let beat = b"moleculer-dev/discovery/beats/node-a/866c8d10/4";
        let Some((role, node, namespace)) = key_role(beat) else {
            panic!("not a beat")
        };
        assert_eq!(role, Role::Beat);
        assert_eq!(node.prefix, "moleculer-dev/discovery");
        assert_eq!(node.node, "node-a");
        assert_eq!(namespace, Some("dev"));
        assert_eq!(
            key_role(b"moleculer/discovery/info/node-a").map(|(r, n, _)| (r, n)),
            Some((Role::Info, node_key("moleculer/discovery", "node-a")))
        );
        assert!(Moleculer
            .classify(&KeyValue::sample("moleculer/discovery/beats/node-a/866c8d10/4", "{}"))
            .is_none());
        // Not Moleculer's shapes.
        for key in [
            "moleculer/discovery/beats/node-a/866c8d10",
            "moleculer/discovery/beats/node-a/866c8d10/x",
            "moleculer/discovery/info/",
            "moleculer-/discovery/info/a",
            "moleculerx/discovery/info/a",
            "moleculer/other/info/a",
        ] {
            assert!(key_role(key.as_bytes()).is_none(), "{key}");
        }
    }

    fn node_key(prefix: &str, node: &str) -> NodeKey {
        NodeKey {
            prefix: prefix.to_owned(),
            node: node.to_owned(),
        }
    }

    #[test]
    fn an_info_that_cannot_be_read_is_kept() {
        let kv = KeyValue::sample("moleculer/discovery/info/node-b", "\u{93}msgpack");
        let instances = Moleculer.classify(&kv).unwrap_or_default();
        assert_eq!(instances.len(), 1);
        assert_eq!(instances[0].service, "$node");
        assert!(instances[0].error.is_some());
        let empty = KeyValue::sample("moleculer/discovery/info/node-b", r#"{"services":[]}"#);
        let instances = Moleculer.classify(&empty).unwrap_or_default();
        assert!(instances.len() == 1 && instances[0].error.is_some());
    }
}
