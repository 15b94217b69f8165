//! Patroni 4's etcd3 DCS (CLIENTS.md, Patroni). A PostgreSQL cluster of
//! scope `<scope>` lives under `/service/<scope>/` (with Citus, each group
//! under `/service/<scope>/<group>/`):
//!
//! - `members/<name>`: each node's JSON (`conn_url`, `api_url`, `state`,
//!   `role`, `version`, `xlog_location`, `timeline`, and on replicas
//!   `replay_lsn`, `receive_lsn`, `replication_state`) on the node's lease:
//!   an instance of the service `<scope>` (`<scope>/<group>` with Citus).
//! - `leader`: the leader's name on the leader's lease, an election held by
//!   one key (`coordination.rs`); the member it names is the leader.
//! - `status`: `{"optime": <the leader's WAL position>}`, rewritten every
//!   loop, no lease: what each replica's lag is measured from, as
//!   `patronictl list` does ([`lag`]).
//!
//! The rest (`initialize`, `config`, `history`, `sync`, `failover`) stay
//! plain keys.

use std::collections::BTreeMap;

use app::model::{Instance, Layout};
use serde_json::Value;

use super::{instance, metadata_of, Parsed};
use crate::registry::coordination::PATRONI_PREFIX;
use crate::registry::mirror::KeyValue;
use crate::registry::text::host_port;

/// What a key of a Patroni cluster is.
#[derive(Debug, PartialEq, Eq)]
pub enum Part<'k> {
    Member(&'k str),
    Leader,
    Status,
}

/// `(cluster, part)` for a Patroni key: the cluster is the scope, or
/// `<scope>/<group>` with Citus, which is also the members' service.
pub fn key_part(key: &[u8]) -> Option<(&str, Part<'_>)> {
    let key = std::str::from_utf8(key).ok()?;
    let rest = key.strip_prefix(std::str::from_utf8(PATRONI_PREFIX).ok()?)?;
    let (cluster, part) = if let Some((cluster, name)) = rest.rsplit_once("/members/") {
        (cluster, Part::Member(name).valid()?)
    } else if let Some(cluster) = rest.strip_suffix("/leader") {
        (cluster, Part::Leader)
    } else {
        (rest.strip_suffix("/status")?, Part::Status)
    };
    let segments = cluster.split('/').count();
    (segments <= 2 && cluster.split('/').all(|s| !s.is_empty())).then_some((cluster, part))
}

