//! One service: its instances in a virtualised table (only the rows in view
//! are in the DOM, so 10,000 instances open and scroll like 10), TTLs
//! counting down, and an instance's raw key and value on click.

use std::sync::Arc;

use leptos::prelude::*;
use leptos_router::hooks::use_params_map;

use super::table::{filter_and_sort_in_address, Column, SortHeader};
use super::{input_text, lowercase, Loading};
use crate::components::copy::CopyButton;
use crate::components::decode_segment;
use crate::components::ttl::Ttl;
use crate::live::{remaining, Live, Stamped};
use crate::model::Instance;

/// Height of one row in pixels; the CSS gives rows exactly this height.
const ROW: f64 = 34.0;
/// Height of the scrolling area in pixels (CSS `.virtual`).
const VIEWPORT: f64 = 560.0;
/// Rows rendered above and below the visible ones.
const OVERSCAN: usize = 8;

/// The instance table's columns that sort.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Col {
    Status,
    Address,
    Instance,
    Version,
    Layout,
    Ttl,
}

impl Column for Col {
    const ALL: &'static [Self] = &[
        Col::Status,
        Col::Address,
        Col::Instance,
        Col::Version,
        Col::Layout,
        Col::Ttl,
    ];
    fn name(self) -> &'static str {
        match self {
            Col::Status => "status",
            Col::Address => "address",
            Col::Instance => "instance",
            Col::Version => "version",
            Col::Layout => "layout",
            Col::Ttl => "ttl",
        }
    }
}

/// An instance's state for the status column: `(class, text)`. What its own
/// registry declares comes first, then a value that did not parse, then the
/// lease: expired, or expiring (a fifth of its TTL left), else live.
fn status(i: &Instance, left: Option<i64>) -> (&'static str, String) {
    if let Some(declared) = &i.declared {
        return ("bad", declared.clone());
    }
    if i.error.is_some() {
        return ("bad", "unparsed value".to_owned());
    }
    match (left, i.granted_ttl) {
        (Some(l), _) if l < 0 => ("bad", "expired".to_owned()),
        (Some(l), Some(g)) if g > 0 && l * 5 <= g => ("warn", "expiring".to_owned()),
        _ => ("ok", "live".to_owned()),
    }
}

/// The order `column` puts two instances in (ascending).
fn compare(column: Col, a: &Stamped<Instance>, b: &Stamped<Instance>) -> std::cmp::Ordering {
    let (x, y) = (&a.value, &b.value);
    match column {
        // Out of service first: declared, unparsed, then by the TTL left.
        Col::Status => {
            let rank = |i: &Instance| u8::from(i.declared.is_none()) * 2 + u8::from(i.error.is_none());
            rank(x).cmp(&rank(y)).then(x.ttl.cmp(&y.ttl))
        }
        Col::Address => x.address.cmp(&y.address),
        Col::Instance => x.id.cmp(&y.id),
        Col::Version => x.version.cmp(&y.version),
        Col::Layout => x.layout.as_str().cmp(y.layout.as_str()),
        Col::Ttl => x.ttl.cmp(&y.ttl),
    }
}

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

fn matches(instance: &Instance, query: &str) -> bool {
    query.is_empty()
        || lowercase(&instance.id).contains(query)
        || instance.address.as_deref().is_some_and(|a| a.contains(query))
        || instance
            .version
            .as_deref()
            .is_some_and(|v| lowercase(v).contains(query))
        || instance
            .metadata
            .iter()
            .any(|(k, v)| lowercase(k).contains(query) || lowercase(v).contains(query))
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
            </div>
            {table}
            {detail}
        </section>
    }
}

