//! A rolling defragmentation: the plan first (followers first, the leader
//! last, what each would give back, the checks and the cost), then the roll
//! for exactly that order. Its progress arrives live, as each member's
//! `defrag` in the `ops` topic, and shows here and in the table.

use std::collections::BTreeMap;

use leptos::prelude::*;
use leptos::task::spawn_local;

use super::member::defrag_state_name;
use super::{may_not_act, member_name, refused, Checks, Refused};
use crate::components::modal::Modal;
use crate::live::api::post_json;
use crate::live::Live;
use crate::model::human_bytes;
use crate::model::{DefragBody, DefragRequest, DefragState, DefragStep, ErrorCode, MemberId};

#[derive(Debug, Clone, PartialEq)]
enum Step {
    Loading,
    /// The plan, and why it is shown again (the last confirmation was refused).
    Preview(Box<DefragBody>, Option<String>),
    Acting,
    /// The roll under way: its plan, and a note (another roll was under way).
    Running(Box<DefragBody>, Option<String>),
    Failed(String),
}

/// Each member's step when the roll was asked for: a step that is still the
/// same belongs to an earlier roll.
type Before = BTreeMap<MemberId, Option<DefragStep>>;

fn steps_now(live: Live) -> Before {
    live.ops.with(|v| {
        v.as_ref()
            .map(|v| v.members.iter().map(|(id, m)| (*id, m.defrag.clone())).collect())
            .unwrap_or_default()
    })
}

/// The roll's step of `id`, once it is this roll's.
fn this_roll(live: Live, before: &Before, id: MemberId) -> Option<DefragStep> {
    let now = live.ops.with(|v| {
        v.as_ref()
            .and_then(|v| v.members.get(&id).and_then(|m| m.defrag.clone()))
    });
    now.filter(|step| before.get(&id).is_none_or(|old| old.as_ref() != Some(step)))
}

fn finished(state: DefragState) -> bool {
    matches!(state, DefragState::Done | DefragState::Failed | DefragState::Skipped)
}

fn sizes(db_size: Option<i64>, reclaimable: Option<i64>) -> String {
    match (db_size, reclaimable) {
        (Some(size), Some(free)) => format!("{}, {} reclaimable", human_bytes(size), human_bytes(free)),
        (Some(size), None) => human_bytes(size),
        _ => "size unknown".to_owned(),
    }
}

fn plan_view(body: &DefragBody) -> impl IntoView {
    view! {
        <ol class="plan" data-testid="defrag-plan">
            {body.order.iter().map(|s| view! {
                <li data-member=s.name.clone()>
                    <strong>{s.name.clone()}</strong>
                    {s.is_leader.then(|| view! { " " <span class="badge leader">"leader"</span> })}
                    " " <span class="muted">{sizes(s.db_size, s.reclaimable)}</span>
                </li>
            }).collect_view()}
        </ol>
    }
}

/// The roll's progress, member by member, from the live view.
#[component]
fn Progress(plan: DefragBody, before: StoredValue<Before>) -> impl IntoView {
    let live = Live::get();
    let ids: Vec<MemberId> = plan.order.iter().map(|s| s.id).collect();
    let steps = Memo::new({
        let ids = ids.clone();
        move |_| {
            before.with_value(|before| {
                ids.iter()
                    .map(|id| (*id, this_roll(live, before, *id)))
                    .collect::<Vec<(MemberId, Option<DefragStep>)>>()
            })
        }
    });
    let over = Memo::new(move |_| {
        steps.with(|steps| steps.iter().all(|(_, s)| s.as_ref().is_some_and(|s| finished(s.state))))
    });
    let outcome = move || {
        if !over.get() {
            return view! { <p role="status">"Defragmenting, one member at a time…"</p> }.into_any();
        }
        let failed = steps.with(|steps| {
            steps
                .iter()
                .find(|(_, s)| s.as_ref().is_some_and(|s| s.state == DefragState::Failed))
                .map(|(id, s)| (*id, s.as_ref().and_then(|s| s.error.clone()).unwrap_or_default()))
        });
        match failed {
            Some((id, why)) => view! {
                <p class="error" role="alert" data-testid="defrag-result" data-outcome="failed">
                    {format!("The roll stopped: {} failed: {why}", member_name(live, id))}
                </p>
            }
            .into_any(),
            None => view! {
                <p class="done" role="status" data-testid="defrag-result" data-outcome="done">
                    "Every member is defragmented."
                </p>
            }
            .into_any(),
        }
    };
    view! {
        <ol class="plan" data-testid="defrag-progress">
            {ids.into_iter().map(|id| {
                let step = Memo::new(move |_| steps.with(|s| s.iter().find(|(i, _)| *i == id).and_then(|(_, s)| s.clone())));
                let state = move || step.with(|s| s.as_ref().map_or("waiting", |s| defrag_state_name(s.state)));
                view! {
                    <li data-member=member_name(live, id) data-state=state>
                        <strong>{member_name(live, id)}</strong>
                        " " <span class=move || format!("defrag-state {}", state())>{state}</span>
                        {move || step.get().and_then(|s| match (s.db_size_before, s.db_size_after) {
                            (Some(b), Some(a)) => Some(format!(" {} → {}", human_bytes(b), human_bytes(a))),
                            _ => None,
                        })}
                        {move || step.get().and_then(|s| s.error).map(|e| view! { <div class="error">{e}</div> })}
                    </li>
                }
            }).collect_view()}
        </ol>
        {outcome}
    }
}

