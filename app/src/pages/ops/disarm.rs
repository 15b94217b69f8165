//! Disarming NOSPACE: which members' alarms it lifts and what must hold
//! first (the space is back under the quota), then the disarm, and what etcd
//! reports afterwards, asked again rather than assumed.

use leptos::prelude::*;
use leptos::task::spawn_local;

use super::{may_not_act, member_name, refused, Checks, Refused};
use crate::components::modal::Modal;
use crate::live::api::post_json;
use crate::live::Live;
use crate::model::{Alarm, DisarmBody, DisarmRequest, MemberAlarm};

#[derive(Debug, Clone, PartialEq)]
enum Step {
    Loading,
    /// The preview, and why it is shown again (the disarm was refused).
    Preview(Box<DisarmBody>, Option<String>),
    Acting,
    Done(Box<DisarmBody>),
    Failed(String),
}

fn request(dry_run: bool) -> DisarmRequest {
    DisarmRequest {
        alarm: Alarm::NoSpace,
        member: None,
        dry_run,
    }
}

/// The members whose NOSPACE etcd still reports after a disarm.
fn still_raised(after: &[MemberAlarm]) -> Vec<MemberAlarm> {
    after.iter().filter(|a| a.alarm == Alarm::NoSpace).copied().collect()
}

#[component]
pub(super) fn DisarmDialog(on_close: Callback<()>) -> impl IntoView {
    let live = Live::get();
    let step = RwSignal::new(Step::Loading);
    let load = move |why: Option<String>| {
        step.set(Step::Loading);
        spawn_local(async move {
            step.set(
                match post_json::<DisarmBody>("/api/v1/ops/alarms/disarm", &request(true)).await {
                    Ok(body) => Step::Preview(Box::new(body), why),
                    Err(failure) => Step::Failed(refused(&failure).1),
                },
            );
        });
    };
    load(None);
    let confirm = move || {
        if !matches!(step.get_untracked(), Step::Preview(..)) {
            return;
        }
        step.set(Step::Acting);
        spawn_local(async move {
            match post_json::<DisarmBody>("/api/v1/ops/alarms/disarm", &request(false)).await {
                Ok(done) => step.set(Step::Done(Box::new(done))),
                // A check no longer holds: the preview again, as it is now.
                Err(failure) => load(Some(format!("Nothing was disarmed. {}", refused(&failure).1))),
            }
        });
    };
    let can_confirm = move || matches!(step.get(), Step::Preview(body, _) if !body.alarms.is_empty() && body.checks.iter().all(|c| c.ok));
    let finished = Memo::new(move |_| matches!(step.get(), Step::Done(_) | Step::Failed(_)));
    let names = move |alarms: &[MemberAlarm]| {
        alarms
            .iter()
            .map(|a| member_name(live, a.member))
            .collect::<Vec<String>>()
            .join(", ")
    };
    let body = move || {
        match step.get() {
        Step::Loading => view! { <p>"Reading the active alarms…"</p> }.into_any(),
        Step::Acting => view! { <p>"Disarming…"</p> }.into_any(),
        Step::Failed(why) => view! { <p class="error" role="alert" data-testid="disarm-refused">{why}</p> }.into_any(),
        Step::Preview(body, why) => view! {
            {why.map(|w| view! { <p class="warn" role="alert" data-testid="disarm-refused">{w}</p> })}
            {if body.alarms.is_empty() {
                view! { <p class="notice" data-testid="disarm-nothing">"No NOSPACE alarm is active: there is nothing to disarm."</p> }.into_any()
            } else {
                view! {
                    <p>"It lifts " {body.alarm.as_str()} " on:"</p>
                    <ul data-testid="disarm-alarms">
                        {body.alarms.iter().map(|a| view! {
                            <li>{member_name(live, a.member)} " " <code class="muted">{a.member.to_string()}</code></li>
                        }).collect_view()}
                    </ul>
                }
                .into_any()
            }}
            <Checks checks=body.checks.clone()/>
            <p class="muted">
                "etcd raises NOSPACE again on the next write that finds the database over its quota: free the space first (compact, then defragment)."
            </p>
        }
        .into_any(),
        Step::Done(done) => match done.active_after.as_deref() {
            Some(after) => {
                let left = still_raised(after);
                if left.is_empty() {
                    view! {
                        <p class="done" role="status" data-testid="disarm-result" data-gone="true">
                            "The NOSPACE alarm is gone: etcd accepts writes again."
                        </p>
                    }
                    .into_any()
                } else {
                    view! {
                        <p class="warn" role="alert" data-testid="disarm-result" data-gone="false">
                            {format!("etcd still reports NOSPACE on {}.", names(&left))}
                        </p>
                    }
                    .into_any()
                }
            }
            None => view! {
                <p class="done" role="status" data-testid="disarm-result">
                    {format!("Disarmed on {}; the table shows the alarms as etcd reports them next.", names(&done.alarms))}
                </p>
            }
            .into_any(),
        },
    }
    };
    view! {
        <Modal labelled_by="disarm-title" testid="disarm-dialog" on_close>
            <h2 id="disarm-title">"Disarm NOSPACE"</h2>
            <p>"While NOSPACE is active etcd accepts only reads and deletes. etcd does not lift it by itself once space is free: it must be disarmed."</p>
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
                        data-testid="disarm-confirm"
                        disabled=move || !can_confirm() || may_not_act(live)
                        on:click=move |_| confirm()
                    >
                        "Disarm NOSPACE"
                    </button>
                })}
            </div>
        </Modal>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::MemberId;

    #[test]
    fn the_disarm_asks_for_nospace_on_every_member() {
        assert_eq!(
            serde_json::to_string(&request(true)).ok().as_deref(),
            Some(r#"{"alarm":"NOSPACE","dry_run":true}"#)
        );
        assert_eq!(
            serde_json::to_string(&request(false)).ok().as_deref(),
            Some(r#"{"alarm":"NOSPACE","dry_run":false}"#)
        );
    }

    #[test]
    fn only_nospace_counts_as_still_raised() {
        let corrupt = MemberAlarm {
            member: MemberId(1),
            alarm: Alarm::Corrupt,
        };
        let full = MemberAlarm {
            member: MemberId(2),
            alarm: Alarm::NoSpace,
        };
        assert_eq!(still_raised(&[corrupt]), vec![]);
        assert_eq!(still_raised(&[corrupt, full]), vec![full]);
    }
}
