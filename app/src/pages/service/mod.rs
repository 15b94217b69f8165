//! One service: its instance count over the last hour, registrations,
//! deregistrations and expiries marked (`history.rs`); its instances in a virtualised table (only the rows in view
//! are in the DOM, so 10,000 instances open and scroll like 10), TTLs
//! counting down, and an instance's raw key and value on click.

mod history;
mod order;
mod row;

use std::sync::Arc;

use leptos::prelude::*;
use leptos_router::hooks::use_params_map;

use super::table::{filter_and_sort_in_address, SortHeader};
use super::{input_text, lowercase, Loading};
use crate::components::decode_segment;
use crate::components::past::ViewPast;
use crate::live::{Live, Stamped};
use crate::model::Instance;
use history::ServiceHistory;
use order::{compare, matches, Col};
use row::{InstanceDetail, InstanceRow};

/// Height of one row in pixels; the CSS gives rows exactly this height.
const ROW: f64 = 34.0;
/// Height of the scrolling area in pixels (CSS `.virtual`).
const VIEWPORT: f64 = 560.0;
/// Rows rendered above and below the visible ones.
const OVERSCAN: usize = 8;

/// The ids a table shows, shared: the memo that holds them compares them by
/// identity, so a list kept as it was costs no comparison of its ids.
#[derive(Debug, Clone)]
struct Ids {
    list: Arc<Vec<String>>,
    /// The collection's [`members`](crate::live::Collection::members) the list was made from.
    members: u64,
    /// Made without a filter or an order: valid while `members` is.
    plain: bool,
}

impl PartialEq for Ids {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.list, &other.list)
    }
}

