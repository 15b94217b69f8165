//! Membership changes: add a learner (with the flags its `etcd` starts
//! with), promote it once it has caught up, remove a member, move the
//! leader. Each dialog asks the preview first and shows the cluster now and
//! after side by side, with the quorum of each and the checks; the change is
//! confirmed only while every check holds, and the answer is the cluster as
//! etcd lists it afterwards.

use leptos::prelude::*;
use leptos::task::spawn_local;

use super::{may_not_act, may_not_preview, member_name, refusal, refused, Checks, Refused};
use crate::components::copy::CopyButton;
use crate::components::modal::Modal;
use crate::live::api::{delete_json_with, post_json, ApiFailure};
use crate::live::Live;
use crate::model::{
    ClusterShape, LearnerLag, MemberAddRequest, MemberChangeRequest, MemberId, MembershipBody, MoveLeaderRequest,
    OpsMember, Quorum, ShapeMember,
};

/// A membership change asked for from the page, and so the dialog that
/// previews it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Change {
    /// A new learner: its `--name` and peer URL.
    Add {
        name: String,
        peer_url: String,
    },
    Promote(MemberId),
    Remove(MemberId),
    MoveLeader(MemberId),
}

/// How a change is sent: the method, the path and the body.
#[derive(Debug, Clone, PartialEq)]
enum Call {
    Post(String, serde_json::Value),
    Delete(String, serde_json::Value),
}

fn json(body: &impl serde::Serialize) -> serde_json::Value {
    serde_json::to_value(body).unwrap_or_default()
}

/// The request of `change`: its preview with `dry_run`, else the change.
fn request(change: &Change, dry_run: bool) -> Call {
    let flag = MemberChangeRequest { dry_run };
    match change {
        Change::Add { name, peer_url } => Call::Post(
            "/api/v1/ops/members".to_owned(),
            json(&MemberAddRequest {
                name: name.clone(),
                peer_urls: vec![peer_url.clone()],
                dry_run,
            }),
        ),
        Change::Promote(id) => Call::Post(format!("/api/v1/ops/members/{id}/promote"), json(&flag)),
        Change::Remove(id) => Call::Delete(format!("/api/v1/ops/members/{id}"), json(&flag)),
        Change::MoveLeader(id) => Call::Post(
            "/api/v1/ops/move-leader".to_owned(),
            json(&MoveLeaderRequest { to: *id, dry_run }),
        ),
    }
}

async fn send(change: &Change, dry_run: bool) -> Result<MembershipBody, ApiFailure> {
    match request(change, dry_run) {
        Call::Post(path, body) => post_json(&path, &body).await,
        Call::Delete(path, body) => delete_json_with(&path, &body).await,
    }
}

/// The `data-testid` stem of a change's controls.
fn key(change: &Change) -> &'static str {
    match change {
        Change::Add { .. } => "add-learner",
        Change::Promote(_) => "promote",
        Change::Remove(_) => "remove",
        Change::MoveLeader(_) => "move-leader",
    }
}

/// The dialog's title and the confirm button's words.
fn words(live: Live, change: &Change) -> (String, String) {
    match change {
        Change::Add { name, .. } => (format!("Add {name} as a learner"), "Add the learner".to_owned()),
        Change::Promote(id) => {
            let name = member_name(live, *id);
            (format!("Promote {name} to a voting member"), format!("Promote {name}"))
        }
        Change::Remove(id) => {
            let name = member_name(live, *id);
            (format!("Remove {name} from the cluster"), format!("Remove {name}"))
        }
        Change::MoveLeader(id) => {
            let name = member_name(live, *id);
            (format!("Make {name} the leader"), format!("Make {name} the leader"))
        }
    }
}

fn intro(change: &Change) -> &'static str {
    match change {
        Change::Add { .. } => {
            "A learner receives the raft log but does not vote, so the quorum stays as it is while it catches up. etcd takes one learner at a time; promote it once it has caught up."
        }
        Change::Promote(_) => {
            "A promoted learner votes: the quorum grows with it. etcd promotes only a learner that has caught up with the leader's log."
        }
        Change::Remove(_) => {
            "The member leaves the cluster for good: it must be stopped, and its data directory cannot rejoin. A voting member's departure changes the quorum."
        }
        Change::MoveLeader(_) => {
            "The leader hands over to the member chosen; writes pause for the moment of the election."
        }
    }
}

