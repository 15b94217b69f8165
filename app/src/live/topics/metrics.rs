//! The `metrics` topic (the history the server keeps of the registry and
//! the cluster) and the `metrics:<service>` topics (one service's): time
//! series, appended to as the server's buckets close, and, for `metrics`,
//! the services that lost the most instances lately.
//!
//! The socket only queues these topics' messages ([`History`]'s pending
//! ones); the pages that draw them decode them ([`Live::decode_histories`]).
//! So the readers of the series and what keeps them are the pages' code, in
//! their wasm modules, not the first module's, which every page downloads.

use leptos::prelude::*;

use super::Change;
use crate::live::{decode, warn, Live};
use crate::model::{MetricsHistoryBody, PatchOp, Series, ServiceLoss, FINE_POINTS};

/// A history topic's state: its series, in the order they came.
///
/// Kept in vectors rather than maps, found by name, labels and step: a few
/// dozen series.
#[derive(Debug, Default)]
pub struct History {
    /// The snapshot arrived (and was decoded).
    pub loaded: bool,
    pub series: Vec<Series>,
    /// `metrics` only: the services that lost the most instances in the
    /// last 15 minutes, most lost first.
    pub losses: Vec<ServiceLoss>,
    /// `metrics:<service>` only: the server keeps no history of the service.
    pub untracked: bool,
    /// Messages not decoded yet, oldest first.
    pending: Vec<Pending>,
}

/// A message of a history topic, as it came.
#[derive(Debug)]
enum Pending {
    Snapshot(String),
    Patch(Vec<PatchOp>),
}

impl History {
    /// Queues a message: a snapshot replaces whatever came before it.
    fn queue(&mut self, change: Change<'_>) {
        match change {
            Change::Snapshot { data, .. } => {
                self.pending.clear();
                self.pending.push(Pending::Snapshot(data.to_owned()));
            }
            Change::Patch { ops, .. } => self.pending.push(Pending::Patch(ops)),
        }
    }

    /// Whether messages wait to be decoded.
    pub fn is_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Decodes the queued messages into the series. Called by the pages
    /// only (see the module's comment).
    pub fn settle(&mut self) {
        for message in std::mem::take(&mut self.pending) {
            match message {
                Pending::Snapshot(data) => {
                    if let Some(body) = decode::<MetricsHistoryBody>(&data, "history") {
                        *self = History::from_body(body);
                    }
                }
                Pending::Patch(ops) => self.apply(ops),
            }
        }
    }

    /// A snapshot's series.
    pub fn from_body(body: MetricsHistoryBody) -> Self {
        let mut history = History {
            loaded: true,
            series: Vec::with_capacity(body.series.len()),
            losses: body.losses,
            untracked: body.untracked,
            pending: Vec::new(),
        };
        for series in body.series {
            history.append(series);
        }
        history
    }

    /// Applies a patch's ops: `append` (new points, or a new series),
    /// `remove` (a series gone, by [`Series::id`]) and the `upsert` of `losses`.
    pub fn apply(&mut self, ops: Vec<PatchOp>) {
        for op in ops {
            match op {
                PatchOp::Append { value } => {
                    if let Some(new) = decode::<Series>(value.get(), "series") {
                        self.append(new);
                    }
                }
                PatchOp::Remove { id } => self.series.retain(|s| s.id() != id),
                PatchOp::Upsert { id, value } if id == "losses" => {
                    if let Some(losses) = decode::<Vec<ServiceLoss>>(value.get(), "losses") {
                        self.losses = losses;
                    }
                }
                PatchOp::Upsert { id, .. } => warn(&format!("unexpected upsert {id:?} on a metrics topic")),
            }
        }
    }

    /// Adds `new`'s points to its series (the same name, labels and step),
    /// or `new` as a series of its own.
    fn append(&mut self, mut new: Series) {
        let at = self
            .series
            .iter()
            .position(|s| s.name == new.name && s.step_seconds == new.step_seconds && s.labels == new.labels);
        let points = std::mem::take(&mut new.points);
        let series = match at {
            Some(at) => &mut self.series[at],
            None => {
                self.series.push(new);
                let last = self.series.len() - 1;
                &mut self.series[last]
            }
        };
        for point in points {
            add_point(&mut series.points, point);
        }
        trim(series);
    }

