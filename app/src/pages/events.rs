//! Events: the timeline of registrations, deregistrations, expiries,
//! revocations and lock hand-overs, and of operators' actions (`audit`:
//! who did or tried what), newest first, live.
//!
//! The server filters (`GET /api/v1/events`), over the whole history it
//! keeps, and pages back from there; what arrives live after its answer is
//! put on top when it matches the same filter ([`EventFilter`], shared with
//! the server). The filter is kept in the address.

use std::time::Duration;

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::hooks::use_query_map;

use super::table::mirror_in_address;
use super::{input_text, Loading};
use crate::components::encode_segment;
use crate::components::time::{clock_time, Elapsed};
use crate::live::api::get_json;
use crate::live::Live;
use crate::model::{Event, EventFilter, EventKind, EventsBody, Revision};

/// Events asked for per page.
const PAGE: usize = 500;
/// How long typing pauses before the server is asked.
const SEARCH_DELAY: Duration = Duration::from_millis(250);

/// The server's answer for one filter, and the older pages loaded after it.
#[derive(Debug, Clone, PartialEq)]
struct Answer {
    filter: EventFilter,
    revision: Revision,
    /// Newest first.
    events: Vec<Event>,
    matched: usize,
    oldest: Option<String>,
    next_before: Option<Revision>,
}

impl Answer {
    fn new(filter: EventFilter, body: EventsBody) -> Self {
        let mut events = body.events;
        events.reverse();
        Answer {
            filter,
            revision: body.revision,
            events,
            matched: body.matched.unwrap_or(0),
            oldest: body.oldest,
            next_before: body.next_before,
        }
    }
}

fn events_path(filter: &EventFilter, before: Option<Revision>) -> String {
    let mut path = format!("/api/v1/events?limit={PAGE}");
    let query = filter.to_query();
    if !query.is_empty() {
        path.push('&');
        path.push_str(&query);
    }
    if let Some(before) = before {
        path.push_str(&format!("&before={before}"));
    }
    path
}

/// Where an event's subject is explained.
fn subject_link(event: &Event) -> Option<String> {
    let text = |field: &str| event.detail[field].as_str().map(str::to_owned);
    match event.kind {
        EventKind::InstanceRegistered | EventKind::InstanceUpdated | EventKind::InstanceDeregistered => {
            text("service").map(|s| format!("/services/{}", encode_segment(&s)))
        }
        EventKind::LeaseExpired | EventKind::LeaseRevoked => Some(format!("/leases?lease={}", event.subject)),
        EventKind::LockAcquired | EventKind::LockWaiting | EventKind::LockReleased => Some("/locks".to_owned()),
        EventKind::LeaderElected | EventKind::CandidateJoined | EventKind::CandidateLeft => {
            Some("/elections".to_owned())
        }
        EventKind::Audit => text("lease").map(|l| format!("/leases?lease={l}")),
        EventKind::EvictionStorm => Some("/".to_owned()),
        EventKind::EtcdWentBack | EventKind::Unknown => None,
    }
}

/// The registry page an event is about, as of the event's revision: right
/// after it happened.
fn past_link(event: &Event) -> Option<String> {
    let page = match event.kind {
        EventKind::InstanceRegistered | EventKind::InstanceUpdated | EventKind::InstanceDeregistered => {
            match event.detail["service"].as_str() {
                Some(service) => format!("/services/{}", encode_segment(service)),
                None => "/services".to_owned(),
            }
        }
        EventKind::LeaseExpired | EventKind::LeaseRevoked => "/leases".to_owned(),
        EventKind::LockAcquired | EventKind::LockWaiting | EventKind::LockReleased => "/locks".to_owned(),
        EventKind::LeaderElected | EventKind::CandidateJoined | EventKind::CandidateLeft => "/elections".to_owned(),
        EventKind::Audit | EventKind::EvictionStorm => "/services".to_owned(),
        // Its revisions are another history's.
        EventKind::EtcdWentBack | EventKind::Unknown => return None,
    };
    Some(format!("{page}?rev={}", event.revision))
}

/// A key per row that stays while the row is shown: its content, and which
/// of identical events it is.
fn row_keys(events: Vec<Event>) -> Vec<(String, Event)> {
    let mut seen = std::collections::HashMap::<String, usize>::new();
    events
        .into_iter()
        .map(|e| {
            let content = format!("{}|{}|{}|{}|{}", e.revision, e.at, e.kind, e.subject, e.detail);
            let n = seen.entry(content.clone()).or_default();
            *n += 1;
            (format!("{content}|{n}"), e)
        })
        .collect()
}

