//! The Cluster page: members, leader, raft term and index, db size, health,
//! and each member's db size and raft index over the last hour (the
//! `metrics` topic).

use leptos::prelude::*;

use super::chart::{bytes, Chart, ChartData, Draw, Plot, Tone};
use crate::live::{History, Live};
use crate::model::{human_bytes, Member, FINE_STEP_SECONDS};

fn or_dash<T: ToString>(value: Option<T>) -> String {
    value.map_or_else(|| "—".to_owned(), |v| v.to_string())
}

#[component]
pub fn ClusterPage() -> impl IntoView {
    let live = Live::get();
    // Its topics are subscribed by the route (`deferred::watch_topics`).

    view! {
        <section class="page">
            <h1>"Cluster"</h1>
            {move || match live.cluster.get() {
                None => view! { <p class="loading">"Connecting to the cluster…"</p> }.into_any(),
                Some(cluster) => {
                    let leader = cluster.leader().map(|m| m.name.clone());
                    let members = cluster.sorted();
                    view! {
                        <p class="summary">
                            <span>"Cluster " <code>{or_dash(cluster.cluster_id)}</code></span>
                            <span>
                                "Leader "
                                <strong>{leader.unwrap_or_else(|| "none".to_owned())}</strong>
                            </span>
                            <span>{format!("{} member(s)", members.len())}</span>
                        </p>
                        <div class="scroll"><MemberTable members/></div>
                    }
                    .into_any()
                }
            }}
            <MemberCharts/>
        </section>
    }
}

/// Each member's series `name` (label `member`), one line per member.
fn per_member(history: &History, name: &str) -> ChartData {
    ChartData {
        step: i64::from(FINE_STEP_SECONDS),
        span: 3600,
        plots: history
            .named(name, FINE_STEP_SECONDS)
            .enumerate()
            .map(|(i, series)| Plot {
                label: series.labels.get("member").cloned().unwrap_or_else(|| series.id()),
                tone: Tone::nth(i),
                draw: Draw::Line,
                points: series.points.clone(),
            })
            .collect(),
    }
}

/// The members' db size and raft index over the last hour.
#[component]
fn MemberCharts() -> impl IntoView {
    let live = Live::get();
    live.decode_histories();
    let db = Memo::new(move |_| live.metrics.with(|h| per_member(h, "db_size")));
    let raft = Memo::new(move |_| live.metrics.with(|h| per_member(h, "raft_index")));
    view! {
        <section class="charts" aria-labelledby="cluster-db-chart">
            <h2 id="cluster-db-chart">"DB size, the last hour"</h2>
            <Chart data=db label="Each member's database size over the last hour" name="db-size" format=bytes zero=true binary=true/>
            <h2>"Raft index, the last hour"</h2>
            <Chart data=raft label="Each member's raft index over the last hour" name="raft-index"/>
        </section>
    }
}

#[component]
fn MemberTable(members: Vec<Member>) -> impl IntoView {
    view! {
        <table class="grid">
            <thead>
                <tr>
                    <th scope="col">"Name"</th>
                    <th scope="col">"ID"</th>
                    <th scope="col">"Role"</th>
                    <th scope="col">"Health"</th>
                    <th scope="col">"Version"</th>
                    <th scope="col" class="num">"DB size"</th>
                    <th scope="col" class="num">"Raft term"</th>
                    <th scope="col" class="num">"Raft index"</th>
                    <th scope="col">"Client URLs"</th>
                    <th scope="col">"Errors"</th>
                </tr>
            </thead>
            <tbody>
                {members
                    .into_iter()
                    .map(|m| {
                        view! {
                            <tr data-testid="member-row">
                                <td>{m.name.clone()}</td>
                                <td><code>{m.id.to_string()}</code></td>
                                <td>
                                    {m.is_leader.then(|| view! {
                                        <span class="badge leader" data-testid="leader-badge">"leader"</span>
                                    })}
                                    {m.is_learner.then(|| view! { <span class="badge">"learner"</span> })}
                                    {(!m.is_leader && !m.is_learner).then_some("follower")}
                                </td>
                                <td>
                                    {if m.healthy {
                                        view! { <span class="badge ok">"healthy"</span> }.into_any()
                                    } else {
                                        view! { <span class="badge bad">"unhealthy"</span> }.into_any()
                                    }}
                                </td>
                                <td>{or_dash(m.version.clone())}</td>
                                <td class="num">{or_dash(m.db_size.map(human_bytes))}</td>
                                <td class="num">{or_dash(m.raft_term)}</td>
                                <td class="num">{or_dash(m.raft_index)}</td>
                                <td>{m.client_urls.join(", ")}</td>
                                <td class="errors">{m.errors.join("; ")}</td>
                            </tr>
                        }
                    })
                    .collect_view()}
            </tbody>
        </table>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_are_human() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(20 * 1024), "20.0 KiB");
        assert_eq!(human_bytes(3 * 1024 * 1024 / 2), "1.5 MiB");
    }
}
