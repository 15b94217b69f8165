//! Registry entities: services, instances, locks and elections.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::{LeaseId, Revision};

/// How an instance registered: which framework's key and value format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "kebab-case")]
pub enum Layout {
    Kratos,
    GoMicro,
    Grpc,
    GoZero,
    Kitex,
    Dubbo,
    DubboApp,
    Skydns,
    Rpcx,
    Moleculer,
    Tooz,
    Patroni,
    Custom,
    /// A layout this build does not know: a newer server talking to an older
    /// page. Shown as such rather than refusing the whole message.
    #[serde(other)]
    Unknown,
}

impl Layout {
    pub fn as_str(self) -> &'static str {
        match self {
            Layout::Kratos => "kratos",
            Layout::GoMicro => "go-micro",
            Layout::Grpc => "grpc",
            Layout::GoZero => "go-zero",
            Layout::Kitex => "kitex",
            Layout::Dubbo => "dubbo",
            Layout::DubboApp => "dubbo-app",
            Layout::Skydns => "skydns",
            Layout::Rpcx => "rpcx",
            Layout::Moleculer => "moleculer",
            Layout::Tooz => "tooz",
            Layout::Patroni => "patroni",
            Layout::Custom => "custom",
            Layout::Unknown => "unknown",
        }
    }
}

impl Layout {
    /// What a layout's match rests on, in its own terms.
    pub fn evidence(self) -> &'static str {
        match self {
            Layout::Kratos => "the key is /microservices/<service>/<id>; the value is Kratos's instance JSON",
            Layout::GoMicro => "the key is /micro/registry/<service>/<node id>; the value is go-micro's service JSON",
            Layout::Grpc => "the value is gRPC naming JSON ({\"Op\",\"Addr\",\"Metadata\"}) and the key ends in /<Addr>",
            Layout::GoZero => "the key ends in its own lease id in decimal and the value is a bare host:port",
            Layout::Kitex => "the key is kitex/registry-etcd/<service>/<address>; the value is Kitex's JSON",
            Layout::Dubbo => "the key is /<root>/<interface>/providers/<provider URL>",
            Layout::DubboApp => "the key is /services/<app>/<host:port> and the value is dubbo-go's instance JSON",
            Layout::Skydns => "the key is /skydns/<domain labels reversed>/<instance>",
            Layout::Rpcx => "the key is <base path>/<service>/<network>@<address>",
            Layout::Moleculer => "the key is moleculer[-<namespace>]/discovery/info/<node id>: one instance per service the INFO packet lists",
            Layout::Tooz => "the key is tooz/groups/<group>/<member id>; the value is msgpack capabilities",
            Layout::Patroni => "the key is /service/<scope>/members/<name>; the value is Patroni's member JSON",
            Layout::Custom => "the key has the shape of an operator's --service-pattern",
            Layout::Unknown => "a layout this build does not know",
        }
    }

    /// The metadata an operator reads first for this layout, in order; the
    /// rest follows by name.
    pub fn headline_metadata(self) -> &'static [&'static str] {
        match self {
            Layout::Patroni => &[
                "leader",
                "role",
                "state",
                "lag",
                "replay_lag",
                "receive_lag",
                "timeline",
            ],
            Layout::Moleculer => &["node", "namespace", "client"],
            Layout::Tooz => &["member"],
            _ => &[],
        }
    }
}

impl fmt::Display for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One registered instance of a service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Instance {
    /// The key's id ([`key_id`](super::key_id)): its text, or `base64:` and
    /// the key's base64 when it is not UTF-8 or begins with `base64:`.
    pub id: String,
    pub service: String,
    pub layout: Layout,
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_base64: Option<String>,
    /// The first endpoint's `host:port`; `None` when the value could not be parsed.
    pub address: Option<String>,
    pub endpoints: Vec<String>,
    pub version: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub lease: Option<LeaseId>,
    pub ttl: Option<i64>,
    pub granted_ttl: Option<i64>,
    pub create_revision: Revision,
    pub mod_revision: Revision,
    /// The raw value (lossy text when it is not UTF-8).
    pub value: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_base64: Option<String>,
    /// Why the value could not be parsed by its layout; the instance is kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// What the instance's own registry says when it is registered but not
    /// serving: `unhealthy (Healthy=false)`, `disabled (Enable=false)`,
    /// `inactive (state=inactive)`, `no traffic (weight=0)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub declared: Option<String>,
}