#[component]
pub fn EventsPage() -> impl IntoView {
    let live = Live::get();
    // Its topics are subscribed by the route (`deferred::watch_topics`).
    let address = use_query_map();
    let initial = |name: &str| address.read_untracked().get(name).unwrap_or_default();
    let kind = RwSignal::new(initial("kind"));
    let text = RwSignal::new(initial("q"));
    let subject = RwSignal::new(initial("subject"));
    let quiet = RwSignal::new(initial("hide") == "lock_chatter");
    mirror_in_address("kind", move || kind.get());
    mirror_in_address("q", move || text.get());
    mirror_in_address("subject", move || subject.get());
    mirror_in_address("hide", move || {
        if quiet.get() {
            "lock_chatter".to_owned()
        } else {
            String::new()
        }
    });

    let filter = Memo::new(move |_| {
        let mut filter = EventFilter::from_pairs([("kind", kind.get().as_str())]).unwrap_or_default();
        filter.text = text.get().trim().to_owned();
        filter.subject = Some(subject.get()).filter(|s| !s.is_empty());
        filter.hide_lock_chatter = quiet.get();
        filter
    });
    let answer = RwSignal::new(None::<Result<Answer, String>>);
    let loading_older = RwSignal::new(false);
    // Ask the server once typing pauses, and again when the filter changes.
    Effect::new(move |_| {
        let asked = filter.get();
        set_timeout(
            move || {
                if filter.get_untracked() != asked {
                    return;
                }
                spawn_local(async move {
                    let result = get_json::<EventsBody>(&events_path(&asked, None)).await;
                    if filter.get_untracked() == asked {
                        answer.set(Some(
                            result.map(|body| Answer::new(asked, body)).map_err(|f| f.to_string()),
                        ));
                    }
                });
            },
            SEARCH_DELAY,
        );
    });
    let load_older = move |_| {
        let Some(Ok(current)) = answer.get_untracked() else {
            return;
        };
        let Some(before) = current.next_before else {
            return;
        };
        loading_older.set(true);
        spawn_local(async move {
            let result = get_json::<EventsBody>(&events_path(&current.filter, Some(before))).await;
            answer.update(|a| {
                if let (Some(Ok(a)), Ok(body)) = (a.as_mut(), result) {
                    if a.filter == current.filter {
                        let mut older = body.events;
                        older.reverse();
                        a.events.extend(older);
                        a.next_before = body.next_before;
                    }
                }
            });
            loading_older.set(false);
        });
    };

    // Live events the server's answer does not have that match, newest
    // first: those of later revisions, and those of its own revision it did
    // not list (an operator's action is stamped with the revision the
    // registry was at, so several can share one).
    let fresh = Memo::new(move |_| {
        answer.with(|a| {
            let Some(Ok(a)) = a else {
                return Vec::new();
            };
            let listed: Vec<&Event> = a.events.iter().take_while(|e| e.revision >= a.revision).collect();
            live.events.with(|events| {
                events
                    .iter()
                    .flatten()
                    .rev()
                    .take_while(|e| e.revision >= a.revision)
                    .filter(|e| e.revision > a.revision || !listed.contains(e))
                    .filter(|e| a.filter.matches(e))
                    .cloned()
                    .collect::<Vec<Event>>()
            })
        })
    });
    let rows = Memo::new(move |_| {
        let mut shown = fresh.get();
        answer.with(|a| {
            if let Some(Ok(a)) = a {
                shown.extend(a.events.iter().cloned());
            }
        });
        row_keys(shown)
    });
    let summary = move || {
        answer.with(|a| {
            let Some(Ok(a)) = a else {
                return String::new();
            };
            let new = fresh.with(Vec::len);
            let shown = rows.with(Vec::len);
            let since = a
                .oldest
                .as_deref()
                .map(|at| format!(", kept since {}", clock_time(at).unwrap_or_else(|| at.to_owned())))
                .unwrap_or_default();
            format!("showing {shown} of {} matching{since}", a.matched + new)
        })
    };

    let list = move || {
        match answer.with(|a| a.as_ref().map(|a| a.as_ref().map(|_| ()).map_err(Clone::clone))) {
        None => view! { <Loading/> }.into_any(),
        Some(Err(message)) => view! { <p class="error" role="alert">{message}</p> }.into_any(),
        Some(Ok(())) if rows.with(Vec::is_empty) => {
            view! { <p class="empty">"Nothing that matches has happened in the history kept."</p> }.into_any()
        }
        Some(Ok(())) => view! {
            <ol class="timeline">
                <For each=move || rows.get() key=|(key, _)| key.clone() let((_, event))>
                    <EventRow event/>
                </For>
            </ol>
            {move || answer.with(|a| matches!(a, Some(Ok(a)) if a.next_before.is_some())).then(|| view! {
                <button type="button" data-testid="events-older" disabled=move || loading_older.get() on:click=load_older>
                    "Load older events"
                </button>
            })}
        }
        .into_any(),
    }
    };
    view! {
        <section class="page">
            <h1>"Events"</h1>
            <div class="toolbar">
                <label>
                    "Kind "
                    <select on:change=move |ev| kind.set(input_text(&ev)) aria-label="Filter by kind" prop:value=move || kind.get()>
                        <option value="">"all"</option>
                        {EventKind::ALL.iter().map(|k| view! { <option value=k.as_str()>{k.as_str().replace('_', " ")}</option> }).collect_view()}
                    </select>
                </label>
                <input
                    type="search"
                    placeholder="Filter by service, key, name or user"
                    aria-label="Filter events"
                    data-testid="events-filter"
                    prop:value=move || text.get()
                    on:input=move |ev| text.set(input_text(&ev))
                />
                <label class="check">
                    <input
                        type="checkbox"
                        data-testid="events-quiet"
                        prop:checked=move || quiet.get()
                        on:change=move |ev| quiet.set(event_target_checked(&ev))
                    />
                    " Hide lock chatter"
                </label>
                {move || (!subject.get().is_empty()).then(|| view! {
                    <button type="button" on:click=move |_| subject.set(String::new())>
                        {format!("Subject {} ✕", subject.get())}
                    </button>
                })}
                <span class="count" data-testid="events-summary" role="status">{summary}</span>
            </div>
            {list}
        </section>
    }
}