/// One row of the instances table: the row stays while its instance
/// changes, its cells follow.
#[component]
fn InstanceRow(id: String, service: Memo<String>, selected: RwSignal<Option<String>>) -> impl IntoView {
    let live = Live::get();
    let stamped = Memo::new({
        let id = id.clone();
        move |_| {
            live.instances
                .with(|all| all.get(&service.get())?.items.get(&id).cloned())
        }
    });
    let is_selected = {
        let id = id.clone();
        move || selected.get().as_deref() == Some(id.as_str())
    };
    let address = move || {
        stamped.with(|s| {
            let i = &s.as_ref()?.value;
            Some(match (&i.address, &i.error) {
                (Some(a), _) => view! { <code>{a.clone()}</code> }.into_any(),
                (None, Some(e)) => view! { <span class="bad" title=e.clone()>"unparsed value"</span> }.into_any(),
                (None, None) => view! { <span>"—"</span> }.into_any(),
            })
        })
    };
    let key = Memo::new(move |_| stamped.with(|s| s.as_ref().map(|s| s.value.key.clone()).unwrap_or_default()));
    let version = move || {
        stamped.with(|s| {
            s.as_ref()
                .and_then(|s| s.value.version.clone())
                .unwrap_or_else(|| "—".to_owned())
        })
    };
    let layout = move || stamped.with(|s| s.as_ref().map(|s| s.value.layout.as_str()));
    let metadata = move || {
        stamped.with(|s| {
            s.as_ref().map(|s| {
                s.value
                    .metadata
                    .iter()
                    .map(|(k, v)| view! { <span class="chip">{format!("{k}={v}")}</span> })
                    .collect_view()
            })
        })
    };
    let lease = move || {
        stamped
            .with(|s| s.as_ref().and_then(|s| s.value.lease))
            .map(|l| view! { <code>{l.to_string()}</code> })
    };
    let ttl = move || {
        stamped.with(|s| {
            s.as_ref().map(|s| {
                let i = &s.value;
                view! { <Ttl ttl=i.ttl granted=i.granted_ttl received_ms=s.received_ms/> }
            })
        })
    };
    let state = Memo::new(move |_| {
        let now = live.now_ms.get();
        stamped.with(|s| {
            s.as_ref()
                .map(|s| status(&s.value, remaining(s.value.ttl, s.received_ms, now)))
        })
    });
    view! {
        <tr
            class="row"
            class:selected=is_selected
            data-testid="instance-row"
            tabindex="0"
            on:click={
                let id = id.clone();
                move |_| selected.set(Some(id.clone()))
            }
            on:keydown={
                let id = id.clone();
                move |ev| {
                    if ev.key() == "Enter" {
                        selected.set(Some(id.clone()));
                    }
                }
            }
        >
            <td data-testid="instance-status">
                {move || state.get().map(|(class, text)| view! { <span class=format!("state {class}")>{text}</span> })}
            </td>
            <td>{address}</td>
            <td class="key" title=move || key.get()>{move || key.with(|k| k.rsplit('/').next().unwrap_or_default().to_owned())}</td>
            <td>{version}</td>
            <td><span class="badge">{layout}</span></td>
            <td class="chips">{metadata}</td>
            <td>{lease}</td>
            <td class="num">{ttl}</td>
        </tr>
    }
}

#[component]
fn InstanceDetail(instance: Instance) -> impl IntoView {
    let pretty = serde_json::from_str::<serde_json::Value>(&instance.value)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| instance.value.clone());
    view! {
        <aside class="detail" data-testid="instance-detail" aria-label="Instance details">
            <h2>"Instance"</h2>
            <dl>
                <dt>"Key"</dt>
                <dd><code>{instance.key.clone()}</code> " " <CopyButton text=instance.key.clone() label="key"/></dd>
                <dt>"Revisions"</dt>
                <dd>{format!("created at {}, modified at {}", instance.create_revision, instance.mod_revision)}</dd>
                <dt>"Lease"</dt>
                <dd>
                    {match instance.lease {
                        Some(lease) => view! {
                            <a href=format!("/leases?lease={lease}")><code>{lease.to_string()}</code></a>
                            " " <CopyButton text=lease.to_string() label="lease id"/>
                        }.into_any(),
                        None => view! { <span>"none: this key stays until deleted"</span> }.into_any(),
                    }}
                </dd>
                {instance.error.clone().map(|e| view! { <dt>"Problem"</dt><dd class="bad">{e}</dd> })}
                <dt>"Value"</dt>
                <dd><pre class="value">{pretty}</pre></dd>
            </dl>
        </aside>
    }
}
