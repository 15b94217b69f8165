//! The NOSPACE runbook, on top of the page while a member has the alarm:
//! compact, defragment every member, disarm. Each step opens the action's
//! preview, and is marked done when its effect is seen in the live view:
//! the horizon moved past where it was when the alarm was first seen, every
//! member finished a defragmentation since, the alarm is gone. The panel
//! stays once the alarm is gone, to show the recovery complete.

use std::collections::BTreeMap;

use leptos::prelude::*;

use super::{may_not_preview, nospace, refusal, Action};
use crate::live::Live;
use crate::model::{DefragState, DefragStep, MemberId, Revision};

/// What the live view held when the alarm was seen: a step is done when
/// its effect is seen after that.
#[derive(Debug, Clone, Default, PartialEq)]
struct Start {
    horizon: Option<Revision>,
    defrags: BTreeMap<MemberId, Option<DefragStep>>,
}

/// Every member finished a defragmentation since `start`.
fn defragmented(start: &Start, now: &BTreeMap<MemberId, Option<DefragStep>>) -> bool {
    !now.is_empty()
        && now.iter().all(|(id, step)| {
            step.as_ref().is_some_and(|s| s.state == DefragState::Done)
                && start.defrags.get(id).is_none_or(|old| old != step)
        })
}

/// The horizon moved past where it was at `start` (not known then: not done).
fn compacted(start: &Start, now: Option<Revision>) -> bool {
    matches!((start.horizon, now), (Some(before), Some(now)) if now > before)
}

