//! Leases: every lease with its TTL counting down, what it holds, and revoke
//! after a preview of exactly what revoking removes.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use super::{input_text, lowercase, Loading};
use crate::components::copy::CopyButton;
use crate::components::encode_segment;
use crate::components::revoke::RevokeDialog;
use crate::components::ttl::Ttl;
use crate::live::{Live, Stamped};
use crate::model::Lease;

#[component]
pub fn LeasesPage() -> impl IntoView {
    let live = Live::get();
    // Its topics are subscribed by the route (`deferred::watch_topics`).
    let query = use_query_map();
    let filter = RwSignal::new(query.read_untracked().get("lease").unwrap_or_default());
    let revoking = RwSignal::new(None::<String>);

    // Lock and election names per lease, from the live queues.
    let holds = move |lease: &str| -> Vec<String> {
        let mut out = Vec::new();
        live.locks.with(|c| {
            for lock in c.items.values() {
                let mut queue = lock.holder.iter().chain(lock.waiters.iter());
                if queue.any(|c| c.lease.to_string() == lease) {
                    out.push(format!("lock {}", lock.name));
                }
            }
        });
        live.elections.with(|c| {
            for election in c.items.values() {
                let mut queue = election.leader.iter().chain(election.candidates.iter());
                if queue.any(|c| c.contender.lease.to_string() == lease) {
                    out.push(format!("election {}", election.name));
                }
            }
        });
        out
    };
    let rows = Memo::new(move |_| {
        let q = lowercase(filter.get().trim());
        live.leases.with(|c| {
            c.items
                .values()
                .filter(|l| {
                    let id = l.value.id.to_string();
                    q.is_empty()
                        || id.contains(&q)
                        || l.value.services.iter().any(|s| lowercase(s).contains(&q))
                        || holds(&id).iter().any(|h| lowercase(h).contains(&q))
                })
                .cloned()
                .collect::<Vec<Stamped<Lease>>>()
        })
    });

    let table = move || {
        if !live.leases.with(|c| c.loaded) {
            return view! { <Loading/> }.into_any();
        }
        let rows = rows.get();
        if rows.is_empty() {
            return view! { <p class="empty">"No lease matches."</p> }.into_any();
        }
        view! {
            <table class="grid">
                <thead>
                    <tr>
                        <th scope="col">"Lease"</th>
                        <th scope="col" class="num">"TTL"</th>
                        <th scope="col" class="num">"Granted"</th>
                        <th scope="col" class="num">"Keys"</th>
                        <th scope="col">"Holds"</th>
                        <th scope="col"><span class="sr-only">"Actions"</span></th>
                    </tr>
                </thead>
                <tbody>
                    {rows
                        .into_iter()
                        .map(|stamped| {
                            let lease = stamped.value;
                            let id = lease.id.to_string();
                            let held = holds(&id);
                            let open = {
                                let id = id.clone();
                                move |_| revoking.set(Some(id.clone()))
                            };
                            view! {
                                <tr data-testid="lease-row" data-lease=id.clone()>
                                    <td><code>{id.clone()}</code> " " <CopyButton text=id.clone() label="lease id"/></td>
                                    <td class="num"><Ttl ttl=lease.ttl granted=lease.granted_ttl received_ms=stamped.received_ms/></td>
                                    <td class="num">{lease.granted_ttl.map_or_else(|| "—".to_owned(), |g| format!("{g} s"))}</td>
                                    <td class="num">{lease.keys}</td>
                                    <td data-testid="lease-holds">
                                        {(!lease.services.is_empty()).then(|| view! {
                                            <span class="holds">
                                                {if lease.services.len() == 1 { "instances of " } else { "instances of: " }}
                                                {lease
                                                    .services
                                                    .iter()
                                                    .enumerate()
                                                    .map(|(i, name)| view! {
                                                        {(i > 0).then_some(", ")}
                                                        <a href=format!("/services/{}", encode_segment(name))>{name.clone()}</a>
                                                    })
                                                    .collect_view()}
                                            </span>
                                        })}
                                        {(!held.is_empty()).then(|| view! { <span class="holds">{held.join(", ")}</span> })}
                                    </td>
                                    <td>
                                        {move || live.may_revoke().then(|| {
                                            let open = open.clone();
                                            view! {
                                                <button type="button" class="danger" data-testid="revoke" on:click=open>
                                                    "Revoke…"
                                                </button>
                                            }
                                        })}
                                    </td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
        }
        .into_any()
    };

    view! {
        <section class="page">
            <h1>"Leases"</h1>
            <div class="toolbar">
                <input
                    type="search"
                    placeholder="Filter by lease id, service, lock or election"
                    aria-label="Filter leases"
                    prop:value=move || filter.get()
                    on:input=move |ev| filter.set(input_text(&ev))
                />
            </div>
            {move || live.revoke_refusal().map(|why| view! { <p class="notice" data-testid="no-revoke">{why}</p> })}
            {table}
            {move || revoking.get().map(|lease| view! {
                <RevokeDialog lease title="Revoke lease" on_close=Callback::new(move |()| revoking.set(None))/>
            })}
        </section>
    }
}
