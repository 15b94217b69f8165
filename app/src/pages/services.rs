//! Services: every service, its layouts, instances, how many are on a lease,
//! and the lowest TTL; filtered as you type.
//!
//! The filter matches names and layouts at once, in the browser; matches in
//! the instances' metadata, versions and addresses come from the server
//! (`GET /api/v1/services?q=`), which holds the instances, a moment later.

use std::collections::BTreeSet;
use std::time::Duration;

use leptos::prelude::*;
use leptos::task::spawn_local;

use super::{input_text, lowercase, Loading};
use crate::components::encode_segment;
use crate::live::api::{get_json, ApiFailure};
use crate::live::Live;
use crate::model::{ServiceSummary, ServicesBody};

/// How long typing pauses before the server is asked.
const SEARCH_DELAY: Duration = Duration::from_millis(250);

/// The server's answer for one query: the names it found, or why it could not.
type Found = (String, Result<BTreeSet<String>, ApiFailure>);

/// Asks the server which services `query` finds, once typing pauses.
fn search_on_server(query: RwSignal<String>) -> RwSignal<Option<Found>> {
    let found = RwSignal::new(None::<Found>);
    Effect::new(move |_| {
        let q = query.get().trim().to_owned();
        if q.is_empty() {
            found.set(None);
            return;
        }
        set_timeout(
            move || {
                if query.get_untracked().trim() != q {
                    return;
                }
                spawn_local(async move {
                    let path = format!("/api/v1/services?q={}", encode_segment(&q));
                    let result = get_json::<ServicesBody>(&path).await.map(|body| {
                        let mut names = BTreeSet::new();
                        for service in body.services {
                            names.insert(service.name);
                        }
                        names
                    });
                    if query.get_untracked().trim() == q {
                        found.set(Some((q, result)));
                    }
                });
            },
            SEARCH_DELAY,
        );
    });
    found
}

#[component]
pub fn ServicesPage() -> impl IntoView {
    let live = Live::get();
    // Its topics are subscribed by the route (`deferred::watch_topics`).
    let query = RwSignal::new(String::new());
    let found = search_on_server(query);
    let rows = Memo::new(move |_| {
        let typed = query.get();
        let q = lowercase(typed.trim());
        found.with(|found| {
            let by_server = found
                .as_ref()
                .filter(|(asked, _)| asked.as_str() == typed.trim())
                .and_then(|(_, names)| names.as_ref().ok());
            live.services.with(|c| {
                c.items
                    .values()
                    .filter(|s| {
                        q.is_empty()
                            || lowercase(&s.name).contains(&q)
                            || s.layouts.iter().any(|l| l.as_str().contains(&q))
                            || by_server.is_some_and(|names| names.contains(&s.name))
                    })
                    .cloned()
                    .collect::<Vec<ServiceSummary>>()
            })
        })
    });
    let search_error = move || {
        found.with(|found| match found {
            Some((_, Err(failure))) => Some(view! {
                <p class="error" role="alert">{format!("Searching metadata failed: {failure}")}</p>
            }),
            _ => None,
        })
    };
    let content = move || {
        let (loaded, total) = live.services.with(|c| (c.loaded, c.items.len()));
        if !loaded {
            return view! { <Loading/> }.into_any();
        }
        if total == 0 {
            return view! {
                <div class="empty" data-testid="services-empty">
                    <p>"No service is registered in the watched keys yet."</p>
                    <p>
                        "Services appear here as soon as they register, in any layout Leasehold understands. To try one:"
                    </p>
                    <pre><code>"etcdctl put /microservices/hello/1 '{\"id\":\"1\",\"name\":\"hello\",\"endpoints\":[\"grpc://127.0.0.1:9000\"]}'"</code></pre>
                </div>
            }
            .into_any();
        }
        view! {
            <table class="grid">
                <thead>
                    <tr>
                        <th scope="col">"Service"</th>
                        <th scope="col">"Layouts"</th>
                        <th scope="col" class="num">"Instances"</th>
                        <th scope="col" class="num">"On a lease"</th>
                        <th scope="col" class="num">"Lowest TTL"</th>
                    </tr>
                </thead>
                <tbody>
                    <For each=move || rows.get() key=|s| (s.name.clone(), s.instances, s.with_lease, s.min_ttl, s.layouts.clone()) let:service>
                        <tr data-testid="service-row">
                            <td>
                                <a href=format!("/services/{}", encode_segment(&service.name))>{service.name.clone()}</a>
                            </td>
                            <td>
                                {service.layouts.iter().map(|l| view! { <span class="badge">{l.as_str()}</span> }).collect_view()}
                            </td>
                            <td class="num">{service.instances}</td>
                            <td class="num">{service.with_lease}</td>
                            <td class="num">{service.min_ttl.map_or_else(|| "—".to_owned(), |t| format!("{t} s"))}</td>
                        </tr>
                    </For>
                </tbody>
            </table>
            {move || rows.with(Vec::is_empty).then(|| view! { <p class="empty">"No service matches the filter."</p> })}
        }
        .into_any()
    };
    view! {
        <section class="page">
            <h1>"Services"</h1>
            <div class="toolbar">
                <input
                    type="search"
                    placeholder="Filter by name, layout, metadata, version or address"
                    aria-label="Filter services"
                    data-testid="services-filter"
                    prop:value=move || query.get()
                    on:input=move |ev| query.set(input_text(&ev))
                />
            </div>
            {search_error}
            {content}
        </section>
    }
}
