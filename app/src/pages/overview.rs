//! The overview, the landing page (`/`): the cluster's health, the
//! registry's totals each with its last hour, registrations, deregistrations
//! and expiries per minute, the services that lost the most instances, the
//! longest-held locks and the longest waits, and the latest leader changes.
//! Every number links to the page that explains it.
//!
//! The history comes from the `metrics` topic (a bucket closes every 10 s);
//! the rest from the live topics the other pages show (`cluster`, `ops`,
//! `locks`, `events`). Its topics are subscribed by the route
//! (`deferred::watch_topics`).

use leptos::prelude::*;

use super::chart::{Chart, ChartData, Draw, Plot, Tone};
use crate::components::encode_segment;
use crate::components::time::{parse_ms, Elapsed, Since};
use crate::live::{History, Live};
use crate::model::{human_bytes, Alarm, EventKind, Lock, FINE_STEP_SECONDS, QUOTA_WARNING};

/// The charts' window: the last hour.
const HOUR: i64 = 3600;
/// How many rows the lists of locks, waits and leader changes show.
const ROWS: usize = 5;

/// The totals: the series, its name on the page, and the page that explains it.
const TOTALS: [(&str, &str, &str); 5] = [
    ("services", "Services", "/services"),
    ("instances", "Instances", "/services"),
    ("leases", "Leases", "/leases"),
    ("locks", "Locks", "/locks"),
    ("elections", "Elections", "/elections"),
];

/// 10 s buckets summed per minute (points in time order).
fn per_minute(points: &[(i64, f64)]) -> Vec<(i64, f64)> {
    let mut out: Vec<(i64, f64)> = Vec::new();
    for &(t, v) in points {
        let minute = t.div_euclid(60) * 60;
        match out.last_mut() {
            Some(last) if last.0 == minute => last.1 += v,
            _ => out.push((minute, v)),
        }
    }
    out
}

/// A series' points at 10 s (none when the server has not sent it).
fn fine(history: &History, name: &str) -> Vec<(i64, f64)> {
    history
        .get(name, &[], FINE_STEP_SECONDS)
        .map(|s| s.points.clone())
        .unwrap_or_default()
}

/// How full a backend is: the gauge's `data-level`.
fn level(used: f64, nospace: bool) -> &'static str {
    if nospace || used >= 1.0 {
        "danger"
    } else if used >= QUOTA_WARNING {
        "warning"
    } else {
        "ok"
    }
}

/// Milliseconds of an RFC 3339 time for ordering; unknown first (before
/// Leasehold watched: the longest of all).
fn order_ms(since: Option<&str>) -> f64 {
    since.and_then(parse_ms).unwrap_or(f64::MIN)
}

/// The locks held longest: `(lock, holder key, since)`, longest first.
fn longest_held(locks: &[&Lock]) -> Vec<(String, String, Option<String>)> {
    let mut held: Vec<(f64, String, String, Option<String>)> = locks
        .iter()
        .filter_map(|l| {
            let holder = l.holder.as_ref()?;
            Some((
                order_ms(l.holder_since.as_deref()),
                l.name.clone(),
                holder.key.clone(),
                l.holder_since.clone(),
            ))
        })
        .collect();
    held.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
    held.into_iter().take(ROWS).map(|(_, n, k, s)| (n, k, s)).collect()
}

/// The longest waits: `(lock, waiter key, since)`, longest first.
fn longest_waits(locks: &[&Lock]) -> Vec<(String, String, Option<String>)> {
    let mut waits: Vec<(f64, String, String, Option<String>)> = locks
        .iter()
        .flat_map(|l| {
            l.waiters.iter().map(|w| {
                (
                    order_ms(w.since.as_deref()),
                    l.name.clone(),
                    w.key.clone(),
                    w.since.clone(),
                )
            })
        })
        .collect();
    waits.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.2.cmp(&b.2)));
    waits.into_iter().take(ROWS).map(|(_, n, k, s)| (n, k, s)).collect()
}

#[component]
pub fn OverviewPage() -> impl IntoView {
    Live::get().decode_histories();
    view! {
        <section class="page overview">
            <h1>"Overview"</h1>
            <Health/>
            <Totals/>
            <Churn/>
            <div class="overview-lists">
                <Losses/>
                <Locks/>
                <LeaderChanges/>
            </div>
        </section>
    }
}

