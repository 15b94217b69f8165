//! One instance: its row in the table, changed in place cell by cell, with
//! its status, and the panel with its raw key and value.

use leptos::prelude::*;

use crate::components::copy::CopyButton;
use crate::components::encode_segment;
use crate::components::ttl::Ttl;
use crate::live::{remaining, Live};
use crate::model::Instance;

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

/// One row of the instances table: the row stays while its instance
/// changes, its cells follow.
#[component]
pub(super) fn InstanceRow(id: String, service: Memo<String>, selected: RwSignal<Option<String>>) -> impl IntoView {
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
                let i = &s.value;
                let first = i.layout.headline_metadata();
                let headline = first.iter().filter_map(|k| i.metadata.get_key_value(*k));
                let rest = i.metadata.iter().filter(|(k, _)| !first.contains(&k.as_str()));
                headline
                    .chain(rest)
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
            <td><span class="badge" title=move || stamped.with(|s| s.as_ref().map(|s| s.value.layout.evidence()))>{layout}</span></td>
            <td class="chips">{metadata}</td>
            <td>{lease}</td>
            <td class="num">{ttl}</td>
        </tr>
    }
}

#[component]
pub(super) fn InstanceDetail(instance: Instance) -> impl IntoView {
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
                <dt>"Layout"</dt>
                <dd data-testid="instance-layout">
                    <span class="badge">{instance.layout.as_str()}</span> " " {instance.layout.evidence()} " "
                    <a href=format!("/config?key={}", encode_segment(&instance.id))>"why, in the configuration centre"</a>
                </dd>
                {instance.error.clone().map(|e| view! { <dt>"Problem"</dt><dd class="bad">{e}</dd> })}
                <dt>"Value"</dt>
                <dd><pre class="value">{pretty}</pre></dd>
            </dl>
        </aside>
    }
}
