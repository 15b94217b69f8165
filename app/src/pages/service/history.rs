//! A service's last hour (the `metrics:<service>` topic): its instance
//! count, with the buckets in which instances registered, deregistered or
//! expired marked under the line.

use leptos::prelude::*;

use crate::live::{History, Live};
use crate::model::FINE_STEP_SECONDS;
use crate::pages::chart::{Chart, ChartData, Draw, Plot, Tone};

/// The chart's plots: the instances, and the marks.
fn chart_data(history: &History) -> ChartData {
    let points = |name: &str| {
        history
            .named(name, FINE_STEP_SECONDS)
            .next()
            .map(|s| s.points.clone())
            .unwrap_or_default()
    };
    let plot = |label: &str, tone, draw, name| Plot {
        label: label.to_owned(),
        tone,
        draw,
        points: points(name),
    };
    ChartData {
        step: i64::from(FINE_STEP_SECONDS),
        span: 3600,
        plots: vec![
            plot("instances", Tone::Accent, Draw::Line, "instances"),
            plot("registered", Tone::Ok, Draw::Marks, "registrations"),
            plot("deregistered", Tone::Warn, Draw::Marks, "deregistrations"),
            plot("expired", Tone::Bad, Draw::Marks, "expiries"),
        ],
    }
}

fn find<'a>(all: &'a [(String, History)], name: &str) -> Option<&'a History> {
    all.iter().find(|(n, _)| n == name).map(|(_, h)| h)
}

#[derive(Clone, PartialEq)]
enum Shown {
    Loading,
    Untracked,
    Chart,
}

#[component]
pub(super) fn ServiceHistory(name: Memo<String>) -> impl IntoView {
    let live = Live::get();
    live.decode_histories();
    let shown = Memo::new(move |_| {
        live.service_metrics.with(|all| match find(all, &name.get()) {
            Some(h) if h.untracked => Shown::Untracked,
            Some(h) if h.loaded => Shown::Chart,
            _ => Shown::Loading,
        })
    });
    let data = Memo::new(move |_| {
        live.service_metrics
            .with(|all| find(all, &name.get()).map(chart_data).unwrap_or_default())
    });
    view! {
        <section class="charts service-history" aria-labelledby="service-history">
            <h2 id="service-history">"Instances, the last hour"</h2>
            {move || match shown.get() {
                Shown::Loading => view! { <p class="loading">"Loading the last hour…"</p> }.into_any(),
                Shown::Untracked => view! {
                    <p class="empty" data-testid="history-untracked">
                        "Leasehold keeps no history of this service: more services changed in the last hour than it \
                         follows (--history-services)."
                    </p>
                }
                .into_any(),
                Shown::Chart => view! {
                    <Chart
                        data
                        label="Instances over the last hour, with registrations, deregistrations and expiries marked"
                        name="service-instances"
                        zero=true
                    />
                }
                .into_any(),
            }}
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::MetricsHistoryBody;

    #[test]
    fn the_chart_takes_the_services_series_whatever_their_labels() {
        let body: MetricsHistoryBody = serde_json::from_str(
            r#"{"revision":3,"series":[
                {"name":"instances","labels":{"service":"pay"},"step_seconds":10,"points":[[100,3.0],[110,2.0]]},
                {"name":"expiries","labels":{"service":"pay"},"step_seconds":10,"points":[[110,1.0]]}
            ]}"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let data = chart_data(&History::from_body(body));
        assert_eq!(data.plots[0].points, [(100, 3.0), (110, 2.0)]);
        assert!(data.plots[1].points.is_empty());
        assert_eq!(data.plots[3].points, [(110, 1.0)]);
    }
}