/// Members, leader, alarms and the fullest backend against its quota.
#[component]
fn Health() -> impl IntoView {
    let live = Live::get();
    let members = Memo::new(move |_| {
        live.cluster.with(|c| {
            c.as_ref().map(|c| {
                (
                    c.members.len(),
                    c.members.values().filter(|m| m.healthy).count(),
                    c.leader().map(|m| m.name.clone()),
                )
            })
        })
    });
    let alarms = Memo::new(move |_| {
        live.ops.with(|v| {
            v.as_ref().map(|v| {
                v.alarms()
                    .into_iter()
                    .map(|(alarm, member)| format!("{} on {member}", alarm.as_str()))
                    .collect::<Vec<String>>()
            })
        })
    });
    // The fullest member: (share of the quota, size, quota, member, NOSPACE).
    let fullest = Memo::new(move |_| {
        live.ops.with(|v| {
            v.as_ref().and_then(|v| {
                v.members
                    .values()
                    .filter_map(|m| {
                        Some((
                            m.quota_used()?,
                            m.db_size?,
                            m.quota_bytes,
                            m.name.clone(),
                            m.alarms.contains(&Alarm::NoSpace),
                        ))
                    })
                    .max_by(|a, b| a.0.total_cmp(&b.0))
            })
        })
    });
    view! {
        <section class="overview-section" aria-labelledby="overview-health">
            <h2 id="overview-health">"Cluster health"</h2>
            <div class="cards">
                <div class="card" data-testid="health-members">
                    <span class="card-label">"Members"</span>
                    <a class="card-value" href="/cluster" data-testid="health-members-value">
                        {move || match members.get() {
                            Some((all, healthy, _)) if healthy == all => format!("{all}, all healthy"),
                            Some((all, healthy, _)) => format!("{healthy} of {all} healthy"),
                            None => "—".to_owned(),
                        }}
                    </a>
                </div>
                <div class="card" data-testid="health-leader">
                    <span class="card-label">"Leader"</span>
                    <a class="card-value" href="/cluster" data-testid="health-leader-value">
                        {move || match members.get() {
                            Some((_, _, Some(leader))) => leader,
                            Some((_, _, None)) => "none".to_owned(),
                            None => "—".to_owned(),
                        }}
                    </a>
                </div>
                <div class="card" data-testid="health-alarms">
                    <span class="card-label">"Alarms"</span>
                    <a
                        class="card-value"
                        class:bad=move || alarms.with(|a| a.as_ref().is_some_and(|a| !a.is_empty()))
                        href="/ops"
                        data-testid="health-alarms-value"
                    >
                        {move || match alarms.get() {
                            Some(alarms) if alarms.is_empty() => "none".to_owned(),
                            Some(alarms) => alarms.join("; "),
                            None => "—".to_owned(),
                        }}
                    </a>
                </div>
                <div class="card" data-testid="health-db">
                    <span class="card-label">"DB size against quota"</span>
                    {move || match fullest.get() {
                        Some((used, size, quota, member, nospace)) => view! {
                            <a class="card-value" href="/ops" data-testid="health-db-value">
                                {format!("{} of {} ({:.1} %)", human_bytes(size), human_bytes(quota), used * 100.0)}
                            </a>
                            <div class="gauge" data-level=level(used, nospace)>
                                <div class="gauge-bar" aria-hidden="true">
                                    <div class="gauge-used" style=format!("width:{:.1}%", (used * 100.0).min(100.0))></div>
                                </div>
                                <span class="gauge-note">{format!("the fullest member, {member}")}</span>
                            </div>
                        }
                        .into_any(),
                        None => view! { <a class="card-value" href="/ops" data-testid="health-db-value">"—"</a> }.into_any(),
                    }}
                </div>
            </div>
        </section>
    }
}

/// The registry's totals, each with its last hour.
#[component]
fn Totals() -> impl IntoView {
    let live = Live::get();
    let cards = TOTALS
        .iter()
        .map(|&(name, label, href)| {
            let points = Memo::new(move |_| live.metrics.with(|h| fine(h, name)));
            let value = move || {
                points.with(|p| {
                    p.last()
                        .map_or_else(|| "—".to_owned(), |(_, v)| super::chart::count(*v))
                })
            };
            let data = Signal::derive(move || ChartData {
                step: i64::from(FINE_STEP_SECONDS),
                span: HOUR,
                plots: vec![Plot {
                    label: label.to_owned(),
                    tone: Tone::Accent,
                    draw: Draw::Line,
                    points: points.get(),
                }],
            });
            view! {
                <div class="card total" data-testid="total" data-total=name>
                    <span class="card-label">{label}</span>
                    <a class="card-value" href=href data-testid="total-value">{value}</a>
                    <Chart data label=format!("{label} over the last hour") name spark=true/>
                </div>
            }
        })
        .collect_view();
    view! {
        <section class="overview-section" aria-labelledby="overview-totals">
            <h2 id="overview-totals">"Registry"</h2>
            {move || {
                (!live.metrics.with(|h| h.loaded)).then(|| view! { <p class="loading">"Loading the last hour…"</p> })
            }}
            <div class="cards">{cards}</div>
        </section>
    }
}

