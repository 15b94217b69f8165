//! rpcx (`rpcx-etcd`'s `EtcdV3RegisterPlugin`): key
//! `<base path>/<service>/<network>@<address>`, e.g.
//! `/rpcx_test/Arith/tcp@10.0.0.5:8972`, under a lease the plugin keeps alive;
//! the value is the service's metadata as a URL query, e.g.
//! `group=test&state=active&tps=12` (often empty). The base path is the
//! operator's choice, so the key is recognised by its last segment, a network
//! name, `@` and an address.

use std::collections::BTreeMap;

use app::model::{Instance, Layout};

use super::{instance, Parsed};
use crate::registry::mirror::KeyValue;
use crate::registry::text::{host_port, percent_decode, query_pairs};

/// The networks rpcx servers listen on (`server.Serve(network, address)`).
const NETWORKS: &[&str] = &[
    "tcp",
    "tcp4",
    "tcp6",
    "http",
    "ws",
    "wss",
    "quic",
    "kcp",
    "reuseport",
    "unix",
    "memu",
    "utp",
    "rdma",
];

#[derive(Debug, Clone, Copy, Default)]
pub struct Rpcx;

impl Rpcx {
    pub fn classify(&self, kv: &KeyValue) -> Option<Instance> {
        if !kv.key.contains(&b'@') {
            return None;
        }
        let key = std::str::from_utf8(&kv.key).ok()?;
        // The node is `<network>@<address>`; a unix socket's address has slashes of its own.
        let at = key.rfind('@')?;
        let (rest, network) = key[..at].rsplit_once('/')?;
        let address = &key[at + 1..];
        if !NETWORKS.contains(&network) {
            return None;
        }
        let (base, service) = rest.rsplit_once('/').unwrap_or(("", rest));
        // A unix socket path has no port; everything else must be host:port.
        let endpoint = if network == "unix" {
            (!address.is_empty()).then(|| address.to_owned())?
        } else {
            host_port(address).filter(|a| a == address)?
        };
        if service.is_empty() {
            return None;
        }
        let parsed = parse(&kv.value, network, &endpoint, base);
        Some(instance(kv, service.to_owned(), Layout::Rpcx, parsed))
    }
}

fn parse(value: &[u8], network: &str, address: &str, base: &str) -> Result<Parsed, String> {
    let query = std::str::from_utf8(value).map_err(|_| "rpcx metadata is not text".to_owned())?;
    let mut metadata = BTreeMap::new();
    for (name, text) in query_pairs(query.trim()) {
        let broken = |e: String| format!("rpcx metadata {name:?}={text:?}: {e}");
        let name = percent_decode(name).map_err(broken)?;
        let text = percent_decode(text).map_err(broken)?;
        metadata.insert(name, text);
    }
    metadata.insert("network".to_owned(), network.to_owned());
    if !base.is_empty() {
        metadata.insert("base_path".to_owned(), base.to_owned());
    }
    Ok(Parsed {
        endpoints: vec![format!("{network}@{address}")],
        address: Some(address.to_owned()),
        version: metadata.get("version").cloned(),
        metadata,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_the_etcd_register_plugin_writes() {
        let kv = KeyValue::sample("/rpcx_test/Arith/tcp@10.0.0.5:8972", "group=test&state=active&tps=12");
        let Some(i) = Rpcx.classify(&kv) else {
            panic!("not recognised")
        };
        assert_eq!(i.service, "Arith");
        assert_eq!(i.layout, Layout::Rpcx);
        assert_eq!(i.address.as_deref(), Some("10.0.0.5:8972"));
        assert_eq!(i.endpoints, ["tcp@10.0.0.5:8972"]);
        assert_eq!(i.metadata.get("group").map(String::as_str), Some("test"));
        assert_eq!(i.metadata.get("state").map(String::as_str), Some("active"));
        assert_eq!(i.metadata.get("base_path").map(String::as_str), Some("/rpcx_test"));
        assert!(i.error.is_none());
    }

    #[test]
    fn empty_metadata_deep_base_paths_and_other_networks() {
        let quic = Rpcx.classify(&KeyValue::sample("com/example/rpcx/Echo/quic@[fd00::1]:1234", ""));
        assert_eq!(quic.as_ref().map(|i| i.service.as_str()), Some("Echo"));
        assert_eq!(quic.as_ref().and_then(|i| i.address.as_deref()), Some("[fd00::1]:1234"));
        let unix = Rpcx.classify(&KeyValue::sample("/rpcx/Echo/unix@/run/echo.sock", "a%3Db=c+d"));
        assert_eq!(unix.as_ref().and_then(|i| i.address.as_deref()), Some("/run/echo.sock"));
        assert_eq!(
            unix.as_ref().and_then(|i| i.metadata.get("a=b")).map(String::as_str),
            Some("c d")
        );
    }

    #[test]
    fn other_keys_with_an_at_sign_are_not_rpcx() {
        for key in [
            "/users/alice@example.com",
            "/rpcx/Echo/smtp@10.0.0.1:25",
            "/rpcx/Echo/tcp@nowhere",
            "/rpcx/Echo/tcp@10.0.0.1:25/extra",
            "tcp@10.0.0.1:1",
        ] {
            assert!(Rpcx.classify(&KeyValue::sample(key, "")).is_none(), "{key}");
        }
    }

    #[test]
    fn broken_metadata_is_kept_with_an_error() {
        let i = Rpcx.classify(&KeyValue::sample("/rpcx/Echo/tcp@10.0.0.1:1", "state=%zz"));
        assert!(i.is_some_and(|i| i.error.is_some() && i.address.is_none() && i.value == "state=%zz"));
    }
}
