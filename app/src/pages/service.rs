//! One service: its instances in a virtualised table (only the rows in view
//! are in the DOM, so 10,000 instances open and scroll like 10), TTLs
//! counting down, and an instance's raw key and value on click.

use leptos::prelude::*;
use leptos_router::hooks::use_params_map;

use super::{input_text, lowercase, Loading};
use crate::components::copy::CopyButton;
use crate::components::decode_segment;
use crate::components::ttl::Ttl;
use crate::live::{Live, Stamped};
use crate::model::Instance;

/// Height of one row in pixels; the CSS gives rows exactly this height.
const ROW: f64 = 34.0;
/// Height of the scrolling area in pixels (CSS `.virtual`).
const VIEWPORT: f64 = 560.0;
/// Rows rendered above and below the visible ones.
const OVERSCAN: usize = 8;

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

    let query = RwSignal::new(String::new());
    let scroll = RwSignal::new(0.0_f64);
    let selected = RwSignal::new(None::<String>);
    // Ids of the instances the filter lets through, in key order; `None`
    // before the snapshot. Ids only: the rows in view are looked up.
    let rows = Memo::new(move |_| {
        let q = lowercase(query.get().trim());
        live.instances.with(|all| {
            all.get(&name.get()).map(|c| {
                c.items
                    .iter()
                    .filter(|(_, i)| matches(&i.value, &q))
                    .map(|(id, _)| id.clone())
                    .collect::<Vec<String>>()
            })
        })
    });
    // While the rest of a large snapshot is still arriving.
    let partial = Memo::new(move |_| {
        live.instances
            .with(|all| all.get(&name.get()).is_some_and(|c| c.partial))
    });
    // (first, last, total): the rows in the DOM are `first..last`.
    let window = Memo::new(move |_| {
        let total = rows.with(|r| r.as_ref().map_or(0, Vec::len));
        super::rows_in_view(scroll.get(), total, ROW, VIEWPORT, OVERSCAN)
    });
    let visible = move || {
        let (first, last, _) = window.get();
        let ids = rows.with(|r| r.as_ref().and_then(|r| r.get(first..last)).map(<[String]>::to_vec));
        live.instances.with(|all| {
            let items = all.get(&name.get()).map(|c| &c.items);
            ids.unwrap_or_default()
                .iter()
                .filter_map(|id| items?.get(id).cloned())
                .collect::<Vec<Stamped<Instance>>>()
        })
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
    let shown = Memo::new(move |_| match rows.with(|r| r.as_ref().map(Vec::is_empty)) {
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
                {move || {
                    let total = window.get().2;
                    if partial.get() {
                        format!("{total} instance(s) so far; the rest is arriving")
                    } else {
                        format!("{total} instance(s)")
                    }
                }}
            </p>
            <div class="virtual" on:scroll=on_scroll data-testid="instances">
                <table class="grid">
                    <thead>
                        <tr>
                            <th scope="col">"Address"</th>
                            <th scope="col">"Instance"</th>
                            <th scope="col">"Version"</th>
                            <th scope="col">"Layout"</th>
                            <th scope="col">"Metadata"</th>
                            <th scope="col">"Lease"</th>
                            <th scope="col" class="num">"TTL"</th>
                        </tr>
                    </thead>
                    <tbody>
                        <tr
                            class="spacer"
                            style=move || format!("height:{}px", window.get().0 as f64 * ROW)
                            aria-hidden="true"
                        ></tr>
                        <For
                            each=visible
                            key=|stamped| (stamped.value.id.clone(), stamped.received_ms.to_bits())
                            let(stamped)
                        >
                            <InstanceRow stamped selected/>
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

    view! {
        <section class="page">
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

/// One row of the instances table.
#[component]
fn InstanceRow(stamped: Stamped<Instance>, selected: RwSignal<Option<String>>) -> impl IntoView {
    let i = stamped.value;
    let id = i.id.clone();
    let is_selected = {
        let id = id.clone();
        move || selected.get().as_deref() == Some(id.as_str())
    };
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
            <td>
                {match (&i.address, &i.error) {
                    (Some(a), _) => view! { <code>{a.clone()}</code> }.into_any(),
                    (None, Some(e)) => view! { <span class="bad" title=e.clone()>"unparsed value"</span> }.into_any(),
                    (None, None) => view! { <span>"—"</span> }.into_any(),
                }}
            </td>
            <td class="key" title=i.key.clone()>{i.key.rsplit('/').next().unwrap_or_default().to_owned()}</td>
            <td>{i.version.clone().unwrap_or_else(|| "—".to_owned())}</td>
            <td><span class="badge">{i.layout.as_str()}</span></td>
            <td class="chips">
                {i.metadata.iter().map(|(k, v)| view! { <span class="chip">{format!("{k}={v}")}</span> }).collect_view()}
            </td>
            <td>{i.lease.map(|l| view! { <code>{l.to_string()}</code> })}</td>
            <td class="num"><Ttl ttl=i.ttl granted=i.granted_ttl received_ms=stamped.received_ms/></td>
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