/// Registrations, deregistrations and expiries per minute.
#[component]
fn Churn() -> impl IntoView {
    let live = Live::get();
    let data = Memo::new(move |_| {
        live.metrics.with(|h| ChartData {
            step: 60,
            span: HOUR,
            plots: vec![
                Plot {
                    label: "registrations".to_owned(),
                    tone: Tone::Ok,
                    draw: Draw::Bars,
                    points: per_minute(&fine(h, "registrations")),
                },
                Plot {
                    label: "deregistrations".to_owned(),
                    tone: Tone::Warn,
                    draw: Draw::Bars,
                    points: per_minute(&fine(h, "deregistrations")),
                },
                Plot {
                    label: "expiries".to_owned(),
                    tone: Tone::Bad,
                    draw: Draw::Bars,
                    points: per_minute(&fine(h, "expiries")),
                },
            ],
        })
    });
    // The last hour's sums, each leading to those events.
    let sums = move || {
        data.with(|d| {
            d.plots
                .iter()
                .zip([
                    ("instance_registered", "registration"),
                    ("instance_deregistered", "deregistration"),
                    ("lease_expired", "expiry"),
                ])
                .map(|(p, (kind, one))| {
                    let sum: f64 = p.points.iter().map(|(_, v)| v).sum();
                    let what = if sum == 1.0 { one } else { p.label.as_str() };
                    view! {
                        <a href=format!("/events?kind={kind}") data-testid="churn-sum" data-kind=kind>
                            {format!("{} {what}", super::chart::count(sum))}
                        </a>
                    }
                })
                .collect_view()
        })
    };
    view! {
        <section class="overview-section" aria-labelledby="overview-churn">
            <h2 id="overview-churn">"Registrations, deregistrations and expiries per minute"</h2>
            <p class="summary">"In the last hour: " {sums}</p>
            <Chart data label="Registrations, deregistrations and expiries per minute, the last hour" name="churn"/>
        </section>
    }
}

/// The services that lost the most instances in the last 15 minutes.
#[component]
fn Losses() -> impl IntoView {
    let live = Live::get();
    let losses = Memo::new(move |_| live.metrics.with(|h| (h.loaded, h.losses.clone())));
    view! {
        <section class="overview-section" aria-labelledby="overview-losses">
            <h2 id="overview-losses">"Lost the most instances (15 min)"</h2>
            {move || {
                let (loaded, losses) = losses.get();
                if !loaded {
                    return view! { <p class="loading">"Connecting…"</p> }.into_any();
                }
                if losses.is_empty() {
                    return view! {
                        <p class="empty" data-testid="losses-empty">"No service lost an instance in the last 15 minutes."</p>
                    }
                    .into_any();
                }
                let rows = losses
                    .into_iter()
                    .map(|l| {
                        let href = format!("/services/{}", encode_segment(&l.service));
                        view! {
                            <tr data-testid="loss-row" data-service=l.service.clone()>
                                <td><a href=href.clone()>{l.service.clone()}</a></td>
                                <td class="num"><a href=href.clone()>{l.lost}</a></td>
                                <td class="num"><a href="/events?kind=lease_expired">{l.expired}</a></td>
                                <td class="num"><a href=href>{l.registered}</a></td>
                            </tr>
                        }
                    })
                    .collect_view();
                view! {
                    <div class="scroll">
                        <table class="grid" data-testid="losses">
                            <thead>
                                <tr>
                                    <th scope="col">"Service"</th>
                                    <th scope="col" class="num">"Lost"</th>
                                    <th scope="col" class="num">"Expired"</th>
                                    <th scope="col" class="num">"Registered"</th>
                                </tr>
                            </thead>
                            <tbody>{rows}</tbody>
                        </table>
                    </div>
                }
                .into_any()
            }}
        </section>
    }
}