#[component]
pub(super) fn Recovery(open: RwSignal<Option<Action>>) -> impl IntoView {
    let live = Live::get();
    let full = Memo::new(move |_| nospace(live));
    let horizon = Memo::new(move |_| live.ops.with(|v| v.as_ref().and_then(|v| v.compact_revision)));
    let defrags = Memo::new(move |_| {
        live.ops.with(|v| {
            v.as_ref()
                .map(|v| v.members.iter().map(|(id, m)| (*id, m.defrag.clone())).collect())
                .unwrap_or_default()
        })
    });
    let start = RwSignal::new(None::<Start>);
    let dismissed = RwSignal::new(false);
    // The alarm raised (or found raised): what the steps are measured from.
    Effect::new(move |was: Option<bool>| {
        let now = full.get();
        if now && was != Some(true) {
            start.set(Some(Start {
                horizon: horizon.get_untracked(),
                defrags: defrags.get_untracked(),
            }));
            dismissed.set(false);
        }
        now
    });
    // A horizon not yet known when the alarm was seen is measured from when it is.
    Effect::new(move |_| {
        if let Some(h) = horizon.get() {
            if start.with_untracked(|s| s.as_ref().is_some_and(|s| s.horizon.is_none())) {
                start.update(|s| {
                    if let Some(s) = s {
                        s.horizon = Some(h);
                    }
                });
            }
        }
    });
    let done = Memo::new(move |_| {
        start.with(|s| {
            s.as_ref().map(|s| {
                (
                    compacted(s, horizon.get()),
                    defragmented(s, &defrags.get()),
                    !full.get(),
                )
            })
        })
    });
    let names = Memo::new(move |_| {
        live.ops.with(|v| {
            v.as_ref()
                .map(|v| {
                    v.alarms()
                        .into_iter()
                        .filter(|(a, _)| *a == crate::model::Alarm::NoSpace)
                        .map(|(_, name)| name)
                        .collect::<Vec<String>>()
                        .join(", ")
                })
                .unwrap_or_default()
        })
    });
    let step = move |n: u8,
                     key: &'static str,
                     action: Action,
                     title: &'static str,
                     why: &'static str,
                     button: &'static str,
                     is_done: fn((bool, bool, bool)) -> bool| {
        let finished = move || done.get().is_some_and(is_done);
        view! {
            <li
                class=move || if finished() { "recovery-step done" } else { "recovery-step" }
                data-testid="recovery-step"
                data-step=key
                data-done=move || if finished() { "true" } else { "false" }
            >
                <span class="recovery-mark" aria-hidden="true">{move || if finished() { "✓".to_owned() } else { n.to_string() }}</span>
                <div>
                    <strong>{title}</strong>
                    {move || finished().then(|| view! { <span class="sr-only">" (done)"</span> })}
                    <p>{why}</p>
                    <button
                        type="button"
                        data-testid=format!("recovery-{key}")
                        disabled=move || may_not_preview(live)
                        title=move || if may_not_preview(live) { refusal(live).unwrap_or_default() } else { "" }
                        on:click=move |_| open.set(Some(action))
                    >
                        {button}
                    </button>
                </div>
            </li>
        }
    };
    let shown = move || start.with(Option::is_some) && !dismissed.get();
    view! {
        {move || shown().then(|| view! {
            <section class="recovery" data-testid="nospace-recovery" aria-labelledby="recovery-title">
                <h2 id="recovery-title">
                    {move || if full.get() {
                        format!("NOSPACE: the database is full on {}", names.get())
                    } else {
                        "NOSPACE is disarmed".to_owned()
                    }}
                </h2>
                <p>
                    "A member's database reached its quota, so etcd raised the NOSPACE alarm. While it is active etcd accepts only reads and deletes: every write is refused, new registrations and leases included."
                </p>
                <p>
                    "First delete what filled it if you know what it is (etcdctl del): a key's old versions stay in the history until it is compacted. Then:"
                </p>
                <ol class="recovery-steps">
                    {step(1, "compact", Action::Compact, "Compact the history",
                        "Drops the old revisions, whose values still take space. The space is freed inside the database file.",
                        "Preview the compaction…", |d| d.0)}
                    {step(2, "defrag", Action::Defrag, "Defragment every member",
                        "Gives the freed pages back to the disk, member by member, so the database is under its quota again.",
                        "Preview the defragmentation…", |d| d.1)}
                    {step(3, "disarm", Action::Disarm, "Disarm the alarm",
                        "etcd does not lift NOSPACE by itself: once the space is back, disarm it and writes are accepted again.",
                        "Preview the disarm…", |d| d.2)}
                </ol>
                {move || (!full.get()).then(|| view! {
                    <p class="done" role="status" data-testid="recovery-done">
                        "The alarm is gone: etcd accepts writes again. "
                        <button type="button" on:click=move |_| dismissed.set(true)>"Dismiss"</button>
                    </p>
                })}
            </section>
        })}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(state: DefragState, order: u32) -> Option<DefragStep> {
        Some(DefragStep {
            state,
            order,
            started_at: None,
            finished_at: Some(format!("2026-12-03T07:0{order}:00Z")),
            db_size_before: None,
            db_size_after: None,
            error: None,
        })
    }

    #[test]
    fn a_compaction_counts_once_the_horizon_moved_past_the_start() {
        let at = |h| Start {
            horizon: h,
            defrags: BTreeMap::new(),
        };
        assert!(!compacted(&at(Some(10)), Some(10)));
        assert!(compacted(&at(Some(10)), Some(11)));
        assert!(!compacted(&at(None), Some(11)));
        assert!(!compacted(&at(Some(10)), None));
    }

    #[test]
    fn a_defragmentation_counts_when_every_member_finished_one_since_the_start() {
        let (a, b) = (MemberId(1), MemberId(2));
        let start = Start {
            horizon: None,
            defrags: BTreeMap::from([(a, step(DefragState::Done, 1)), (b, None)]),
        };
        // An earlier roll's result is not this recovery's.
        let now = BTreeMap::from([(a, step(DefragState::Done, 1)), (b, step(DefragState::Done, 2))]);
        assert!(!defragmented(&start, &now));
        let now = BTreeMap::from([(a, step(DefragState::Done, 2)), (b, step(DefragState::Running, 1))]);
        assert!(!defragmented(&start, &now));
        let now = BTreeMap::from([(a, step(DefragState::Done, 2)), (b, step(DefragState::Done, 1))]);
        assert!(defragmented(&start, &now));
        assert!(!defragmented(&start, &BTreeMap::new()));
    }
}
