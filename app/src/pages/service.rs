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
use crate::model::{Instance, Topic};

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
    // Follow the service named in the URL, whichever it is now.
    Effect::new(move |_| live.watch(Topic::Service(name.get())));

    let query = RwSignal::new(String::new());
    let scroll = RwSignal::new(0.0_f64);
    let selected = RwSignal::new(None::<String>);
    let rows = Memo::new(move |_| {
        let q = lowercase(query.get().trim());
        live.instances.with(|all| {
            all.get(&name.get()).map(|c| {
                c.items
                    .values()
                    .filter(|i| matches(&i.value, &q))
                    .cloned()
                    .collect::<Vec<Stamped<Instance>>>()
            })
        })
    });
    let on_scroll = move |ev: leptos::ev::Event| {
        use leptos::wasm_bindgen::JsCast;
        if let Some(element) = ev.target().and_then(|t| t.dyn_into::<leptos::web_sys::Element>().ok()) {
            scroll.set(f64::from(element.scroll_top()));
        }
    };

    let table = move || {
        let Some(rows) = rows.get() else {
            return view! { <Loading/> }.into_any();
        };
        if rows.is_empty() {
            let text = if query.with(String::is_empty) {
                "This service has no instance right now; they appear here as they register."
            } else {
                "No instance matches the filter."
            };
            return view! { <p class="empty" data-testid="instances-empty">{text}</p> }.into_any();
        }
        let total = rows.len();
        let first = ((scroll.get() / ROW).floor() as usize)
            .saturating_sub(OVERSCAN)
            .min(total);
        let last = (first + (VIEWPORT / ROW).ceil() as usize + 2 * OVERSCAN).min(total);
        let above = first as f64 * ROW;
        let below = (total - last) as f64 * ROW;
        view! {
            <p class="summary">{format!("{total} instance(s)")}</p>
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
                        <tr class="spacer" style=format!("height:{above}px") aria-hidden="true"></tr>
                        {rows[first..last]
                            .iter()
                            .map(|stamped| {
                                let i = stamped.value.clone();
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
                            })
                            .collect_view()}
                        <tr class="spacer" style=format!("height:{below}px") aria-hidden="true"></tr>
                    </tbody>
                </table>
            </div>
        }
        .into_any()
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