/// The locks held longest, and the longest waits.
#[component]
fn Locks() -> impl IntoView {
    let live = Live::get();
    let lists = Memo::new(move |_| {
        live.locks.with(|c| {
            let locks: Vec<&Lock> = c.items.values().collect();
            (c.loaded, longest_held(&locks), longest_waits(&locks))
        })
    });
    let list = |rows: Vec<(String, String, Option<String>)>, testid: &'static str, empty: &'static str| {
        if rows.is_empty() {
            return view! { <p class="empty">{empty}</p> }.into_any();
        }
        let items = rows
            .into_iter()
            .map(|(lock, key, since)| {
                let name = lock.clone();
                view! {
                    <li data-testid=testid data-lock=name>
                        <a href="/locks"><strong>{lock}</strong></a>
                        " "
                        <code class="key">{key}</code>
                        " "
                        <span class="muted">{since.clone().map(|_| "for ")}</span>
                        <Elapsed since/>
                    </li>
                }
            })
            .collect_view();
        view! { <ol class="overview-list">{items}</ol> }.into_any()
    };
    view! {
        <section class="overview-section" aria-labelledby="overview-locks">
            <h2 id="overview-locks">"Locks"</h2>
            {move || {
                let (loaded, held, waits) = lists.get();
                if !loaded {
                    return view! { <p class="loading">"Connecting…"</p> }.into_any();
                }
                view! {
                    <h3>"Held longest"</h3>
                    {list(held, "held-lock", "No lock is held.")}
                    <h3>"Waiting longest"</h3>
                    {list(waits, "lock-wait", "Nobody waits for a lock.")}
                }
                .into_any()
            }}
        </section>
    }
}

/// The latest `leader_elected` events.
#[component]
fn LeaderChanges() -> impl IntoView {
    let live = Live::get();
    let changes = Memo::new(move |_| {
        live.events.with(|events| {
            events.as_ref().map(|events| {
                events
                    .iter()
                    .rev()
                    .filter(|e| e.kind == EventKind::LeaderElected)
                    .take(ROWS)
                    .map(|e| {
                        (
                            e.revision,
                            e.subject.clone(),
                            e.detail["key"].as_str().unwrap_or_default().to_owned(),
                            e.at.clone(),
                        )
                    })
                    .collect::<Vec<_>>()
            })
        })
    });
    view! {
        <section class="overview-section" aria-labelledby="overview-leaders">
            <h2 id="overview-leaders">"Latest leader changes"</h2>
            {move || match changes.get() {
                None => view! { <p class="loading">"Connecting…"</p> }.into_any(),
                Some(changes) if changes.is_empty() => {
                    view! { <p class="empty">"No election changed leader lately."</p> }.into_any()
                }
                Some(changes) => {
                    let items = changes
                        .into_iter()
                        .map(|(revision, election, key, at)| {
                            view! {
                                <li data-testid="leader-change" data-revision=revision.to_string()>
                                    <a href="/elections"><strong>{election}</strong></a>
                                    " "
                                    <code class="key">{key}</code>
                                    " "
                                    <Since since=Some(at)/>
                                </li>
                            }
                        })
                        .collect_view();
                    view! { <ol class="overview-list">{items}</ol> }.into_any()
                }
            }}
            <p><a href="/events?kind=leader_elected">"Every leader change"</a></p>
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Contender, LeaseId};

    #[test]
    fn buckets_sum_per_minute() {
        let points = [(60, 1.0), (70, 2.0), (110, 3.0), (120, 4.0), (250, 1.0)];
        assert_eq!(per_minute(&points), [(60, 6.0), (120, 4.0), (240, 1.0)]);
        assert!(per_minute(&[]).is_empty());
    }

    fn contender(key: &str, since: Option<&str>) -> Contender {
        Contender {
            key: key.to_owned(),
            lease: LeaseId(1),
            create_revision: 1,
            ttl: None,
            since: since.map(str::to_owned),
        }
    }

    #[test]
    fn locks_held_and_waited_for_longest_come_first() {
        // Outside the browser no time parses: those before Leasehold
        // watched come first, then by name.
        let a = Lock {
            name: "a".into(),
            holder: Some(contender("a/1", None)),
            holder_since: None,
            waiters: vec![contender("a/2", None), contender("a/3", None)],
            holder_only: None,
        };
        let free = Lock {
            name: "free".into(),
            holder: None,
            holder_since: None,
            waiters: vec![],
            holder_only: None,
        };
        let held = longest_held(&[&free, &a]);
        assert_eq!(held.len(), 1);
        assert_eq!(held[0].0, "a");
        let waits = longest_waits(&[&a, &free]);
        assert_eq!(waits.iter().map(|w| w.1.as_str()).collect::<Vec<_>>(), ["a/2", "a/3"]);
        assert_eq!(level(0.5, false), "ok");
        assert_eq!(level(0.85, false), "warning");
        assert_eq!(level(0.1, true), "danger");
    }
}