    /// The series `name` with `labels`, at `step` seconds.
    pub fn get(&self, name: &str, labels: &[(&str, &str)], step: u32) -> Option<&Series> {
        self.series.iter().find(|s| {
            s.name == name
                && s.step_seconds == step
                && s.labels.len() == labels.len()
                && labels.iter().all(|(k, v)| s.labels.get(*k).is_some_and(|got| got == v))
        })
    }

    /// Every series named `name` at `step`, whatever its labels (each
    /// member's `db_size`), in the order they came.
    pub fn named<'a>(&'a self, name: &'a str, step: u32) -> impl Iterator<Item = &'a Series> + 'a {
        self.series
            .iter()
            .filter(move |s| s.name == name && s.step_seconds == step)
    }
}

/// Puts a point in time order; a point for a bucket already there replaces it.
fn add_point(points: &mut Vec<(i64, f64)>, point: (i64, f64)) {
    match points.last() {
        Some(last) if last.0 >= point.0 => match points.binary_search_by_key(&point.0, |p| p.0) {
            Ok(at) => points[at] = point,
            Err(at) => points.insert(at, point),
        },
        _ => points.push(point),
    }
}

/// Keeps the last [`FINE_POINTS`] buckets before the newest (the hour the
/// server keeps at 10 s): drops the points `step * FINE_POINTS` seconds or
/// more older than the newest.
fn trim(series: &mut Series) {
    let Some(newest) = series.points.last().map(|p| p.0) else {
        return;
    };
    let keep_after = newest - i64::from(series.step_seconds) * FINE_POINTS as i64;
    let old = series.points.partition_point(|p| p.0 <= keep_after);
    series.points.drain(..old);
}

pub(super) fn apply_metrics(live: Live, change: Change<'_>) {
    live.metrics.update(|history| history.queue(change));
}

pub(super) fn apply_service(live: Live, name: String, change: Change<'_>) {
    live.service_metrics
        .update(|all| match all.iter_mut().find(|(n, _)| *n == name) {
            Some((_, history)) => history.queue(change),
            None => {
                let mut history = History::default();
                history.queue(change);
                all.push((name, history));
            }
        });
}

