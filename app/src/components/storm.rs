//! The storm banner on every page: while an eviction storm is on (the
//! `storm` topic: more instances' leases expired within the window than the
//! threshold allows), the services losing instances with their counts, and
//! since when, leading to the overview; gone when the storm ends.
//!
//! In the first module (it is on every page), so it keeps to the live state
//! and plain views: nothing of the charts.

use leptos::prelude::*;

use crate::components::encode_segment;
use crate::components::time::Since;
use crate::live::Live;
use crate::model::Topic;

/// Services named in the banner; the rest are counted.
const NAMED: usize = 6;

#[component]
pub fn StormBanner() -> impl IntoView {
    let live = Live::get();
    // One small entity: followed on every page.
    live.watch(Topic::Storm);
    let on = Memo::new(move |_| live.storm.with(Option::is_some));
    let since = Memo::new(move |_| live.storm.with(|s| s.as_ref().map(|s| s.since.clone())));
    let counts = move || {
        live.storm.with(|s| {
            s.as_ref().map(|s| {
                format!(
                    "{} of {} instances lost their lease within {} s",
                    s.expired, s.instances, s.window_seconds
                )
            })
        })
    };
    let services = move || {
        live.storm.with(|s| {
            let Some(s) = s else {
                return Vec::new();
            };
            let mut items: Vec<AnyView> = s
                .services
                .iter()
                .take(NAMED)
                .map(|one| {
                    let href = format!("/services/{}", encode_segment(&one.service));
                    view! {
                        <li data-testid="storm-service" data-service=one.service.clone() data-expired=one.expired.to_string()>
                            <a href=href>{one.service.clone()}</a>
                            {format!(" ({})", one.expired)}
                        </li>
                    }
                    .into_any()
                })
                .collect();
            let more = s.services.len().saturating_sub(NAMED);
            if more > 0 {
                items.push(view! { <li>{format!("and {more} more")}</li> }.into_any());
            }
            items
        })
    };
    move || {
        on.get().then(|| {
            view! {
                <div class="storm-banner" role="alert" data-testid="storm-banner">
                    <p>
                        <strong>"Eviction storm"</strong>
                        " since "
                        {move || since.get().map(|at| view! { <Since since=Some(at)/> })}
                        ": "
                        <span data-testid="storm-counts">{counts}</span>
                        "."
                    </p>
                    <ul class="storm-services" aria-label="Services losing instances">{services}</ul>
                    <a href="/" class="storm-more">"See the overview"</a>
                </div>
            }
        })
    }
}
