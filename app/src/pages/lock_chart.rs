//! A lock's holds and waits over the last hour, on the Locks page: read
//! from `GET /api/v1/metrics-history?lock=NAME` when its chart is opened,
//! and again as each 10-second bucket closes while it stays open.

use leptos::prelude::*;
use leptos::task::spawn_local;

use super::chart::{Chart, ChartData, Draw, Plot, Tone};
use crate::components::encode_segment;
use crate::live::api::get_json;
use crate::live::Live;
use crate::model::{MetricsHistoryBody, FINE_STEP_SECONDS};

/// A value in seconds: `4.2 s`.
fn seconds(value: f64) -> String {
    if value >= 100.0 {
        format!("{value:.0} s")
    } else {
        format!("{value:.1} s")
    }
}

/// The chart of a lock's answer: its longest hold and longest wait per bucket.
fn chart_data(body: &MetricsHistoryBody) -> ChartData {
    let points = |name: &str| {
        body.series
            .iter()
            .find(|s| s.name == name)
            .map(|s| s.points.clone())
            .unwrap_or_default()
    };
    ChartData {
        step: i64::from(FINE_STEP_SECONDS),
        span: 3600,
        plots: vec![
            Plot {
                label: "longest hold".to_owned(),
                tone: Tone::Accent,
                draw: Draw::Line,
                points: points("lock_hold_seconds"),
            },
            Plot {
                label: "longest wait".to_owned(),
                tone: Tone::Warn,
                draw: Draw::Line,
                points: points("lock_wait_seconds"),
            },
        ],
    }
}

#[derive(Clone, PartialEq)]
enum Shown {
    Closed,
    Loading,
    Untracked,
    Chart(ChartData),
    Failed(String),
}

#[component]
pub(super) fn LockHistory(name: String) -> impl IntoView {
    let live = Live::get();
    let open = RwSignal::new(false);
    let shown = RwSignal::new(Shown::Closed);
    // The bucket last read: a new one closes every 10 s.
    let read_at = RwSignal::new(None::<i64>);
    let path = format!("/api/v1/metrics-history?lock={}", encode_segment(&name));
    Effect::new(move |_| {
        if !open.get() {
            return;
        }
        let bucket = (live.now_ms.get() / 1000.0) as i64 / i64::from(FINE_STEP_SECONDS);
        if read_at.get_untracked() == Some(bucket) {
            return;
        }
        read_at.set(Some(bucket));
        if shown.get_untracked() == Shown::Closed {
            shown.set(Shown::Loading);
        }
        let path = path.clone();
        spawn_local(async move {
            let next = match get_json::<MetricsHistoryBody>(&path).await {
                Ok(body) if body.untracked => Shown::Untracked,
                Ok(body) => Shown::Chart(chart_data(&body)),
                Err(failure) => Shown::Failed(failure.to_string()),
            };
            if open.get_untracked() {
                shown.set(next);
            }
        });
    });
    let data = Signal::derive(move || match shown.get() {
        Shown::Chart(data) => data,
        _ => ChartData::default(),
    });
    view! {
        <details class="lock-history" data-testid="lock-history"
            on:toggle=move |_ev| {
                // Only the browser toggles a disclosure.
                #[cfg(feature = "hydrate")]
                {
                    use wasm_bindgen::JsCast;
                    let now_open = _ev
                        .target()
                        .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
                        .is_some_and(|d| d.has_attribute("open"));
                    open.set(now_open);
                    if !now_open {
                        read_at.set(None);
                        shown.set(Shown::Closed);
                    }
                }
            }
        >
            <summary>"Holds and waits, the last hour"</summary>
            {move || match shown.get() {
                Shown::Closed => None,
                Shown::Loading => Some(view! { <p class="loading">"Loading the last hour…"</p> }.into_any()),
                Shown::Untracked => Some(view! {
                    <p class="empty" data-testid="lock-history-untracked">
                        "Leasehold keeps no history of this lock: it has not changed hands since Leasehold started, \
                         or 50 other locks did more recently."
                    </p>
                }.into_any()),
                Shown::Failed(message) => Some(view! { <p class="error" role="alert">{message}</p> }.into_any()),
                Shown::Chart(_) => Some(view! {
                    <Chart data label="The longest hold and the longest wait of each 10 seconds, the last hour" name="lock-times" format=seconds zero=true/>
                }.into_any()),
            }}
        </details>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chart_takes_the_locks_hold_and_wait_series() {
        let body: MetricsHistoryBody = serde_json::from_str(
            r#"{"revision":3,"series":[
                {"name":"lock_hold_seconds","labels":{"lock":"jobs"},"step_seconds":10,"points":[[100,5.0],[120,25.0]]},
                {"name":"lock_wait_seconds","labels":{"lock":"jobs"},"step_seconds":10,"points":[[100,3.0]]}
            ]}"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let data = chart_data(&body);
        assert_eq!(data.plots[0].points, [(100, 5.0), (120, 25.0)]);
        assert_eq!(data.plots[1].points, [(100, 3.0)]);
        assert_eq!(
            (seconds(4.25), seconds(125.0)),
            ("4.2 s".to_owned(), "125 s".to_owned())
        );
    }
}
