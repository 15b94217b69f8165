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

use super::table::{filter_and_sort_in_address, Column, SortHeader};
use super::{input_text, lowercase, Loading};
use crate::components::encode_segment;
use crate::components::past::ViewPast;
use crate::live::api::{get_json, ApiFailure};
use crate::live::Live;
use crate::model::{ServiceSummary, ServicesBody};

/// The services table's columns that sort.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Col {
    Name,
    Instances,
    WithLease,
    MinTtl,
}

impl Column for Col {
    const ALL: &'static [Self] = &[Col::Name, Col::Instances, Col::WithLease, Col::MinTtl];
    fn name(self) -> &'static str {
        match self {
            Col::Name => "name",
            Col::Instances => "instances",
            Col::WithLease => "leased",
            Col::MinTtl => "ttl",
        }
    }
}

fn compare(column: Col, a: &ServiceSummary, b: &ServiceSummary) -> std::cmp::Ordering {
    match column {
        Col::Name => a.name.cmp(&b.name),
        Col::Instances => a.instances.cmp(&b.instances),
        Col::WithLease => a.with_lease.cmp(&b.with_lease),
        Col::MinTtl => a.min_ttl.cmp(&b.min_ttl),
    }
}

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
    let (query, sort) = filter_and_sort_in_address::<Col>();
    let found = search_on_server(query);
    let rows = Memo::new(move |_| {
        let typed = query.get();
        let q = lowercase(typed.trim());
        let sort = sort.get();
        found.with(|found| {
            let by_server = found
                .as_ref()
                .filter(|(asked, _)| asked.as_str() == typed.trim())
                .and_then(|(_, names)| names.as_ref().ok());
            live.services.with(|c| {
                let mut found: Vec<&ServiceSummary> = c
                    .items
                    .values()
                    .filter(|s| {
                        q.is_empty()
                            || lowercase(&s.name).contains(&q)
                            || s.layouts.iter().any(|l| l.as_str().contains(&q))
                            || by_server.is_some_and(|names| names.contains(&s.name))
                    })
                    .collect();
                if let Some(sort) = sort {
                    found.sort_by(|a, b| sort.order(compare(sort.column, a, b).then_with(|| a.name.cmp(&b.name))));
                }
                found.into_iter().map(|s| s.name.clone()).collect::<Vec<String>>()
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
    #[derive(Clone, Copy, PartialEq)]
    enum Shown {
        Loading,
        Nothing,
        Rows,
    }
    let shown = Memo::new(move |_| match live.services.with(|c| (c.loaded, c.items.is_empty())) {
        (false, _) => Shown::Loading,
        (true, true) => Shown::Nothing,
        (true, false) => Shown::Rows,
    });
    let content = move || {
        match shown.get() {
        Shown::Loading => view! { <Loading/> }.into_any(),
        Shown::Nothing => view! {
            <div class="empty" data-testid="services-empty">
                <p>"No service is registered in the watched keys yet."</p>
                <p>
                    "Services appear here as soon as they register, in any layout Leasehold understands. To try one:"
                </p>
                <pre><code>"etcdctl put /microservices/hello/1 '{\"id\":\"1\",\"name\":\"hello\",\"endpoints\":[\"grpc://127.0.0.1:9000\"]}'"</code></pre>
            </div>
        }
        .into_any(),
        Shown::Rows => view! {
            <div class="scroll">
                <table class="grid">
                    <thead>
                        <tr>
                            <SortHeader label="Service" column=Col::Name sort/>
                            <th scope="col">"Layouts"</th>
                            <SortHeader label="Instances" column=Col::Instances sort numeric=true/>
                            <SortHeader label="On a lease" column=Col::WithLease sort numeric=true/>
                            <SortHeader label="Lowest TTL" column=Col::MinTtl sort numeric=true/>
                        </tr>
                    </thead>
                    <tbody>
                        <For each=move || rows.get() key=|name| name.clone() let:name>
                            <ServiceRow name/>
                        </For>
                    </tbody>
                </table>
            </div>
            {move || rows.with(Vec::is_empty).then(|| view! { <p class="empty">"No service matches the filter."</p> })}
        }
        .into_any(),
    }
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
                <span class="count" data-testid="services-count">
                    {move || {
                        let total = live.services.with(|c| c.items.len());
                        let shown = rows.with(Vec::len);
                        if shown == total { format!("{total} service(s)") } else { format!("{shown} of {total} service(s)") }
                    }}
                </span>
                <ViewPast/>
            </div>
            {search_error}
            {content}
        </section>
    }
}

/// One service's row; its cells follow the service, the row and its link stay.
#[component]
fn ServiceRow(name: String) -> impl IntoView {
    let live = Live::get();
    let service = Memo::new({
        let name = name.clone();
        move |_| live.services.with(|c| c.items.get(&name).cloned())
    });
    let cell =
        move |read: fn(&ServiceSummary) -> String| move || service.with(|s| s.as_ref().map(read).unwrap_or_default());
    let layouts = Memo::new(move |_| {
        service.with(|s| {
            s.as_ref()
                .map(|s| s.layouts.iter().map(|l| l.as_str()).collect::<Vec<&'static str>>())
                .unwrap_or_default()
        })
    });
    view! {
        <tr data-testid="service-row">
            <td>
                <a href=format!("/services/{}", encode_segment(&name))>{name.clone()}</a>
            </td>
            <td>
                {move || layouts.get().into_iter().map(|l| view! { <span class="badge">{l}</span> }).collect_view()}
            </td>
            <td class="num">{cell(|s| s.instances.to_string())}</td>
            <td class="num">{cell(|s| s.with_lease.to_string())}</td>
            <td class="num">{cell(|s| s.min_ttl.map_or_else(|| "—".to_owned(), |t| format!("{t} s")))}</td>
        </tr>
    }
}
