//! The registry pages as of the past: the same entities as the live pages,
//! drawn once from one answer (nothing changes in the past), with no action
//! of any kind. Links stay in the same moment.

use leptos::prelude::*;

use super::Body;
use crate::components::encode_segment;
use crate::model::{Contender, Instance, Revision};

/// Instances listed of a service; the rest are counted.
const SHOWN: usize = 2000;

pub(super) fn registry(body: Body) -> AnyView {
    let revision = body.revision();
    match body {
        Body::Services(b) => services(b.services, revision).into_any(),
        Body::Service(b) => service(b.instances).into_any(),
        Body::Leases(b) => leases(b.leases, revision).into_any(),
        Body::Locks(b) => locks(b.locks).into_any(),
        Body::Elections(b) => elections(b.elections).into_any(),
    }
}

fn service_link(name: &str, revision: Revision) -> String {
    format!("/services/{}?rev={revision}", encode_segment(name))
}

fn services(services: Vec<crate::model::ServiceSummary>, revision: Revision) -> impl IntoView {
    if services.is_empty() {
        return view! { <p class="empty" data-testid="services-empty">"No service was registered at this revision."</p> }
            .into_any();
    }
    let count = format!("{} service(s)", services.len());
    let rows = services
        .into_iter()
        .map(|s| {
            let layouts = s
                .layouts
                .iter()
                .map(|l| view! { <span class="badge">{l.as_str()}</span> })
                .collect_view();
            view! {
                <tr data-testid="service-row">
                    <td><a href=service_link(&s.name, revision)>{s.name.clone()}</a></td>
                    <td>{layouts}</td>
                    <td class="num">{s.instances}</td>
                    <td class="num">{s.with_lease}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <p class="summary" data-testid="services-count">{count}</p>
        <div class="scroll">
            <table class="grid">
                <thead>
                    <tr>
                        <th scope="col">"Service"</th>
                        <th scope="col">"Layouts"</th>
                        <th scope="col" class="num">"Instances"</th>
                        <th scope="col" class="num">"On a lease"</th>
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
        </div>
    }
    .into_any()
}

fn instance_row(i: Instance) -> impl IntoView {
    let status = match (&i.declared, &i.error) {
        (Some(declared), _) => ("bad", declared.clone()),
        (None, Some(_)) => ("bad", "unparsed value".to_owned()),
        (None, None) => ("ok", "registered".to_owned()),
    };
    let metadata = i
        .metadata
        .iter()
        .map(|(k, v)| view! { <span class="chip">{format!("{k}={v}")}</span> })
        .collect_view();
    let short = i.key.rsplit('/').next().unwrap_or_default().to_owned();
    view! {
        <tr data-testid="instance-row" data-key=i.key.clone()>
            <td><span class=format!("state {}", status.0)>{status.1}</span></td>
            <td>{i.address.clone().map_or_else(|| view! { <span>"—"</span> }.into_any(), |a| view! { <code>{a}</code> }.into_any())}</td>
            <td class="key" title=i.key.clone()>{short}</td>
            <td>{i.version.clone().unwrap_or_else(|| "—".to_owned())}</td>
            <td><span class="badge" title=i.layout.evidence()>{i.layout.as_str()}</span></td>
            <td class="chips">{metadata}</td>
            <td>{i.lease.map(|l| view! { <code>{l.to_string()}</code> })}</td>
            <td class="num">{i.create_revision}</td>
            <td class="num">{i.mod_revision}</td>
        </tr>
    }
}

fn service(instances: Vec<Instance>) -> impl IntoView {
    let total = instances.len();
    let count = if total > SHOWN {
        format!("{total} instance(s); the first {SHOWN} by key are listed")
    } else {
        format!("{total} instance(s)")
    };
    let rows = instances.into_iter().take(SHOWN).map(instance_row).collect_view();
    view! {
        <p class="summary" data-testid="instances-count">{count}</p>
        <div class="scroll" data-testid="instances">
            <table class="grid">
                <thead>
                    <tr>
                        <th scope="col">"Status"</th>
                        <th scope="col">"Address"</th>
                        <th scope="col">"Instance"</th>
                        <th scope="col">"Version"</th>
                        <th scope="col">"Layout"</th>
                        <th scope="col">"Metadata"</th>
                        <th scope="col">"Lease"</th>
                        <th scope="col" class="num">"Created at"</th>
                        <th scope="col" class="num">"Modified at"</th>
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
        </div>
    }
}

fn leases(leases: Vec<crate::model::Lease>, revision: Revision) -> impl IntoView {
    if leases.is_empty() {
        return view! { <p class="empty">"No lease held a watched key at this revision."</p> }.into_any();
    }
    let count = format!("{} lease(s) holding a watched key", leases.len());
    let rows = leases
        .into_iter()
        .map(|l| {
            let services = l
                .services
                .iter()
                .enumerate()
                .map(|(n, name)| {
                    view! {
                        {(n > 0).then_some(", ")}
                        <a href=service_link(name, revision)>{name.clone()}</a>
                    }
                })
                .collect_view();
            let id = l.id.to_string();
            view! {
                <tr data-testid="lease-row" data-lease=id.clone()>
                    <td><code>{id.clone()}</code></td>
                    <td class="num">{l.keys}</td>
                    <td data-testid="lease-holds">
                        {(!l.services.is_empty()).then(|| view! { <span class="holds">"instances of " {services}</span> })}
                    </td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <p class="summary" data-testid="leases-count">{count}</p>
        <p class="muted">"As far as etcd can tell: the leases that held a watched key then. Leases holding none, and every TTL, were not recorded in etcd's keys."</p>
        <div class="scroll">
            <table class="grid">
                <thead>
                    <tr>
                        <th scope="col">"Lease"</th>
                        <th scope="col" class="num">"Keys"</th>
                        <th scope="col">"Holds"</th>
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
        </div>
    }
    .into_any()
}

/// A holder's or a waiter's line.
fn contender(role: &'static str, testid: &'static str, c: &Contender, value: Option<&str>) -> impl IntoView {
    view! {
        <li class=if testid == "holder" || testid == "leader" { "holder" } else { "waiter" } data-testid=testid>
            <span class="role">{role}</span>
            {value.map(|v| view! { <strong class="proposal">{v.to_owned()}</strong> })}
            <code class="key">{c.key.clone()}</code>
            <span>"lease " <code>{c.lease.to_string()}</code></span>
            <span class="muted">{format!("created at revision {}", c.create_revision)}</span>
        </li>
    }
}

fn locks(locks: Vec<crate::model::Lock>) -> impl IntoView {
    if locks.is_empty() {
        return view! { <p class="empty">"No lock was held or waited for at this revision."</p> }.into_any();
    }
    locks
        .into_iter()
        .map(|lock| {
            let holder = lock.holder.as_ref().map(|h| contender("held", "holder", h, None));
            let waiters = lock
                .waiters
                .iter()
                .map(|w| contender("waited", "waiter", w, None))
                .collect_view();
            let note = lock.holder_only.clone().map(|library| {
                view! { <p class="note">{format!("A {library} lock: its waiters kept no key, so they cannot be seen.")}</p> }
            });
            view! {
                <article class="queue" data-testid="lock" data-name=lock.name.clone()>
                    <header><h2>{lock.name.clone()}</h2></header>
                    <ol class="contenders">{holder}{waiters}</ol>
                    {note}
                </article>
            }
        })
        .collect_view()
        .into_any()
}

fn elections(elections: Vec<crate::model::Election>) -> impl IntoView {
    if elections.is_empty() {
        return view! { <p class="empty">"No election was running at this revision."</p> }.into_any();
    }
    elections
        .into_iter()
        .map(|e| {
            let leader = e
                .leader
                .as_ref()
                .map(|l| contender("led", "leader", &l.contender, Some(&l.value)));
            let candidates = e
                .candidates
                .iter()
                .map(|c| contender("stood", "candidate", &c.contender, Some(&c.value)))
                .collect_view();
            view! {
                <article class="queue" data-testid="election" data-name=e.name.clone()>
                    <header><h2>{e.name.clone()}</h2></header>
                    <ol class="contenders">{leader}{candidates}</ol>
                </article>
            }
        })
        .collect_view()
        .into_any()
}
