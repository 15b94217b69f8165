//! Locks: each lock as a queue, the holder and the waiters in order, live.
//! Breaking a lock is revoking its holder's lease, through the same preview.

use leptos::prelude::*;

use super::Loading;
use crate::components::copy::CopyButton;
use crate::components::revoke::RevokeDialog;
use crate::components::time::Elapsed;
use crate::live::Live;
use crate::model::{Contender, Lock};

#[component]
pub fn LocksPage() -> impl IntoView {
    let live = Live::get();
    // Its topics are subscribed by the route (`deferred::watch_topics`).
    let breaking = RwSignal::new(None::<(String, String)>);
    let content = move || {
        let (loaded, locks) = live
            .locks
            .with(|c| (c.loaded, c.items.values().cloned().collect::<Vec<Lock>>()));
        if !loaded {
            return view! { <Loading/> }.into_any();
        }
        if locks.is_empty() {
            return view! {
                <div class="empty">
                    <p>"No lock is held or waited for. Locks taken with etcd's concurrency API show here, e.g.:"</p>
                    <pre><code>"etcdctl lock my-job"</code></pre>
                </div>
            }
            .into_any();
        }
        locks
            .into_iter()
            .map(|lock| {
                let name = lock.name.clone();
                view! {
                    <article class="queue" data-testid="lock" data-name=name.clone()>
                        <header>
                            <h2>{name.clone()}</h2>
                            {lock.holder.clone().filter(|_| live.may_revoke()).map(|holder| {
                                let name = name.clone();
                                let lease = holder.lease.to_string();
                                view! {
                                    <button
                                        type="button"
                                        class="danger"
                                        data-testid="break-lock"
                                        on:click=move |_| breaking.set(Some((name.clone(), lease.clone())))
                                    >
                                        "Break lock…"
                                    </button>
                                }
                            })}
                        </header>
                        <ol class="contenders">
                            {lock.holder.map(|holder| view! { <ContenderRow contender=holder holder=true/> })}
                            {lock.waiters.into_iter().map(|w| view! { <ContenderRow contender=w holder=false/> }).collect_view()}
                        </ol>
                    </article>
                }
            })
            .collect_view()
            .into_any()
    };
    view! {
        <section class="page">
            <h1>"Locks"</h1>
            {move || live.revoke_refusal().map(|why| view! { <p class="notice" data-testid="no-revoke">{why}</p> })}
            {content}
            {move || breaking.get().map(|(name, lease)| view! {
                <RevokeDialog
                    lease
                    title=format!("Break lock {name}: revoke the holder's lease")
                    on_close=Callback::new(move |()| breaking.set(None))
                />
            })}
        </section>
    }
}

#[component]
fn ContenderRow(contender: Contender, holder: bool) -> impl IntoView {
    let lease = contender.lease.to_string();
    view! {
        <li class=if holder { "holder" } else { "waiter" } data-testid=if holder { "holder" } else { "waiter" }>
            <span class="role">{if holder { "holds" } else { "waits" }}</span>
            <code class="key">{contender.key.clone()}</code>
            <CopyButton text=contender.key.clone() label="key"/>
            <span>"lease " <a href=format!("/leases?lease={lease}")><code>{lease.clone()}</code></a></span>
            <span>{if holder { "held for " } else { "waiting " }} <Elapsed since=contender.since.clone()/></span>
            <span>"TTL " {contender.ttl.map_or_else(|| "—".to_owned(), |t| format!("{t} s"))}</span>
        </li>
    }
}
