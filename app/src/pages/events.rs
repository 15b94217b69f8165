//! Events: the timeline of registrations, deregistrations, expiries,
//! revocations and lock hand-overs, and of operators' actions (`audit`:
//! who did or tried what), newest first, live.

use leptos::prelude::*;

use super::{input_text, lowercase, Loading};
use crate::components::time::Elapsed;
use crate::live::Live;
use crate::model::{Event, EventKind};

/// Shown at most, newest first.
const SHOWN: usize = 500;

#[component]
pub fn EventsPage() -> impl IntoView {
    let live = Live::get();
    // Its topics are subscribed by the route (`deferred::watch_topics`).
    let kind = RwSignal::new(String::new());
    let text = RwSignal::new(String::new());
    let rows = Memo::new(move |_| {
        let kind = kind.get();
        let text = lowercase(text.get().trim());
        live.events.with(|events| {
            events.as_ref().map(|events| {
                events
                    .iter()
                    .rev()
                    .filter(|e| kind.is_empty() || e.kind.as_str() == kind)
                    .filter(|e| {
                        text.is_empty()
                            || lowercase(&e.subject).contains(&text)
                            || ["service", "who"]
                                .iter()
                                .any(|field| e.detail[field].as_str().is_some_and(|s| lowercase(s).contains(&text)))
                    })
                    .take(SHOWN)
                    .cloned()
                    .collect::<Vec<Event>>()
            })
        })
    });
    let list = move || match rows.get() {
        None => view! { <Loading/> }.into_any(),
        Some(rows) if rows.is_empty() => {
            view! { <p class="empty">"Nothing has happened yet that matches."</p> }.into_any()
        }
        Some(rows) => view! {
            <ol class="timeline">
                {rows.into_iter().map(|e| {
                    let class = format!("event {}", e.kind);
                    let kind = e.kind.as_str();
                    let detail = e.detail.as_object().map(|o| {
                        o.iter()
                            .filter(|(_, v)| !v.is_null())
                            .map(|(k, v)| format!("{k}: {}", v.as_str().map_or_else(|| v.to_string(), str::to_owned)))
                            .collect::<Vec<_>>()
                            .join(" · ")
                    }).unwrap_or_default();
                    view! {
                        <li class=class data-testid="event" data-kind=kind>
                            <span class="when"><Elapsed since=Some(e.at.clone())/> " ago"</span>
                            <span class="kind">{kind.replace('_', " ")}</span>
                            <code class="subject">{e.subject.clone()}</code>
                            <span class="detail">{detail}</span>
                            <span class="revision">{format!("rev {}", e.revision)}</span>
                        </li>
                    }
                }).collect_view()}
            </ol>
        }
        .into_any(),
    };
    view! {
        <section class="page">
            <h1>"Events"</h1>
            <div class="toolbar">
                <label>
                    "Kind "
                    <select on:change=move |ev| kind.set(input_text(&ev)) aria-label="Filter by kind">
                        <option value="">"all"</option>
                        {EventKind::ALL.iter().map(|k| view! { <option value=k.as_str()>{k.as_str().replace('_', " ")}</option> }).collect_view()}
                    </select>
                </label>
                <input
                    type="search"
                    placeholder="Filter by service, key or name"
                    aria-label="Filter events"
                    prop:value=move || text.get()
                    on:input=move |ev| text.set(input_text(&ev))
                />
            </div>
            {list}
        </section>
    }
}
