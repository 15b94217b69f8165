//! Locks: each lock as a queue, the holder and the waiters in order, live.
//! A lock of a library whose waiters keep no key (python-etcd3, tooz) shows
//! its holder and says that its waiters cannot be seen. Breaking a lock is
//! revoking its holder's lease, through the same preview.
//!
//! Locks and their contenders are keyed (lock name, contender key) and each
//! row reads its own entry, so an update changes cells in place: a focused
//! button or link survives the updates around it.

use leptos::prelude::*;

use super::Loading;
use crate::components::copy::CopyButton;
use crate::components::past::ViewPast;
use crate::components::revoke::{RevokeDialog, Target};
use crate::components::time::{Elapsed, Since};
use crate::live::Live;
use crate::model::{Contender, Lock};

#[component]
pub fn LocksPage() -> impl IntoView {
    let live = Live::get();
    // Its topics are subscribed by the route (`deferred::watch_topics`).
    let breaking = RwSignal::new(None::<String>);
    let names = Memo::new(move |_| live.locks.with(|c| c.items.keys().cloned().collect::<Vec<String>>()));
    let shown = Memo::new(move |_| live.locks.with(|c| (c.loaded, c.items.is_empty())));
    let content = move || match shown.get() {
        (false, _) => view! { <Loading/> }.into_any(),
        (true, true) => view! {
            <div class="empty">
                <p>"No lock is held or waited for. Locks taken with etcd's concurrency API show here, e.g.:"</p>
                <pre><code>"etcdctl lock my-job"</code></pre>
                <p>"and so do python-etcd3's and tooz's locks (their holders only)."</p>
            </div>
        }
        .into_any(),
        (true, false) => view! {
            <For each=move || names.get() key=|name| name.clone() let:name>
                <LockQueue name breaking/>
            </For>
        }
        .into_any(),
    };
    view! {
        <section class="page">
            <h1>"Locks"</h1>
            <div class="toolbar"><ViewPast/></div>
            {move || live.revoke_refusal().map(|why| view! { <p class="notice" data-testid="no-revoke">{why}</p> })}
            {content}
            {move || breaking.get().map(|name| view! {
                <RevokeDialog target=Target::Lock(name) on_close=Callback::new(move |()| breaking.set(None))/>
            })}
        </section>
    }
}

/// One lock's queue: the holder first, then the waiters in order.
#[component]
fn LockQueue(name: String, breaking: RwSignal<Option<String>>) -> impl IntoView {
    let live = Live::get();
    let lock = Memo::new({
        let name = name.clone();
        move |_| live.locks.with(|c| c.items.get(&name).cloned())
    });
    let keys = Memo::new(move |_| {
        lock.with(|l| {
            l.iter()
                .flat_map(|l| l.holder.iter().chain(l.waiters.iter()))
                .map(|c| c.key.clone())
                .collect::<Vec<String>>()
        })
    });
    let held = Memo::new(move |_| lock.with(|l| l.as_ref().is_some_and(|l| l.holder.is_some())));
    let holder_only = Memo::new(move |_| lock.with(|l| l.as_ref().and_then(|l| l.holder_only.clone())));
    let break_button = {
        let name = name.clone();
        move || {
            (held.get() && live.may_revoke()).then(|| {
                let name = name.clone();
                view! {
                    <button
                        type="button"
                        class="danger"
                        data-testid="break-lock"
                        on:click=move |_| breaking.set(Some(name.clone()))
                    >
                        "Break lock…"
                    </button>
                }
            })
        }
    };
    view! {
        <article class="queue" data-testid="lock" data-name=name.clone()>
            <header>
                <h2>{name.clone()}</h2>
                {break_button}
            </header>
            <ol class="contenders">
                <For each=move || keys.get() key=|key| key.clone() let:key>
                    <ContenderRow key lock/>
                </For>
            </ol>
            {move || holder_only.get().map(|library| view! {
                <p class="note" data-testid="holder-only">
                    {format!("A {library} lock: its waiters only retry and keep no key, so they are not visible in etcd.")}
                </p>
            })}
            <super::lock_chart::LockHistory name=name.clone()/>
        </article>
    }
}

/// A contender's place in `lock`: holder (and since when) or waiter.
#[derive(Debug, Clone, PartialEq)]
struct Place {
    holder: bool,
    contender: Contender,
    /// The holder's hand-over, or the waiter's first sight.
    since: Option<String>,
}

fn place(lock: &Lock, key: &str) -> Option<Place> {
    if let Some(holder) = lock.holder.as_ref().filter(|h| h.key == key) {
        return Some(Place {
            holder: true,
            contender: holder.clone(),
            since: lock.holder_since.clone(),
        });
    }
    let waiter = lock.waiters.iter().find(|w| w.key == key)?;
    Some(Place {
        holder: false,
        contender: waiter.clone(),
        since: waiter.since.clone(),
    })
}

#[component]
fn ContenderRow(key: String, lock: Memo<Option<Lock>>) -> impl IntoView {
    let place = Memo::new({
        let key = key.clone();
        move |_| lock.with(|l| l.as_ref().and_then(|l| place(l, &key)))
    });
    let holder = Memo::new(move |_| place.with(|p| p.as_ref().is_some_and(|p| p.holder)));
    let since = Memo::new(move |_| place.with(|p| p.as_ref().and_then(|p| p.since.clone())));
    // The key names its lease: `<lock>/<lease id in hex>`.
    let lease = Memo::new(move |_| {
        place
            .with(|p| p.as_ref().map(|p| p.contender.lease.to_string()))
            .unwrap_or_default()
    });
    let ttl = move || {
        place
            .with(|p| p.as_ref().and_then(|p| p.contender.ttl))
            .map_or_else(|| "—".to_owned(), |t| format!("{t} s"))
    };
    view! {
        <li
            class=move || if holder.get() { "holder" } else { "waiter" }
            data-testid=move || if holder.get() { "holder" } else { "waiter" }
        >
            <span class="role">{move || if holder.get() { "holds" } else { "waits" }}</span>
            <code class="key">{key.clone()}</code>
            <CopyButton text=key.clone() label="key"/>
            <span>"lease " <a href=move || format!("/leases?lease={}", lease.get())><code>{move || lease.get()}</code></a></span>
            {move || {
                let since = since.get();
                if holder.get() {
                    view! { <span data-testid="holder-since">"holder since " <Since since/></span> }.into_any()
                } else {
                    view! { <span>"waiting " <Elapsed since/></span> }.into_any()
                }
            }}
            <span>"TTL " {ttl}</span>
        </li>
    }
}
