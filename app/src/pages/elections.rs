//! Elections: the leader with its proposal and tenure, the candidates in
//! order, and the recent leader changes.

use leptos::prelude::*;

use super::Loading;
use crate::components::time::Elapsed;
use crate::live::Live;
use crate::model::{Candidate, Election, EventKind};

#[component]
pub fn ElectionsPage() -> impl IntoView {
    let live = Live::get();
    // Its topics are subscribed by the route (`deferred::watch_topics`).
    let content = move || {
        let (loaded, elections) = live
            .elections
            .with(|c| (c.loaded, c.items.values().cloned().collect::<Vec<Election>>()));
        if !loaded {
            return view! { <Loading/> }.into_any();
        }
        if elections.is_empty() {
            return view! {
                <div class="empty">
                    <p>"No election is running. Campaigns made with etcd's concurrency API show here, e.g.:"</p>
                    <pre><code>"etcdctl elect my-service node-a"</code></pre>
                </div>
            }
            .into_any();
        }
        elections
            .into_iter()
            .map(|election| {
                let name = election.name.clone();
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
                            {election.leader.map(|c| view! { <CandidateRow candidate=c leader=true/> })}
                            {election.candidates.into_iter().map(|c| view! { <CandidateRow candidate=c leader=false/> }).collect_view()}
                        </ol>
                        <h3>"Recent leader changes"</h3>
                        <ul class="changes">{changes}</ul>
                    </article>
                }
            })
            .collect_view()
            .into_any()
    };
    view! {
        <section class="page">
            <h1>"Elections"</h1>
            {content}
        </section>
    }
}

#[component]
fn CandidateRow(candidate: Candidate, leader: bool) -> impl IntoView {
    let c = candidate.contender;
    view! {
        <li class=if leader { "holder" } else { "waiter" } data-testid=if leader { "leader" } else { "candidate" }>
            <span class="role">{if leader { "leads" } else { "stands" }}</span>
            <strong class="proposal">{candidate.value}</strong>
            <code class="key">{c.key}</code>
            <span>{if leader { "leading for " } else { "waiting " }} <Elapsed since=c.since/></span>
        </li>
    }
}