/// A row of the services list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ServiceSummary {
    pub name: String,
    pub layouts: Vec<Layout>,
    pub instances: usize,
    pub with_lease: usize,
    pub min_ttl: Option<i64>,
}

/// `GET /api/v1/services`, and the `services` topic's snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ServicesBody {
    pub revision: Revision,
    pub services: Vec<ServiceSummary>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stale: bool,
    /// The registry as it was at `revision`, a past one (`?rev=` or
    /// `?at=`): read-only, and no TTL is known. Absent for now.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub as_of: bool,
}

/// `GET /api/v1/services/{name}`, and the `service:<name>` topic's snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ServiceBody {
    pub revision: Revision,
    pub name: String,
    pub instances: Vec<Instance>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stale: bool,
    /// The registry as it was at `revision`, a past one (`?rev=` or
    /// `?at=`): read-only, and no TTL is known. Absent for now.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub as_of: bool,
}

/// A key queued on a lock or standing in an election.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Contender {
    pub key: String,
    pub lease: LeaseId,
    pub create_revision: Revision,
    pub ttl: Option<i64>,
    /// When this server first saw the key (RFC 3339); `None` if it predates the server.
    pub since: Option<String>,
}

/// A lock: the holder (lowest create revision) and the queue behind it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Lock {
    pub name: String,
    pub holder: Option<Contender>,
    /// When this server saw the holder take the lock: the moment its key
    /// became the lowest create revision (RFC 3339), not the key's creation,
    /// which counts its time in the queue too. `None` when it held the lock
    /// before the server started watching.
    #[serde(default)]
    pub holder_since: Option<String>,
    pub waiters: Vec<Contender>,
    /// The library of a lock that is one key on one lease, whose waiters
    /// only retry and keep no key in etcd (`python-etcd3`, `tooz`):
    /// `waiters` is then empty however many wait. Absent for etcd's
    /// concurrency package (`etcdctl lock`), whose waiters queue in keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holder_only: Option<String>,
}

/// An election candidate: a contender with its proposal.
///
/// Written with the contender's fields inline; read through [`CandidateWire`],
/// the same fields spelled out, because reading `flatten` buffers the whole
/// object through serde's generic `Content` first, code the wasm would carry
/// for this type alone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(from = "CandidateWire")]
pub struct Candidate {
    #[serde(flatten)]
    pub contender: Contender,
    pub value: String,
}

/// [`Candidate`] as it is on the wire, for reading.
#[derive(Deserialize)]
struct CandidateWire {
    key: String,
    lease: LeaseId,
    create_revision: Revision,
    ttl: Option<i64>,
    since: Option<String>,
    value: String,
}

impl From<CandidateWire> for Candidate {
    fn from(wire: CandidateWire) -> Self {
        Candidate {
            contender: Contender {
                key: wire.key,
                lease: wire.lease,
                create_revision: wire.create_revision,
                ttl: wire.ttl,
                since: wire.since,
            },
            value: wire.value,
        }
    }
}

/// An election: the leader (lowest create revision) and the other candidates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Election {
    pub name: String,
    pub leader: Option<Candidate>,
    /// When this server saw the leader take the lead (as
    /// [`Lock::holder_since`]).
    #[serde(default)]
    pub leader_since: Option<String>,
    pub candidates: Vec<Candidate>,
    /// The library of an election that is one key on one lease, whose
    /// candidates only retry and keep no key (`patroni`: the cluster's
    /// `leader` key): `candidates` is then empty however many stand.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holder_only: Option<String>,
}

/// `GET /api/v1/locks`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct LocksBody {
    pub revision: Revision,
    pub locks: Vec<Lock>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stale: bool,
    /// The registry as it was at `revision`, a past one (`?rev=` or
    /// `?at=`): read-only, and no TTL is known. Absent for now.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub as_of: bool,
}

/// `GET /api/v1/elections`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ElectionsBody {
    pub revision: Revision,
    pub elections: Vec<Election>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stale: bool,
    /// The registry as it was at `revision`, a past one (`?rev=` or
    /// `?at=`): read-only, and no TTL is known. Absent for now.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub as_of: bool,
}