impl Part<'_> {
    fn valid(self) -> Option<Self> {
        match self {
            Part::Member(name) if name.is_empty() || name.contains('/') => None,
            part => Some(part),
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub struct Patroni;

impl Patroni {
    pub fn classify(&self, kv: &KeyValue) -> Option<Instance> {
        let (cluster, Part::Member(name)) = key_part(&kv.key)? else {
            return None;
        };
        let mut parsed = parse(&kv.value);
        if let Ok(parsed) = &mut parsed {
            parsed.metadata.insert("member".to_owned(), name.to_owned());
        }
        Some(instance(kv, cluster.to_owned(), Layout::Patroni, parsed))
    }
}

fn parse(value: &[u8]) -> Result<Parsed, String> {
    let member: Value = serde_json::from_slice(value).map_err(|e| format!("not a Patroni member (JSON): {e}"))?;
    if !member.is_object() {
        return Err("not a Patroni member: expected a JSON object".to_owned());
    }
    let field = |name: &str| member.get(name).and_then(Value::as_str).filter(|s| !s.is_empty());
    let endpoints: Vec<String> = [field("conn_url"), field("api_url")]
        .into_iter()
        .flatten()
        .map(str::to_owned)
        .collect();
    Ok(Parsed {
        address: field("conn_url").and_then(host_port),
        version: field("version").map(str::to_owned),
        metadata: metadata_of(Some(&member)),
        endpoints,
    })
}

/// The leader's WAL position a `status` key holds (`{"optime": N}`).
pub fn optime(value: &[u8]) -> Option<u64> {
    let status: Value = serde_json::from_slice(value).ok()?;
    status.get("optime")?.as_u64()
}

/// The fields the index derives for a member from its cluster's other
/// keys, replaced each time the cluster changes.
pub const DERIVED: [&str; 4] = ["leader", "lag", "receive_lag", "replay_lag"];

/// Sets what a member's cluster says of it: `leader` when the `leader` key
/// names it; otherwise its lag in bytes behind the cluster's position (the
/// `status` optime, or else the leader's own `xlog_location`), for each
/// position it reports (`xlog_location`, `receive_lsn`, `replay_lsn`), 0
/// when ahead, as `patronictl list` computes it.
pub fn derive(metadata: &mut BTreeMap<String, String>, leader: Option<&str>, cluster_lsn: Option<u64>) {
    for name in DERIVED {
        metadata.remove(name);
    }
    if leader.is_some() && leader == metadata.get("member").map(String::as_str) {
        metadata.insert("leader".to_owned(), "true".to_owned());
        return;
    }
    let Some(cluster_lsn) = cluster_lsn else {
        return;
    };
    for (position, lag) in [
        ("xlog_location", "lag"),
        ("receive_lsn", "receive_lag"),
        ("replay_lsn", "replay_lag"),
    ] {
        if let Some(lsn) = metadata.get(position).and_then(|v| v.parse::<u64>().ok()) {
            metadata.insert(lag.to_owned(), cluster_lsn.saturating_sub(lsn).to_string());
        }
    }
}

/// A member's own WAL position (`xlog_location`).
pub fn position(metadata: &BTreeMap<String, String>) -> Option<u64> {
    metadata.get("xlog_location")?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PRIMARY: &str = r#"{"conn_url":"postgres://127.0.0.1:5433/postgres","api_url":"http://127.0.0.1:8009/patroni","state":"running","role":"primary","version":"4.1.5","xlog_location":50331648,"timeline":1}"#;
    const REPLICA: &str = r#"{"conn_url":"postgres://127.0.0.1:5434/postgres","api_url":"http://127.0.0.1:8010/patroni","state":"running","role":"replica","version":"4.1.5","xlog_location":50331000,"replay_lsn":50330000,"receive_lsn":50331000,"replication_state":"streaming","timeline":1}"#;

    #[test]
    fn members_are_instances_of_their_cluster() {
        let kv = KeyValue::sample("/service/demo/members/pg1", PRIMARY).with_lease(3);
        let Some(pg1) = Patroni.classify(&kv) else {
            panic!("not recognised")
        };
        assert_eq!(pg1.service, "demo");
        assert_eq!(pg1.layout, Layout::Patroni);
        assert_eq!(pg1.address.as_deref(), Some("127.0.0.1:5433"));
        assert_eq!(pg1.version.as_deref(), Some("4.1.5"));
        assert_eq!(pg1.metadata.get("role").map(String::as_str), Some("primary"));
        assert_eq!(pg1.endpoints.len(), 2);
        let citus = Patroni.classify(&KeyValue::sample("/service/demo/1/members/w1", PRIMARY));
        assert_eq!(citus.map(|i| i.service).as_deref(), Some("demo/1"));
        let broken = Patroni.classify(&KeyValue::sample("/service/demo/members/pg3", "[1]"));
        assert!(broken.is_some_and(|i| i.error.is_some()));
        for key in [
            "/service/demo/config",
            "/service/demo/members/",
            "/service/members/pg1",
            "/svc/demo/members/x",
        ] {
            assert!(Patroni.classify(&KeyValue::sample(key, PRIMARY)).is_none(), "{key}");
        }
    }

    #[test]
    fn keys_of_a_cluster() {
        assert_eq!(key_part(b"/service/demo/leader"), Some(("demo", Part::Leader)));
        assert_eq!(key_part(b"/service/demo/status"), Some(("demo", Part::Status)));
        assert_eq!(key_part(b"/service/demo/1/status"), Some(("demo/1", Part::Status)));
        assert_eq!(key_part(b"/service/demo/history"), None);
        assert_eq!(optime(br#"{"optime":50332672,"slots":{}}"#), Some(50332672));
        assert_eq!(optime(b"garbage"), None);
    }

    #[test]
    fn lag_is_measured_from_the_cluster_position() {
        let Some(replica) = Patroni.classify(&KeyValue::sample("/service/demo/members/pg2", REPLICA)) else {
            panic!("not recognised")
        };
        let mut metadata = replica.metadata.clone();
        derive(&mut metadata, Some("pg1"), Some(50332672));
        let field = |m: &BTreeMap<String, String>, name: &str| m.get(name).cloned();
        assert_eq!(field(&metadata, "lag").as_deref(), Some("1672"));
        assert_eq!(field(&metadata, "replay_lag").as_deref(), Some("2672"));
        assert_eq!(field(&metadata, "receive_lag").as_deref(), Some("1672"));
        assert_eq!(field(&metadata, "leader"), None);
        // Ahead of a stale status: no lag, never negative.
        derive(&mut metadata, Some("pg1"), Some(50000000));
        assert_eq!(field(&metadata, "lag").as_deref(), Some("0"));
        // It takes the leader key: the leader, and no lag.
        derive(&mut metadata, Some("pg2"), Some(50332672));
        assert_eq!(field(&metadata, "leader").as_deref(), Some("true"));
        assert_eq!(field(&metadata, "lag"), None);
        // No position known: no lag shown.
        derive(&mut metadata, None, None);
        assert!(DERIVED.iter().all(|name| !metadata.contains_key(*name)));
    }
}