/// `3 voting members, quorum 2, 3 answer: tolerates 1 failure`, with the
/// figures as attributes.
fn quorum_view(quorum: Quorum, testid: &'static str) -> impl IntoView {
    let short = quorum.healthy_voters < quorum.quorum;
    view! {
        <p
            class=if short { "quorum short" } else { "quorum" }
            data-testid=testid
            data-voters=quorum.voters.to_string()
            data-quorum=quorum.quorum.to_string()
            data-answering=quorum.healthy_voters.to_string()
            data-tolerates=quorum.tolerates.to_string()
        >
            {quorum.describe()}
        </p>
    }
}

/// A member of a shape, by name (or as not started yet).
fn shape_name(m: &ShapeMember) -> String {
    match (m.name.is_empty(), m.id.0) {
        (false, _) => m.name.clone(),
        (true, 0) => "the new member".to_owned(),
        (true, _) => format!("member {} (not started)", m.id),
    }
}

/// One side of the comparison: the members with their badges, and the quorum.
fn shape_view(
    shape: &ClusterShape,
    target: Option<MemberId>,
    new_name: Option<&str>,
    testid: &'static str,
) -> impl IntoView {
    let members = shape
        .members
        .iter()
        .map(|m| {
            let changed = (target == Some(m.id) && m.id.0 != 0) || (m.id.0 == 0 && new_name == Some(m.name.as_str()));
            view! {
                <li class=if changed { "changed" } else { "" } data-testid="shape-member" data-member=shape_name(m)>
                    <strong>{shape_name(m)}</strong>
                    " "
                    {m.is_leader.then(|| view! { <span class="badge leader" data-testid="leader-badge">"leader"</span> })}
                    {m.is_learner.then(|| view! { <span class="badge" data-testid="learner-badge">"learner"</span> })}
                    {if m.healthy {
                        view! { <span class="badge ok">"answers"</span> }.into_any()
                    } else {
                        view! { <span class="badge bad">"does not answer"</span> }.into_any()
                    }}
                    {(!m.peer_urls.is_empty()).then(|| view! { <div class="muted"><code>{m.peer_urls.join(", ")}</code></div> })}
                </li>
            }
        })
        .collect_view();
    view! {
        <ul class="shape-members" data-testid=testid>{members}</ul>
        {quorum_view(shape.quorum, if testid == "shape-before" { "quorum-before" } else { "quorum-after" })}
    }
}

/// The cluster now and after, side by side.
fn shapes_view(body: &MembershipBody, change: &Change, after_title: &'static str) -> impl IntoView {
    let new_name = match change {
        Change::Add { name, .. } => Some(name.clone()),
        _ => None,
    };
    let removed = match change {
        Change::Remove(id) => body
            .before
            .members
            .iter()
            .find(|m| m.id == *id)
            .filter(|_| !body.after.members.iter().any(|m| m.id == *id))
            .map(shape_name),
        _ => None,
    };
    view! {
        <div class="shapes">
            <section aria-labelledby="shape-before-title">
                <h3 id="shape-before-title">"Now"</h3>
                {shape_view(&body.before, body.member, None, "shape-before")}
            </section>
            <section aria-labelledby="shape-after-title">
                <h3 id="shape-after-title">{after_title}</h3>
                {shape_view(&body.after, body.member, new_name.as_deref(), "shape-after")}
                {removed.map(|name| view! { <p class="muted" data-testid="shape-removed">{format!("{name} is no longer listed.")}</p> })}
            </section>
        </div>
    }
}

/// The flags a new learner starts with, one per line, ready to paste.
fn flags_text(flags: &[String]) -> String {
    flags.join(" \\\n  ")
}

fn flags_view(flags: &[String]) -> impl IntoView {
    let text = flags_text(flags);
    let copied = text.clone();
    view! {
        <div class="flags">
            <p>
                "Start the new member's etcd with these flags. It also needs its own empty "
                <code>"--data-dir"</code>
                " and its client URLs ("
                <code>"--listen-client-urls"</code>
                ", "
                <code>"--advertise-client-urls"</code>
                ")."
            </p>
            <div class="flags-block">
                <pre class="code" tabindex="0" aria-label="The new member's flags" data-testid="learner-flags"><code>{text}</code></pre>
                <CopyButton text=copied label="flags"/>
            </div>
        </div>
    }
}

fn lag_text(lag: &LearnerLag) -> String {
    format!(
        "It has applied {} of the leader's {} raft entries: {} behind.",
        lag.learner_applied_index, lag.leader_raft_index, lag.entries_behind
    )
}

#[derive(Debug, Clone, PartialEq)]
enum Step {
    Loading,
    /// The preview, and why it is shown again (the change was refused).
    Preview(Box<MembershipBody>, Option<String>),
    Acting,
    Done(Box<MembershipBody>),
    Failed(String),
}