/// An etcd lease as Leasehold last sampled it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Lease {
    pub id: LeaseId,
    /// Remaining seconds at `sampled_at`; -1 when etcd said it has expired.
    pub ttl: Option<i64>,
    pub granted_ttl: Option<i64>,
    /// Keys attached to the lease.
    pub keys: usize,
    pub sampled_at: Option<String>,
    /// The services whose instances the lease holds, by name (each once).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<String>,
}

/// `GET /api/v1/leases`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct LeasesBody {
    pub revision: Revision,
    pub leases: Vec<Lease>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stale: bool,
    /// The registry as it was at `revision`, a past one (`?rev=` or
    /// `?at=`): read-only, and no TTL is known. Absent for now.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub as_of: bool,
}

/// `GET /api/v1/leases/{id}`: the lease and exactly what revoking it removes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct LeaseDetailBody {
    pub revision: Revision,
    pub lease: Lease,
    pub instances: Vec<Instance>,
    pub locks: Vec<String>,
    pub elections: Vec<String>,
    pub other_keys: Vec<String>,
    /// The id of every key on the lease, sorted: what a revoke confirmed
    /// against this preview sends as `expect_keys`.
    #[serde(default)]
    pub keys: Vec<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stale: bool,
}

impl LeaseDetailBody {
    /// The preview of a lease that holds no watched key: etcd's own view of
    /// it (a lease granted since the last poll, or one the model does not
    /// know yet).
    pub fn holding_nothing(revision: Revision, lease: Lease, stale: bool) -> Self {
        LeaseDetailBody {
            revision,
            lease,
            instances: Vec::new(),
            locks: Vec::new(),
            elections: Vec::new(),
            other_keys: Vec::new(),
            keys: Vec::new(),
            stale,
        }
    }
}

/// One entry of the timeline: something that happened at a revision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Event {
    pub revision: Revision,
    /// When Leasehold saw it (RFC 3339).
    pub at: String,
    pub kind: super::EventKind,
    /// The instance key, lease id, or lock or election name it is about.
    pub subject: String,
    pub detail: serde_json::Value,
}

/// `GET /api/v1/events`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct EventsBody {
    pub revision: Revision,
    pub events: Vec<Event>,
    /// How many events of the history the server keeps match the query,
    /// on every page together.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matched: Option<usize>,
    /// When the oldest event the server keeps happened: the answer covers
    /// what happened since then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oldest: Option<String>,
    /// Older matching events exist: ask again with `before=` this revision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_before: Option<Revision>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stale: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_round_trip_and_unknown_ones_do_not_break_a_message() {
        for layout in [Layout::GoMicro, Layout::DubboApp, Layout::Rpcx] {
            let text = serde_json::to_string(&layout).unwrap_or_default();
            assert_eq!(text, format!("\"{}\"", layout.as_str()));
            assert_eq!(serde_json::from_str::<Layout>(&text).ok(), Some(layout));
        }
        let summary: Result<ServiceSummary, _> = serde_json::from_str(
            r#"{"name":"a","layouts":["kratos","from-the-future"],"instances":1,"with_lease":0,"min_ttl":null}"#,
        );
        assert_eq!(
            summary.ok().map(|s| s.layouts),
            Some(vec![Layout::Kratos, Layout::Unknown])
        );
    }

    #[test]
    fn candidates_read_back_what_they_write() {
        let candidate = Candidate {
            contender: Contender {
                key: "/election/e/694d8b0ee8ec6c0a".into(),
                lease: LeaseId(0x694d8b0ee8ec6c0a),
                create_revision: 12,
                ttl: Some(30),
                since: None,
            },
            value: "node-1".into(),
        };
        let text = serde_json::to_string(&candidate).unwrap_or_default();
        assert_eq!(
            text,
            r#"{"key":"/election/e/694d8b0ee8ec6c0a","lease":"694d8b0ee8ec6c0a","create_revision":12,"ttl":30,"since":null,"value":"node-1"}"#
        );
        assert_eq!(serde_json::from_str::<Candidate>(&text).ok(), Some(candidate));
        // A field a newer server adds is ignored, as it was with `flatten`.
        let newer = r#"{"key":"k","lease":"1","create_revision":1,"ttl":null,"since":null,"value":"v","extra":1}"#;
        assert!(serde_json::from_str::<Candidate>(newer).is_ok());
    }
}