impl Live {
    /// Decodes the history topics' messages as they come, for as long as
    /// the calling view lives. Every page that reads [`Live::metrics`] or
    /// [`Live::service_metrics`] calls it (see the module's comment).
    pub fn decode_histories(self) {
        Effect::new(move |_| {
            if self.metrics.with(History::is_pending) {
                self.metrics.update(History::settle);
            }
            if self.service_metrics.with(|all| all.iter().any(|(_, h)| h.is_pending())) {
                self.service_metrics
                    .update(|all| all.iter_mut().for_each(|(_, h)| h.settle()));
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::value::RawValue;

    fn raw(json: &str) -> Box<RawValue> {
        RawValue::from_string(json.to_owned()).unwrap_or_else(|e| panic!("{e}"))
    }

    fn body(json: &str) -> MetricsHistoryBody {
        serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}"))
    }

    fn points(history: &History, id: &str) -> Vec<(i64, f64)> {
        history
            .series
            .iter()
            .find(|s| s.id() == id)
            .map(|s| s.points.clone())
            .unwrap_or_default()
    }

    #[test]
    fn a_snapshot_keys_series_by_id() {
        let history = History::from_body(body(
            r#"{"revision":7,"series":[
                {"name":"instances","step_seconds":10,"points":[[100,3.0],[110,4.0]]},
                {"name":"db_size","labels":{"member":"m1"},"step_seconds":10,"points":[[100,4096.0]]}
            ],"losses":[{"service":"pay","lost":5,"expired":4,"registered":1}]}"#,
        ));
        assert!(history.loaded);
        assert_eq!(points(&history, "instances/10"), [(100, 3.0), (110, 4.0)]);
        assert_eq!(points(&history, "db_size{member=m1}/10"), [(100, 4096.0)]);
        assert_eq!(
            history.get("db_size", &[("member", "m1")], 10).map(|s| s.points.len()),
            Some(1)
        );
        assert_eq!(history.named("db_size", 10).count(), 1);
        assert_eq!(history.losses.len(), 1);
        assert!(!history.untracked);

        let untracked = History::from_body(body(r#"{"revision":7,"series":[],"untracked":true}"#));
        assert!(untracked.untracked);
        assert!(untracked.series.is_empty());
    }

    #[test]
    fn appends_add_points_and_series_removes_drop_them_and_losses_are_replaced() {
        let mut history = History::from_body(body(
            r#"{"revision":1,"series":[{"name":"instances","step_seconds":10,"points":[[100,3.0]]},
               {"name":"raft_index","labels":{"member":"m2"},"step_seconds":10,"points":[[100,9.0]]}]}"#,
        ));
        history.apply(vec![
            PatchOp::Append {
                value: raw(r#"{"name":"instances","step_seconds":10,"points":[[110,5.0]]}"#),
            },
            // A series not seen yet is new.
            PatchOp::Append {
                value: raw(r#"{"name":"expiries","step_seconds":10,"points":[[110,2.0]]}"#),
            },
            // The same bucket again replaces its value; an older one goes in order.
            PatchOp::Append {
                value: raw(r#"{"name":"instances","step_seconds":10,"points":[[110,6.0],[90,1.0]]}"#),
            },
            PatchOp::Remove {
                id: "raft_index{member=m2}/10".to_owned(),
            },
            PatchOp::Upsert {
                id: "losses".to_owned(),
                value: raw(r#"[{"service":"a","lost":3,"expired":3,"registered":0}]"#),
            },
            // What does not decode is skipped.
            PatchOp::Append {
                value: raw(r#"{"name":"instances"}"#),
            },
        ]);
        assert_eq!(points(&history, "instances/10"), [(90, 1.0), (100, 3.0), (110, 6.0)]);
        assert_eq!(points(&history, "expiries/10"), [(110, 2.0)]);
        assert!(!history.series.iter().any(|s| s.id() == "raft_index{member=m2}/10"));
        assert_eq!(history.losses[0].service, "a");
    }

    #[test]
    fn messages_wait_until_a_page_decodes_them_and_a_snapshot_replaces_what_came_before() {
        let mut history = History::default();
        history.queue(Change::Patch {
            ops: vec![PatchOp::Append {
                value: raw(r#"{"name":"instances","step_seconds":10,"points":[[90,1.0]]}"#),
            }],
            more: false,
        });
        history.queue(Change::Snapshot {
            data: r#"{"revision":1,"series":[{"name":"instances","step_seconds":10,"points":[[100,3.0]]}]}"#,
            more: false,
        });
        history.queue(Change::Patch {
            ops: vec![PatchOp::Append {
                value: raw(r#"{"name":"instances","step_seconds":10,"points":[[110,4.0]]}"#),
            }],
            more: false,
        });
        assert!(history.is_pending());
        assert!(!history.loaded);
        history.settle();
        assert!(!history.is_pending());
        assert!(history.loaded);
        assert_eq!(points(&history, "instances/10"), [(100, 3.0), (110, 4.0)]);
        // A snapshot that does not decode leaves the series as they were.
        history.queue(Change::Snapshot {
            data: "{}",
            more: false,
        });
        history.settle();
        assert_eq!(points(&history, "instances/10"), [(100, 3.0), (110, 4.0)]);
    }

    #[test]
    fn points_older_than_the_hour_before_the_newest_are_dropped() {
        let all: Vec<String> = (0..360).map(|i| format!("[{},{}.0]", 1000 + i * 10, i)).collect();
        let mut history = History::from_body(body(&format!(
            r#"{{"revision":1,"series":[{{"name":"services","step_seconds":10,"points":[{}]}}]}}"#,
            all.join(",")
        )));
        assert_eq!(points(&history, "services/10").len(), 360);
        history.apply(vec![PatchOp::Append {
            value: raw(r#"{"name":"services","step_seconds":10,"points":[[4600,1.0]]}"#),
        }]);
        let kept = points(&history, "services/10");
        assert_eq!(kept.len(), 360);
        assert_eq!(kept.first().map(|p| p.0), Some(1010));
        assert_eq!(kept.last().map(|p| p.0), Some(4600));
        // A gap of more than the hour leaves only the newest.
        history.apply(vec![PatchOp::Append {
            value: raw(r#"{"name":"services","step_seconds":10,"points":[[20000,1.0]]}"#),
        }]);
        assert_eq!(points(&history, "services/10"), [(20000, 1.0)]);
    }
}