#[component]
pub(super) fn MembershipDialog(change: Change, on_close: Callback<()>) -> impl IntoView {
    let live = Live::get();
    let step = RwSignal::new(Step::Loading);
    let change = StoredValue::new(change);
    let load = move |why: Option<String>| {
        step.set(Step::Loading);
        spawn_local(async move {
            let answer = send(&change.get_value(), true).await;
            let _ = step.try_set(match answer {
                Ok(body) => Step::Preview(Box::new(body), why),
                Err(failure) => Step::Failed(refused(&failure).1),
            });
        });
    };
    load(None);
    let confirm = move || {
        if !matches!(step.get_untracked(), Step::Preview(..)) {
            return;
        }
        step.set(Step::Acting);
        spawn_local(async move {
            match send(&change.get_value(), false).await {
                Ok(done) => {
                    let _ = step.try_set(Step::Done(Box::new(done)));
                }
                // A check no longer holds, or the change was refused: the
                // preview again, as it is now, with why.
                Err(failure) => load(Some(format!("Nothing was changed. {}", refused(&failure).1))),
            }
        });
    };
    let can_confirm = move || matches!(step.get(), Step::Preview(body, _) if body.checks.iter().all(|c| c.ok));
    let finished = Memo::new(move |_| matches!(step.get(), Step::Done(_) | Step::Failed(_)));
    let (title, confirm_words) = change.with_value(|c| words(live, c));
    let stem = change.with_value(key);
    let body = move || {
        let change = change.get_value();
        match step.get() {
            Step::Loading => view! { <p>"Asking etcd for the members and their status…"</p> }.into_any(),
            Step::Acting => view! { <p>"Changing the membership…"</p> }.into_any(),
            Step::Failed(why) => view! {
                <p class="error" role="alert" data-testid="membership-refused">{why}</p>
            }
            .into_any(),
            Step::Preview(body, why) => {
                let blocked = !body.checks.iter().all(|c| c.ok);
                view! {
                    {why.map(|w| view! { <p class="warn" role="alert" data-testid="membership-refused">{w}</p> })}
                    {shapes_view(&body, &change, "After")}
                    <Checks checks=body.checks.clone()/>
                    {body.lag.as_ref().map(|lag| view! { <p data-testid="promote-lag">{lag_text(lag)}</p> })}
                    {(!body.flags.is_empty()).then(|| flags_view(&body.flags))}
                    {blocked.then(|| view! {
                        <p class="notice" data-testid="membership-blocked">"A check does not hold: the change cannot be made now."</p>
                    })}
                }
                .into_any()
            }
            Step::Done(done) => {
                let added = done.member.filter(|_| matches!(change, Change::Add { .. }));
                view! {
                    <p
                        class=if done.applied { "done" } else { "warn" }
                        role="status"
                        data-testid="membership-result"
                        data-applied=if done.applied { "true" } else { "false" }
                    >
                        {if done.applied {
                            "Done. The cluster as etcd lists it now:".to_owned()
                        } else {
                            "etcd did not apply the change.".to_owned()
                        }}
                        {added.map(|id| format!(" the learner's member id is {id}."))}
                    </p>
                    {shapes_view(&done, &change, "After (as etcd lists it)")}
                    {(!done.flags.is_empty()).then(|| flags_view(&done.flags))}
                }
                .into_any()
            }
        }
    };
    view! {
        <Modal labelled_by="membership-title" testid=format!("{stem}-dialog") on_close>
            <h2 id="membership-title">{title}</h2>
            <p>{change.with_value(intro)}</p>
            {body}
            <Refused/>
            <div class="actions">
                <button type="button" on:click=move |_| on_close.run(())>
                    {move || if finished.get() { "Close" } else { "Cancel" }}
                </button>
                {move || (!finished.get()).then(|| view! {
                    <button
                        type="button"
                        class="danger"
                        data-testid="membership-confirm"
                        disabled=move || !can_confirm() || may_not_act(live)
                        on:click=move |_| confirm()
                    >
                        {confirm_words.clone()}
                    </button>
                })}
            </div>
        </Modal>
    }
}