#[component]
pub(super) fn DefragDialog(on_close: Callback<()>) -> impl IntoView {
    let live = Live::get();
    let step = RwSignal::new(Step::Loading);
    let before = StoredValue::new(Before::new());

    let load = move |why: Option<String>| {
        step.set(Step::Loading);
        spawn_local(async move {
            let request = DefragRequest {
                expect_order: None,
                dry_run: true,
            };
            step.set(match post_json::<DefragBody>("/api/v1/ops/defrag", &request).await {
                Ok(body) => Step::Preview(Box::new(body), why),
                Err(failure) => Step::Failed(refused(&failure).1),
            });
        });
    };
    load(None);

    let confirm = move || {
        let Step::Preview(plan, _) = step.get_untracked() else {
            return;
        };
        let request = DefragRequest {
            expect_order: Some(plan.order.iter().map(|s| s.id).collect()),
            dry_run: false,
        };
        before.set_value(steps_now(live));
        step.set(Step::Acting);
        spawn_local(async move {
            match post_json::<DefragBody>("/api/v1/ops/defrag", &request).await {
                Ok(started) => step.set(Step::Running(Box::new(started), None)),
                Err(failure) => {
                    let (code, words) = refused(&failure);
                    match code {
                        // The order the preview showed is not the order now, or
                        // a check failed: the plan as it is now, to be reviewed.
                        Some(ErrorCode::Changed | ErrorCode::PreconditionFailed) => load(Some(words)),
                        // Another roll is under way: follow it.
                        Some(ErrorCode::InProgress) => {
                            before.set_value(Before::new());
                            step.set(Step::Running(plan, Some(words)));
                        }
                        _ => step.set(Step::Preview(plan, Some(format!("Nothing was started. {words}")))),
                    }
                }
            }
        });
    };
    let can_confirm = move || matches!(step.get(), Step::Preview(plan, _) if !plan.order.is_empty() && plan.checks.iter().all(|c| c.ok));
    let running = Memo::new(move |_| matches!(step.get(), Step::Running(..) | Step::Failed(_)));
    let body = move || match step.get() {
        Step::Loading => view! { <p>"Planning the roll…"</p> }.into_any(),
        Step::Acting => view! { <p>"Starting…"</p> }.into_any(),
        Step::Failed(why) => view! { <p class="error" role="alert" data-testid="defrag-refused">{why}</p> }.into_any(),
        Step::Preview(plan, why) => {
            let blocked = !plan.checks.iter().all(|c| c.ok);
            view! {
                {why.map(|w| view! { <p class="warn" role="alert" data-testid="defrag-refused">{w}</p> })}
                <p>"Each member in turn, followers first and the leader last:"</p>
                {plan_view(&plan)}
                <Checks checks=plan.checks.clone()/>
                <p class="muted" data-testid="defrag-cost">{plan.cost.clone()}</p>
                {blocked.then(|| view! {
                    <p class="notice" data-testid="defrag-blocked">"A check does not hold: the roll cannot start now."</p>
                })}
            }
            .into_any()
        }
        Step::Running(plan, note) => view! {
            {note.map(|n| view! { <p class="warn" role="alert">{n}</p> })}
            <Progress plan=*plan before/>
        }
        .into_any(),
    };
    view! {
        <Modal labelled_by="defrag-title" testid="defrag-dialog" on_close>
            <h2 id="defrag-title">"Defragment every member"</h2>
            <p>
                "A defragmentation rewrites a member's database file without its free pages, giving them back to the disk. The member answers nothing while it runs, so the roll takes one member at a time."
            </p>
            {body}
            <Refused/>
            <div class="actions">
                <button type="button" on:click=move |_| on_close.run(())>
                    {move || if running.get() { "Close" } else { "Cancel" }}
                </button>
                {move || (!running.get()).then(|| view! {
                    <button
                        type="button"
                        class="danger"
                        data-testid="defrag-confirm"
                        disabled=move || !can_confirm() || may_not_act(live)
                        on:click=move |_| confirm()
                    >
                        "Defragment in this order"
                    </button>
                })}
            </div>
        </Modal>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_roll_is_over_when_every_member_ended_one_way_or_another() {
        assert!(finished(DefragState::Done));
        assert!(finished(DefragState::Failed));
        assert!(finished(DefragState::Skipped));
        assert!(!finished(DefragState::Queued));
        assert!(!finished(DefragState::Running));
    }

    #[test]
    fn plans_say_what_each_member_gives_back() {
        assert_eq!(sizes(Some(16 << 20), Some(12 << 20)), "16.0 MiB, 12.0 MiB reclaimable");
        assert_eq!(sizes(None, None), "size unknown");
    }
}
