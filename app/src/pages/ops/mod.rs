//! The operations console: each member's health, quota and alarms, the
//! compaction horizon, the maintenance actions (compact, rolling
//! defragmentation, disarm) and the membership changes (add a learner,
//! promote, remove, move the leader), each previewed in a dialog and
//! confirmed for what the preview showed; the consistency check and each
//! member's snapshot. While a member has NOSPACE, the guided recovery on top
//! walks through the runbook.
//!
//! `member.rs` holds a member's row and its quota gauge; `compact.rs`,
//! `defrag.rs` and `disarm.rs` one dialog each; `membership.rs` the
//! membership dialog, a row's buttons and the add-learner form;
//! `consistency.rs` the HashKV check; `snapshot.rs` the download links and
//! their progress; `recovery.rs` the NOSPACE runbook.

mod compact;
mod consistency;
mod defrag;
mod disarm;
mod member;
mod membership;
mod recovery;
mod snapshot;

use leptos::prelude::*;

use super::Loading;
use crate::live::api::ApiFailure;
use crate::live::Live;
use crate::model::{Alarm, Check, ErrorBody, ErrorCode, MemberId, Revision};
use member::MemberRow;

/// A maintenance action, and so the dialog that previews it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Compact,
    Defrag,
    Disarm,
}

/// Why the maintenance actions are not offered to this tab, once the server
/// has said who this is; `None` when they are (or while it has not said).
fn refusal(live: Live) -> Option<&'static str> {
    live.me.with(|me| match me {
        Some(me) if me.read_only => Some("This Leasehold runs read-only: no maintenance can be run through it."),
        Some(me) if !me.may_revoke() => Some("Your role may look but not run maintenance; an operator can."),
        _ => None,
    })
}

/// Whether an action's preview may not be asked for: until the server has
/// said who this is, and under `--read-only`, which refuses previews too.
/// A viewer may look at what an action would do.
fn may_not_preview(live: Live) -> bool {
    live.me.with(|me| me.as_ref().is_none_or(|me| me.read_only))
}

/// Whether an action may not be confirmed: until the server has said who
/// this is, and for whoever may not act.
fn may_not_act(live: Live) -> bool {
    live.me.with(Option::is_none) || refusal(live).is_some()
}

/// Why the action in a dialog cannot be confirmed from this tab, beside its
/// button.
#[component]
fn Refused() -> impl IntoView {
    let live = Live::get();
    move || refusal(live).map(|why| view! { <p class="notice" data-testid="action-refusal">{why}</p> })
}

/// A refused action in words: the server's code read for what it means
/// here, then its message.
fn refused(failure: &ApiFailure) -> (Option<ErrorCode>, String) {
    refused_words(&failure.body, failure.to_string())
}

/// [`refused`] of an error answer's body; `otherwise` when it is not one.
fn refused_words(body: &str, otherwise: String) -> (Option<ErrorCode>, String) {
    let Ok(body) = serde_json::from_str::<ErrorBody>(body) else {
        return (None, otherwise);
    };
    let ErrorBody { error } = body;
    let what = match error.code {
        ErrorCode::OutOfScope => {
            "This Leasehold serves only some prefixes (--prefix), and this action is cluster-wide: it is refused here"
        }
        ErrorCode::Compacted => "etcd has already compacted past that revision",
        ErrorCode::PreconditionFailed => "A check does not hold now",
        ErrorCode::Changed => "The cluster changed since the preview",
        ErrorCode::InProgress => "A rolling defragmentation is already under way",
        ErrorCode::BadRequest => "Not a valid request",
        ErrorCode::Forbidden => "You are not allowed to do this",
        _ => return (Some(error.code), otherwise),
    };
    (Some(error.code), format!("{what}: {}", error.message))
}

/// A member's name, from the live view, or its id while the view does not
/// know it (or the member has not started, so has no name yet).
fn member_name(live: Live, id: MemberId) -> String {
    live.ops
        .with(|v| v.as_ref().and_then(|v| v.members.get(&id).map(|m| m.name.clone())))
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| id.to_string())
}

/// Whether some member has a NOSPACE alarm now.
fn nospace(live: Live) -> bool {
    live.ops.with(|v| {
        v.as_ref()
            .is_some_and(|v| v.members.values().any(|m| m.alarms.contains(&Alarm::NoSpace)))
    })
}

/// The compaction horizon in words.
fn horizon_text(horizon: Option<Revision>) -> String {
    match horizon {
        None => "not read yet".to_owned(),
        Some(0) => "0 (nothing compacted)".to_owned(),
        Some(revision) => revision.to_string(),
    }
}

/// What an action checks first, each with whether it holds.
#[component]
fn Checks(checks: Vec<Check>) -> impl IntoView {
    view! {
        <ul class="checks" data-testid="checks">
            {checks
                .into_iter()
                .map(|c| {
                    let (mark, class) = if c.ok { ("✓", "ok") } else { ("✗", "bad") };
                    view! {
                        <li class=class data-testid="check" data-ok=if c.ok { "true" } else { "false" }>
                            <span class="mark" aria-hidden="true">{mark}</span>
                            <span class="sr-only">{if c.ok { "holds: " } else { "does not hold: " }}</span>
                            {c.what}
                        </li>
                    }
                })
                .collect_view()}
        </ul>
    }
}