/// A member row's membership buttons: promote a learner, make a voting
/// follower the leader, remove any member. Each opens its preview.
#[component]
pub(super) fn MemberActions(member: Memo<Option<OpsMember>>, open: RwSignal<Option<Change>>) -> impl IntoView {
    let live = Live::get();
    let button = move |label: &'static str, testid: &'static str, make: fn(MemberId) -> Change| {
        view! {
            <button
                type="button"
                data-testid=testid
                disabled=move || may_not_preview(live)
                title=move || if may_not_preview(live) { refusal(live).unwrap_or_default() } else { "" }
                on:click=move |_| {
                    if let Some(id) = member.with_untracked(|m| m.as_ref().map(|m| m.id)) {
                        open.set(Some(make(id)));
                    }
                }
            >
                {label}
            </button>
        }
    };
    let learner = Memo::new(move |_| member.with(|m| m.as_ref().is_some_and(|m| m.is_learner)));
    let leader = Memo::new(move |_| member.with(|m| m.as_ref().is_some_and(|m| m.is_leader)));
    view! {
        {move || learner.get().then(|| button("Promote…", "member-promote", Change::Promote))}
        {move || (!learner.get() && !leader.get()).then(|| button("Make leader…", "member-move-leader", Change::MoveLeader))}
        {button("Remove…", "member-remove", Change::Remove)}
    }
}

/// The form that adds a learner: its name and peer URL, then the preview.
#[component]
pub(super) fn AddLearner(open: RwSignal<Option<Change>>) -> impl IntoView {
    let live = Live::get();
    let name = RwSignal::new(String::new());
    let peer_url = RwSignal::new(String::new());
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let (name, peer_url) = (
            name.get_untracked().trim().to_owned(),
            peer_url.get_untracked().trim().to_owned(),
        );
        if !name.is_empty() && !peer_url.is_empty() {
            open.set(Some(Change::Add { name, peer_url }));
        }
    };
    view! {
        <form class="add-learner" data-testid="add-learner-form" aria-labelledby="add-learner-title" on:submit=submit>
            <h2 id="add-learner-title">"Add a learner"</h2>
            <label>
                "Name (its --name)"
                <input
                    type="text"
                    required=true
                    autocomplete="off"
                    spellcheck="false"
                    placeholder="etcd-4"
                    data-testid="add-learner-name"
                    prop:value=move || name.get()
                    on:input=move |ev| name.set(event_target_value(&ev))
                />
            </label>
            <label>
                "Peer URL"
                <input
                    type="text"
                    required=true
                    autocomplete="off"
                    spellcheck="false"
                    placeholder="http://10.0.0.4:2380"
                    data-testid="add-learner-peer-url"
                    prop:value=move || peer_url.get()
                    on:input=move |ev| peer_url.set(event_target_value(&ev))
                />
            </label>
            <button
                type="submit"
                data-testid="open-add-learner"
                disabled=move || may_not_preview(live)
                title=move || if may_not_preview(live) { refusal(live).unwrap_or_default() } else { "" }
            >
                "Preview adding…"
            </button>
        </form>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_change_goes_to_its_route_with_dry_run_for_the_preview() {
        let add = Change::Add {
            name: "m4".to_owned(),
            peer_url: "http://127.0.0.1:2390".to_owned(),
        };
        assert_eq!(
            request(&add, true),
            Call::Post(
                "/api/v1/ops/members".to_owned(),
                serde_json::json!({"name": "m4", "peer_urls": ["http://127.0.0.1:2390"], "dry_run": true})
            )
        );
        let id = MemberId(0x8e9e05c52164694d);
        assert_eq!(
            request(&Change::Promote(id), false),
            Call::Post(
                "/api/v1/ops/members/8e9e05c52164694d/promote".to_owned(),
                serde_json::json!({"dry_run": false})
            )
        );
        assert_eq!(
            request(&Change::Remove(id), true),
            Call::Delete(
                "/api/v1/ops/members/8e9e05c52164694d".to_owned(),
                serde_json::json!({"dry_run": true})
            )
        );
        assert_eq!(
            request(&Change::MoveLeader(id), true),
            Call::Post(
                "/api/v1/ops/move-leader".to_owned(),
                serde_json::json!({"to": "8e9e05c52164694d", "dry_run": true})
            )
        );
    }

    #[test]
    fn the_flags_paste_as_one_command_line() {
        let flags = ["--name=m4".to_owned(), "--initial-cluster-state=existing".to_owned()];
        assert_eq!(flags_text(&flags), "--name=m4 \\\n  --initial-cluster-state=existing");
    }

    #[test]
    fn members_not_started_are_named_by_id() {
        let mut m = ShapeMember {
            id: MemberId(0xab),
            name: String::new(),
            peer_urls: vec![],
            is_learner: true,
            is_leader: false,
            healthy: false,
        };
        assert_eq!(shape_name(&m), "member ab (not started)");
        m.id = MemberId(0);
        assert_eq!(shape_name(&m), "the new member");
        m.name = "m4".to_owned();
        assert_eq!(shape_name(&m), "m4");
    }
}
