//! The history the server keeps of the registry and the cluster (the
//! `metrics` topic and `GET /api/v1/metrics-history`), and the eviction
//! storm (the `storm` topic and `/api/v1/health`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Revision;

/// The width of the recent buckets (the last hour).
pub const FINE_STEP_SECONDS: u32 = 10;
/// How many recent buckets are kept: one hour.
pub const FINE_POINTS: usize = 360;
/// The width of the long buckets (the last day).
pub const COARSE_STEP_SECONDS: u32 = 60;
/// How many long buckets are kept: 24 hours.
pub const COARSE_POINTS: usize = 1440;

/// One time series at one bucket width.
///
/// A gauge's point is its value when the bucket closed (`services`,
/// `instances`, a member's `db_size`); a count's point is how many happened
/// in the bucket (`registrations`, `expiries`). Buckets with no sample (the
/// server was busy or not running) have no point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Series {
    pub name: String,
    /// `service`, `member` or `lock`, for the series that are per one of those.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    pub step_seconds: u32,
    /// `[unix_seconds, value]`, oldest first; the time is the bucket's start.
    #[cfg_attr(feature = "ssr", schema(value_type = Vec<Vec<f64>>))]
    pub points: Vec<(i64, f64)>,
}

impl Series {
    /// The id of the series in the topic's patches:
    /// `name{label=value,...}/step`, labels in name order.
    pub fn id(&self) -> String {
        series_id(&self.name, &self.labels, self.step_seconds)
    }
}

/// [`Series::id`] of a series not built yet.
pub fn series_id(name: &str, labels: &BTreeMap<String, String>, step_seconds: u32) -> String {
    let mut id = String::with_capacity(name.len() + 8);
    id.push_str(name);
    if !labels.is_empty() {
        id.push('{');
        for (i, (key, value)) in labels.iter().enumerate() {
            if i > 0 {
                id.push(',');
            }
            id.push_str(key);
            id.push('=');
            id.push_str(value);
        }
        id.push('}');
    }
    id.push('/');
    id.push_str(&step_seconds.to_string());
    id
}

/// `GET /api/v1/metrics-history`, and the `metrics` topic's snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct MetricsHistoryBody {
    pub revision: Revision,
    pub series: Vec<Series>,
    /// `metrics` only: the services that lost the most instances in the
    /// last 15 minutes (at most 10, most lost first). In patches as the
    /// upsert of id `losses` whose value is this list.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub losses: Vec<ServiceLoss>,
    /// `metrics:<service>` only: the server keeps no history of this
    /// service (more services changed in the last hour than
    /// `--history-services` keeps), so its series are empty.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub untracked: bool,
}

/// What a service lost and gained in the last 15 minutes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ServiceLoss {
    pub service: String,
    /// Instances gone: expired or deregistered.
    pub lost: u64,
    /// Of those, expired with their lease.
    pub expired: u64,
    pub registered: u64,
}

/// A service losing instances in a storm.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct StormService {
    pub service: String,
    /// Instances of it whose lease expired since the storm began (the
    /// window that raised it included).
    pub expired: u64,
}

/// An eviction storm: more instances' leases expired within the window
/// than the threshold allows. In `/api/v1/health` while it lasts, and the
/// `storm` topic's entity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Storm {
    /// When the threshold was first crossed (RFC 3339).
    pub since: String,
    /// The services losing instances, most expiries first (at most 20).
    pub services: Vec<StormService>,
    /// Instances whose lease expired since the storm began, every service
    /// together.
    pub expired: u64,
    /// The most instances there were while it lasted (registered plus
    /// expired within the window): what the ratio is taken of.
    pub instances: u64,
    pub window_seconds: u64,
}

/// The `storm` topic's snapshot: the storm while one is on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct StormBody {
    pub revision: Revision,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storm: Option<Storm>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_ids_name_their_labels_in_order() {
        let mut labels = BTreeMap::new();
        assert_eq!(series_id("instances", &labels, 10), "instances/10");
        labels.insert("service".to_owned(), "payment".to_owned());
        labels.insert("a".to_owned(), "b".to_owned());
        assert_eq!(
            series_id("service_instances", &labels, 60),
            "service_instances{a=b,service=payment}/60"
        );
    }

    #[test]
    fn points_are_pairs_on_the_wire() {
        let series = Series {
            name: "instances".to_owned(),
            labels: BTreeMap::new(),
            step_seconds: 10,
            points: vec![(1_700_000_000, 3.0)],
        };
        let text = serde_json::to_string(&series).unwrap_or_default();
        assert_eq!(
            text,
            r#"{"name":"instances","step_seconds":10,"points":[[1700000000,3.0]]}"#
        );
    }
}