#[component]
pub fn OpsPage() -> impl IntoView {
    let live = Live::get();
    // Its topic is subscribed by the route (`deferred::watch_topics`).
    let open = RwSignal::new(None::<Action>);
    let change = RwSignal::new(None::<membership::Change>);
    let hashes = RwSignal::new(consistency::Hashes::default());
    let snapshots = snapshot::Tracker::new(live);
    let ids = Memo::new(move |_| {
        live.ops.with(|v| {
            v.as_ref()
                .map(|v| v.sorted().iter().map(|m| m.id).collect::<Vec<MemberId>>())
        })
    });
    let horizon = Memo::new(move |_| live.ops.with(|v| v.as_ref().and_then(|v| v.compact_revision)));
    let smallest_quota = Memo::new(move |_| {
        live.ops
            .with(|v| v.as_ref().and_then(|v| v.members.values().map(|m| m.quota_bytes).min()))
    });
    let close = Callback::new(move |()| open.set(None));
    let close_change = Callback::new(move |()| change.set(None));
    let button = move |action: Action, label: &'static str, testid: &'static str| {
        view! {
            <button
                type="button"
                data-testid=testid
                disabled=move || may_not_preview(live)
                title=move || if may_not_preview(live) { refusal(live).unwrap_or_default() } else { "" }
                on:click=move |_| open.set(Some(action))
            >
                {label}
            </button>
        }
    };
    let content = move || match ids.get() {
        None => view! { <Loading/> }.into_any(),
        Some(ids) if ids.is_empty() => view! { <p class="empty">"No member answered yet."</p> }.into_any(),
        Some(_) => view! {
            <div class="scroll">
                <table class="grid ops">
                    <thead>
                        <tr>
                            <th scope="col">"Member"</th>
                            <th scope="col">"Health"</th>
                            <th scope="col">"Quota"</th>
                            <th scope="col" class="num">"Raft index (applied)"</th>
                            <th scope="col">"Alarms"</th>
                            <th scope="col">"Defragmentation"</th>
                            <th scope="col">"Errors"</th>
                            <th scope="col">"Actions"</th>
                        </tr>
                    </thead>
                    <tbody>
                        <For each=move || ids.get().unwrap_or_default() key=|id| *id let:id>
                            <MemberRow id open=change snapshots/>
                        </For>
                    </tbody>
                </table>
            </div>
        }
        .into_any(),
    };
    view! {
        <section class="page ops-page">
            <h1>"Operations"</h1>
            {move || refusal(live).map(|why| view! { <p class="notice" data-testid="ops-refusal">{why}</p> })}
            <recovery::Recovery open/>
            <p class="summary">
                <span>
                    "Compaction horizon "
                    <strong data-testid="compact-revision">{move || horizon_text(horizon.get())}</strong>
                </span>
                <span>"Revision " <strong data-testid="ops-revision">{move || live.revision.get()}</strong></span>
                <span>
                    "Smallest quota "
                    <strong>{move || smallest_quota.get().map_or_else(|| "—".to_owned(), crate::model::human_bytes)}</strong>
                </span>
            </p>
            <div class="toolbar">
                {button(Action::Compact, "Compact…", "open-compact")}
                {button(Action::Defrag, "Defragment…", "open-defrag")}
                {button(Action::Disarm, "Disarm NOSPACE…", "open-disarm")}
                <consistency::CheckButton state=hashes/>
            </div>
            <consistency::Outcome state=hashes/>
            {content}
            <membership::AddLearner open=change/>
            <snapshot::Snapshots tracker=snapshots/>
            {move || open.get().map(|action| match action {
                Action::Compact => view! { <compact::CompactDialog on_close=close/> }.into_any(),
                Action::Defrag => view! { <defrag::DefragDialog on_close=close/> }.into_any(),
                Action::Disarm => view! { <disarm::DisarmDialog on_close=close/> }.into_any(),
            })}
            {move || change.get().map(|change| view! { <membership::MembershipDialog change on_close=close_change/> })}
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_horizon_says_when_nothing_was_compacted() {
        assert_eq!(horizon_text(None), "not read yet");
        assert_eq!(horizon_text(Some(0)), "0 (nothing compacted)");
        assert_eq!(horizon_text(Some(812)), "812");
    }

    #[test]
    fn refusals_say_what_the_code_means_here() {
        let (code, words) = refused_words(
            r#"{"error":{"code":"out_of_scope","message":"compaction is cluster-wide"}}"#,
            "403".to_owned(),
        );
        assert_eq!(code, Some(ErrorCode::OutOfScope));
        assert!(
            words.contains("--prefix") && words.ends_with("compaction is cluster-wide"),
            "{words}"
        );
        assert_eq!(refused_words("not json", "502".to_owned()), (None, "502".to_owned()));
    }
}