#[component]
pub fn ServicePage() -> impl IntoView {
    let live = Live::get();
    let params = use_params_map();
    let name = Memo::new(move |_| decode_segment(&params.read().get("name").unwrap_or_default()));
    // Its topics are subscribed by the route (`deferred::watch_topics`).

    let (query, sort) = filter_and_sort_in_address::<Col>();
    let scroll = RwSignal::new(0.0_f64);
    let selected = RwSignal::new(None::<String>);
    // Ids of the instances the filter lets through, in key order or the
    // chosen one; `None` before the snapshot. Ids only: the rows in view are
    // looked up. Sorting costs only when asked for, and without a filter or
    // an order the list is kept while the set of ids stays the same (500
    // instances changing a second change no list).
    let rows = Memo::new(move |prev: Option<&Option<Ids>>| {
        let q = lowercase(query.get().trim());
        let sort = sort.get();
        let plain = q.is_empty() && sort.is_none();
        live.instances.with(|all| {
            let c = all.get(&name.get())?;
            if let Some(Some(prev)) = prev {
                if plain && prev.plain && prev.members == c.members {
                    return Some(prev.clone());
                }
            }
            let mut found: Vec<(&String, &Stamped<Instance>)> =
                c.items.iter().filter(|(_, i)| matches(&i.value, &q)).collect();
            if let Some(sort) = sort {
                found.sort_by(|a, b| sort.order(compare(sort.column, a.1, b.1).then_with(|| a.0.cmp(b.0))));
            }
            let list = found.into_iter().map(|(id, _)| id.clone()).collect::<Vec<String>>();
            Some(Ids {
                list: Arc::new(list),
                members: c.members,
                plain,
            })
        })
    });
    let total = Memo::new(move |_| {
        live.instances
            .with(|all| all.get(&name.get()).map_or(0, |c| c.items.len()))
    });
    // While the rest of a large snapshot is still arriving.
    let partial = Memo::new(move |_| {
        live.instances
            .with(|all| all.get(&name.get()).is_some_and(|c| c.partial))
    });
    // (first, last, total): the rows in the DOM are `first..last`.
    let window = Memo::new(move |_| {
        let total = rows.with(|r| r.as_ref().map_or(0, |r| r.list.len()));
        super::rows_in_view(scroll.get(), total, ROW, VIEWPORT, OVERSCAN)
    });
    // The ids in the window; each row reads its own instance, so an update
    // changes its cells in place and a focused row keeps its focus.
    let visible = move || {
        let (first, last, _) = window.get();
        rows.with(|r| r.as_ref().and_then(|r| r.list.get(first..last)).map(<[String]>::to_vec))
            .unwrap_or_default()
    };
    let on_scroll = move |ev: leptos::ev::Event| {
        if let Some(top) = super::scroll_top(&ev) {
            scroll.set(top);
        }
    };

    #[derive(Clone, Copy, PartialEq)]
    enum Shown {
        Loading,
        Empty,
        Rows,
    }
    let shown = Memo::new(move |_| match rows.with(|r| r.as_ref().map(|r| r.list.is_empty())) {
        None => Shown::Loading,
        Some(true) if !partial.get() => Shown::Empty,
        Some(_) => Shown::Rows,
    });
    // Only the parts that change are reactive: scrolling moves the spacers
    // and swaps the rows that enter and leave the window, keyed by instance
    // and arrival, so a row is rebuilt only when its instance changed.
    let table = move || match shown.get() {
        Shown::Loading => view! { <Loading/> }.into_any(),
        Shown::Empty => {
            let text = if query.with(String::is_empty) {
                "This service has no instance right now; they appear here as they register."
            } else {
                "No instance matches the filter."
            };
            view! { <p class="empty" data-testid="instances-empty">{text}</p> }.into_any()
        }
        Shown::Rows => view! {
            <p class="summary">
                <span data-testid="instances-count">
                    {move || {
                        let shown = window.get().2;
                        let all = total.get();
                        let count = if shown == all {
                            format!("{all} instance(s)")
                        } else {
                            format!("{shown} of {all} instance(s) match")
                        };
                        if partial.get() {
                            format!("{count} so far; the rest is arriving")
                        } else {
                            count
                        }
                    }}
                </span>
            </p>
            <div class="virtual" on:scroll=on_scroll data-testid="instances">
                <table class="grid">
                    <thead>
                        <tr>
                            <SortHeader label="Status" column=Col::Status sort/>
                            <SortHeader label="Address" column=Col::Address sort/>
                            <SortHeader label="Instance" column=Col::Instance sort/>
                            <SortHeader label="Version" column=Col::Version sort/>
                            <SortHeader label="Layout" column=Col::Layout sort/>
                            <th scope="col">"Metadata"</th>
                            <th scope="col">"Lease"</th>
                            <SortHeader label="TTL" column=Col::Ttl sort numeric=true/>
                        </tr>
                    </thead>
                    <tbody>
                        <tr
                            class="spacer"
                            style=move || format!("height:{}px", window.get().0 as f64 * ROW)
                            aria-hidden="true"
                        ></tr>
                        <For each=visible key=|id| id.clone() let(id)>
                            <InstanceRow id service=name selected/>
                        </For>
                        <tr
                            class="spacer"
                            style=move || {
                                let (_, last, total) = window.get();
                                format!("height:{}px", (total - last) as f64 * ROW)
                            }
                            aria-hidden="true"
                        ></tr>
                    </tbody>
                </table>
            </div>
        }
        .into_any(),
    };

    let detail = move || {
        let id = selected.get()?;
        let instance = live
            .instances
            .with(|all| all.get(&name.get())?.items.get(&id).map(|s| s.value.clone()))?;
        Some(view! { <InstanceDetail instance/> })
    };

    // Escape closes the instance's panel.
    let on_keydown = move |ev: leptos::ev::KeyboardEvent| {
        if ev.key() == "Escape" && selected.with_untracked(Option::is_some) {
            selected.set(None);
        }
    };
    view! {
        <section class="page" on:keydown=on_keydown>
            <p class="crumbs"><a href="/services">"Services"</a> " / "</p>
            <h1>{move || name.get()}</h1>
            <ServiceHistory name/>
            <div class="toolbar">
                <input
                    type="search"
                    placeholder="Filter by address, id, version or metadata"
                    aria-label="Filter instances"
                    prop:value=move || query.get()
                    on:input=move |ev| {
                        query.set(input_text(&ev));
                        scroll.set(0.0);
                    }
                />
                <ViewPast/>
            </div>
            {table}
            {detail}
        </section>
    }
}
