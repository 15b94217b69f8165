//! WebSocket topics: what a client can subscribe to.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A subscription topic, written on the wire as `cluster`, `ops`, `metrics`,
/// `metrics:<service>`, `storm`, `services`, `service:<name>`, `leases`,
/// `locks`, `elections`, `events`, `kv:<prefix>` or `kv-dir:<prefix>`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Topic {
    Cluster,
    /// The members' health, quota, alarms and maintenance (the operations console).
    Ops,
    /// The history the server keeps: time series of the registry and the
    /// cluster, appended to as their buckets close.
    Metrics,
    /// One service's history: its instances, registrations, deregistrations
    /// and expiries over time.
    ServiceMetrics(String),
    /// The eviction storm, while one is on.
    Storm,
    Services,
    Service(String),
    Leases,
    Locks,
    Elections,
    Events,
    Kv(String),
    /// One folder of the key tree: the keys directly under the prefix and its
    /// sub-folders (the next `/`), for a tree that loads a folder when opened.
    KvDir(String),
}

/// Why a topic string was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicError(pub String);

impl fmt::Display for TopicError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown topic {:?}: expected cluster, ops, metrics, metrics:<service>, storm, services, service:<name>, \
             leases, locks, elections, events, kv:<prefix> or kv-dir:<prefix>",
            self.0
        )
    }
}

impl std::error::Error for TopicError {}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Topic::Cluster => f.write_str("cluster"),
            Topic::Ops => f.write_str("ops"),
            Topic::Metrics => f.write_str("metrics"),
            Topic::ServiceMetrics(name) => write!(f, "metrics:{name}"),
            Topic::Storm => f.write_str("storm"),
            Topic::Services => f.write_str("services"),
            Topic::Service(name) => write!(f, "service:{name}"),
            Topic::Leases => f.write_str("leases"),
            Topic::Locks => f.write_str("locks"),
            Topic::Elections => f.write_str("elections"),
            Topic::Events => f.write_str("events"),
            Topic::Kv(prefix) => write!(f, "kv:{prefix}"),
            Topic::KvDir(prefix) => write!(f, "kv-dir:{prefix}"),
        }
    }
}

impl FromStr for Topic {
    type Err = TopicError;

    fn from_str(s: &str) -> Result<Self, TopicError> {
        Ok(match s {
            "cluster" => Topic::Cluster,
            "ops" => Topic::Ops,
            "metrics" => Topic::Metrics,
            "storm" => Topic::Storm,
            "services" => Topic::Services,
            "leases" => Topic::Leases,
            "locks" => Topic::Locks,
            "elections" => Topic::Elections,
            "events" => Topic::Events,
            _ => {
                if let Some(name) = s.strip_prefix("service:").filter(|n| !n.is_empty()) {
                    Topic::Service(name.to_owned())
                } else if let Some(name) = s.strip_prefix("metrics:").filter(|n| !n.is_empty()) {
                    Topic::ServiceMetrics(name.to_owned())
                } else if let Some(prefix) = s.strip_prefix("kv:") {
                    Topic::Kv(prefix.to_owned())
                } else if let Some(prefix) = s.strip_prefix("kv-dir:") {
                    Topic::KvDir(prefix.to_owned())
                } else {
                    return Err(TopicError(s.to_owned()));
                }
            }
        })
    }
}

impl Serialize for Topic {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// The topic as the wire spells it; the pattern admits every topic a server
/// may send, and what follows `service:`, `kv:` and `kv-dir:` is free text.
#[cfg(feature = "ssr")]
impl utoipa::PartialSchema for Topic {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some(
                r"^(cluster|ops|metrics|storm|services|leases|locks|elections|events|service:[\s\S]+|metrics:[\s\S]+|kv:[\s\S]*|kv-dir:[\s\S]*)$",
            ))
            .description(Some("A subscription topic (docs/websocket.md, Topics)"))
            .examples(["services", "service:payment", "kv:/config/"])
            .into()
    }
}

#[cfg(feature = "ssr")]
impl utoipa::ToSchema for Topic {}

impl<'de> Deserialize<'de> for Topic {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Whether `key` (a key, or the prefix of a range of keys) is inside the
/// watched `prefixes` (none: every key is). The one rule for what the
/// configuration routes and the `kv:` topics serve: a prefix is inside when
/// it starts with a watched prefix, so a wider one (`/` when `/a/` is
/// watched) is not.
pub fn within_prefixes(prefixes: &[String], key: &[u8]) -> bool {
    prefixes.is_empty() || prefixes.iter().any(|p| key.starts_with(p.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_round_trip() {
        for s in [
            "cluster",
            "ops",
            "metrics",
            "metrics:billing/api",
            "storm",
            "services",
            "service:billing/api",
            "leases",
            "locks",
            "elections",
            "events",
            "kv:/config/",
            "kv:",
            "kv-dir:/config/",
            "kv-dir:",
        ] {
            let topic: Result<Topic, _> = s.parse();
            assert_eq!(topic.map(|t| t.to_string()), Ok(s.to_owned()));
        }
    }

    #[test]
    fn unknown_topics_are_refused() {
        assert!("clusters".parse::<Topic>().is_err());
        assert!("service:".parse::<Topic>().is_err());
        assert!("metrics:".parse::<Topic>().is_err());
        assert!("".parse::<Topic>().is_err());
    }
}
