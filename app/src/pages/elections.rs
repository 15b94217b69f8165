//! Elections: the leader with its proposal and tenure, the candidates in
//! order, and the recent leader changes.
//!
//! Elections and candidates are keyed (name, key) and each row reads its own
//! entry, so updates change cells in place, as on the locks page.

use leptos::prelude::*;

use super::Loading;
use crate::components::past::ViewPast;
use crate::components::time::{Elapsed, Since};
use crate::live::Live;
use crate::model::{Candidate, Election, EventKind};

#[component]
pub fn ElectionsPage() -> impl IntoView {
    let live = Live::get();
    // Its topics are subscribed by the route (`deferred::watch_topics`).
    let names = Memo::new(move |_| {
        live.elections
            .with(|c| c.items.keys().cloned().collect::<Vec<String>>())
    });
    let shown = Memo::new(move |_| live.elections.with(|c| (c.loaded, c.items.is_empty())));
    let content = move || match shown.get() {
        (false, _) => view! { <Loading/> }.into_any(),
        (true, true) => view! {
            <div class="empty">
                <p>"No election is running. Campaigns made with etcd's concurrency API show here, e.g.:"</p>
                <pre><code>"etcdctl elect my-service node-a"</code></pre>
            </div>
        }
        .into_any(),
        (true, false) => view! {
            <For each=move || names.get() key=|name| name.clone() let:name>
                <ElectionQueue name/>
            </For>
        }
        .into_any(),
    };
    view! {
        <section class="page">
            <h1>"Elections"</h1>
            <div class="toolbar"><ViewPast/></div>
            {content}
        </section>
    }
}

#[component]
fn ElectionQueue(name: String) -> impl IntoView {
    let live = Live::get();
    let election = Memo::new({
        let name = name.clone();
        move |_| live.elections.with(|c| c.items.get(&name).cloned())
    });
    let keys = Memo::new(move |_| {
        election.with(|e| {
            e.iter()
                .flat_map(|e| e.leader.iter().chain(e.candidates.iter()))
                .map(|c| c.contender.key.clone())
                .collect::<Vec<String>>()
        })
    });
    let holder_only = Memo::new(move |_| election.with(|e| e.as_ref().and_then(|e| e.holder_only.clone())));
    let changes = {
        let name = name.clone();
        move || {
            live.events.with(|events| {
                events
                    .iter()
                    .flatten()
                    .rev()
                    .filter(|e| e.kind == EventKind::LeaderElected && e.subject == name)
                    .take(5)
                    .map(|e| {
                        let value = e.detail["value"].as_str().unwrap_or_default().to_owned();
                        view! { <li><Elapsed since=Some(e.at.clone())/> " ago → " <strong>{value}</strong></li> }
                    })
                    .collect_view()
            })
        }
    };
    view! {
        <article class="queue" data-testid="election" data-name=name.clone()>
            <header><h2>{name.clone()}</h2></header>
            <ol class="contenders">
                <For each=move || keys.get() key=|key| key.clone() let:key>
                    <CandidateRow key election/>
                </For>
            </ol>
            {move || holder_only.get().map(|library| view! {
                <p class="note" data-testid="holder-only">
                    {format!("A {library} election: its candidates only try to take this one key and keep none of their own, so they are not visible here.")}
                </p>
            })}
            <h3>"Recent leader changes"</h3>
            <ul class="changes">{changes}</ul>
        </article>
    }
}

/// A candidate's place: leader (and since when it leads) or waiting.
#[derive(Debug, Clone, PartialEq)]
struct Place {
    leader: bool,
    candidate: Candidate,
    since: Option<String>,
}

fn place(election: &Election, key: &str) -> Option<Place> {
    if let Some(leader) = election.leader.as_ref().filter(|l| l.contender.key == key) {
        return Some(Place {
            leader: true,
            candidate: leader.clone(),
            since: election.leader_since.clone(),
        });
    }
    let candidate = election.candidates.iter().find(|c| c.contender.key == key)?;
    Some(Place {
        leader: false,
        candidate: candidate.clone(),
        since: candidate.contender.since.clone(),
    })
}

#[component]
fn CandidateRow(key: String, election: Memo<Option<Election>>) -> impl IntoView {
    let place = Memo::new({
        let key = key.clone();
        move |_| election.with(|e| e.as_ref().and_then(|e| place(e, &key)))
    });
    let leader = Memo::new(move |_| place.with(|p| p.as_ref().is_some_and(|p| p.leader)));
    let since = Memo::new(move |_| place.with(|p| p.as_ref().and_then(|p| p.since.clone())));
    let value = move || place.with(|p| p.as_ref().map(|p| p.candidate.value.clone()).unwrap_or_default());
    view! {
        <li
            class=move || if leader.get() { "holder" } else { "waiter" }
            data-testid=move || if leader.get() { "leader" } else { "candidate" }
        >
            <span class="role">{move || if leader.get() { "leads" } else { "stands" }}</span>
            <strong class="proposal">{value}</strong>
            <code class="key">{key.clone()}</code>
            {move || {
                let since = since.get();
                if leader.get() {
                    view! { <span>"leader since " <Since since/></span> }.into_any()
                } else {
                    view! { <span>"waiting " <Elapsed since/></span> }.into_any()
                }
            }}
        </li>
    }
}
