//! Leases: every lease with its TTL counting down, what it holds, and revoke
//! after a preview of exactly what revoking removes. A lease that holds no
//! key is an orphan: a client granted it and did not revoke it (tooz and
//! python-etcd3 leave one behind per lock attempt; server/src/registry/
//! layouts/CLIENTS.md), and it lasts until its TTL runs out. Filtering by
//! "orphan" shows those.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use super::table::mirror_in_address;
use super::{input_text, lowercase, Loading};
use crate::components::copy::CopyButton;
use crate::components::encode_segment;
use crate::components::past::ViewPast;
use crate::components::revoke::{RevokeDialog, Target};
use crate::components::ttl::Ttl;
use crate::live::Live;

/// What a lease holding no key says of itself, and what finds it in the filter.
const ORPHAN: &str = "orphan";

/// Lock and election names held by `lease` (hex), from the live queues.
fn holds(live: Live, lease: &str) -> Vec<String> {
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
}

#[component]
pub fn LeasesPage() -> impl IntoView {
    let live = Live::get();
    // Its topics are subscribed by the route (`deferred::watch_topics`).
    let query = use_query_map();
    let filter = RwSignal::new(query.read_untracked().get("lease").unwrap_or_default());
    mirror_in_address("lease", move || filter.get());
    let revoking = RwSignal::new(None::<String>);

    // The ids of the leases the filter lets through, in order. Ids only:
    // each row reads its own lease, so rows are changed in place.
    let rows = Memo::new(move |_| {
        let q = lowercase(filter.get().trim());
        live.leases.with(|c| {
            c.items
                .iter()
                .filter(|(id, l)| {
                    q.is_empty()
                        || id.contains(&q)
                        || l.value.services.iter().any(|s| lowercase(s).contains(&q))
                        || holds(live, id).iter().any(|h| lowercase(h).contains(&q))
                        || (l.value.keys == 0 && ORPHAN.contains(q.as_str()))
                })
                .map(|(id, _)| id.clone())
                .collect::<Vec<String>>()
        })
    });

    #[derive(Clone, Copy, PartialEq)]
    enum Shown {
        Loading,
        Empty,
        Rows,
    }
    let shown = Memo::new(move |_| {
        if !live.leases.with(|c| c.loaded) {
            Shown::Loading
        } else if rows.with(Vec::is_empty) {
            Shown::Empty
        } else {
            Shown::Rows
        }
    });
    let table = move || match shown.get() {
        Shown::Loading => view! { <Loading/> }.into_any(),
        Shown::Empty => view! { <p class="empty">"No lease matches."</p> }.into_any(),
        Shown::Rows => view! {
            <div class="scroll">
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
                        <For each=move || rows.get() key=|id| id.clone() let:id>
                            <LeaseRow id revoking/>
                        </For>
                    </tbody>
                </table>
            </div>
        }
        .into_any(),
    };

    view! {
        <section class="page">
            <h1>"Leases"</h1>
            <div class="toolbar">
                <input
                    type="search"
                    placeholder="Filter by lease id, service, lock or election, or \"orphan\""
                    aria-label="Filter leases"
                    prop:value=move || filter.get()
                    on:input=move |ev| filter.set(input_text(&ev))
                />
                <span class="count" data-testid="leases-count">
                    {move || {
                        let (total, orphans) =
                            live.leases.with(|c| (c.items.len(), c.items.values().filter(|l| l.value.keys == 0).count()));
                        let shown = rows.with(Vec::len);
                        let count =
                            if shown == total { format!("{total} lease(s)") } else { format!("{shown} of {total} lease(s)") };
                        if orphans == 0 { count } else { format!("{count}, {orphans} holding no key") }
                    }}
                </span>
                <ViewPast/>
            </div>
            {move || live.revoke_refusal().map(|why| view! { <p class="notice" data-testid="no-revoke">{why}</p> })}
            {table}
            {move || revoking.get().map(|lease| view! {
                <RevokeDialog target=Target::Lease(lease) on_close=Callback::new(move |()| revoking.set(None))/>
            })}
        </section>
    }
}

/// One lease's row; its cells follow the lease, the row stays.
#[component]
fn LeaseRow(id: String, revoking: RwSignal<Option<String>>) -> impl IntoView {
    let live = Live::get();
    let lease = Memo::new({
        let id = id.clone();
        move |_| live.leases.with(|c| c.items.get(&id).cloned())
    });
    let held = Memo::new({
        let id = id.clone();
        move |_| holds(live, &id)
    });
    let services = Memo::new(move |_| lease.with(|l| l.as_ref().map(|l| l.value.services.clone()).unwrap_or_default()));
    let ttl = move || {
        lease.with(|l| {
            l.as_ref().map(|stamped| {
                let l = &stamped.value;
                view! { <Ttl ttl=l.ttl granted=l.granted_ttl received_ms=stamped.received_ms/> }
            })
        })
    };
    let granted = move || {
        lease
            .with(|l| l.as_ref().and_then(|l| l.value.granted_ttl))
            .map_or_else(|| "—".to_owned(), |g| format!("{g} s"))
    };
    let keys = move || lease.with(|l| l.as_ref().map_or(0, |l| l.value.keys));
    let open = {
        let id = id.clone();
        move |_| revoking.set(Some(id.clone()))
    };
    view! {
        <tr data-testid="lease-row" data-lease=id.clone()>
            <td><code>{id.clone()}</code> " " <CopyButton text=id.clone() label="lease id"/></td>
            <td class="num">{ttl}</td>
            <td class="num">{granted}</td>
            <td class="num">{keys}</td>
            <td data-testid="lease-holds">
                {move || services.with(|services| (!services.is_empty()).then(|| view! {
                    <span class="holds">
                        {if services.len() == 1 { "instances of " } else { "instances of: " }}
                        {services
                            .iter()
                            .enumerate()
                            .map(|(i, name)| view! {
                                {(i > 0).then_some(", ")}
                                <a href=format!("/services/{}", encode_segment(name))>{name.clone()}</a>
                            })
                            .collect_view()}
                    </span>
                }))}
                {move || held.with(|held| (!held.is_empty()).then(|| view! { <span class="holds">{held.join(", ")}</span> }))}
                {move || (keys() == 0).then(|| view! {
                    <span class="holds orphan" data-testid="orphan" title="No key is attached: the client that granted it did not revoke it; it ends at its TTL">
                        {ORPHAN} " (holds no key)"
                    </span>
                })}
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
}