#[component]
fn EventRow(event: Event) -> impl IntoView {
    let class = format!("event {}", event.kind);
    let kind = event.kind.as_str();
    let detail = event
        .detail
        .as_object()
        .map(|o| {
            o.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| format!("{k}: {}", v.as_str().map_or_else(|| v.to_string(), str::to_owned)))
                .collect::<Vec<_>>()
                .join(" · ")
        })
        .unwrap_or_default();
    let subject = match subject_link(&event) {
        Some(href) => view! { <a class="subject" href=href><code>{event.subject.clone()}</code></a> }.into_any(),
        None => view! { <code class="subject">{event.subject.clone()}</code> }.into_any(),
    };
    view! {
        <li class=class data-testid="event" data-kind=kind>
            <span class="when" title=event.at.clone()><Elapsed since=Some(event.at.clone())/> " ago"</span>
            <span class="kind">{kind.replace('_', " ")}</span>
            {subject}
            <span class="detail" title=detail.clone()>{detail.clone()}</span>
            <span class="revision">{format!("rev {}", event.revision)}</span>
            {past_link(&event).map(|href| view! {
                <a
                    class="then"
                    href=href
                    data-testid="event-past"
                    aria-label=format!("registry then, as of revision {}", event.revision)
                    title="See the registry at this moment"
                >
                    "registry then"
                </a>
            })}
        </li>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: EventKind, detail: serde_json::Value) -> Event {
        Event {
            revision: 42,
            at: "2026-12-07T03:12:40Z".to_owned(),
            kind,
            subject: "s".to_owned(),
            detail,
        }
    }

    #[test]
    fn an_event_leads_to_its_registry_page_as_of_its_revision() {
        let registered = event(EventKind::InstanceRegistered, serde_json::json!({ "service": "a/b" }));
        assert_eq!(past_link(&registered).as_deref(), Some("/services/a%2Fb?rev=42"));
        let expired = event(EventKind::LeaseExpired, serde_json::json!({}));
        assert_eq!(past_link(&expired).as_deref(), Some("/leases?rev=42"));
        let released = event(EventKind::LockReleased, serde_json::json!({}));
        assert_eq!(past_link(&released).as_deref(), Some("/locks?rev=42"));
        let elected = event(EventKind::LeaderElected, serde_json::json!({}));
        assert_eq!(past_link(&elected).as_deref(), Some("/elections?rev=42"));
        let went_back = event(EventKind::EtcdWentBack, serde_json::json!({}));
        assert_eq!(past_link(&went_back), None);
    }
}
