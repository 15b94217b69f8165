//! Revoking a lease, or breaking a lock by revoking its holder's lease:
//! first exactly what it removes, then a deliberate confirmation (typing the
//! lease id when it holds more than one instance), then the result in words.
//!
//! The confirmation is for what the operator saw. The request carries the
//! preview's keys (and, for a lock, the holder it showed), and the server
//! refuses with the situation now when etcd holds something else. A lock's
//! dialog also follows the lock live: when its holder changes while it is
//! open, it says so and acts only after the new holder was reviewed.

use leptos::html;
use leptos::prelude::*;
use leptos::task::spawn_local;

use super::encode_segment;
use super::modal::Modal;
use crate::live::api::{delete_json_with, get_json, post_json, ApiFailure};
use crate::live::Live;
use crate::model::{
    BreakLockRequest, Contender, ExpectedHolder, HolderChangedBody, LeaseChangedBody, LeaseDetailBody, LockBrokenBody,
    RevokeRequest, RevokedBody,
};

/// What the dialog acts on.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// Revoke this lease (its id in hex).
    Lease(String),
    /// Break this lock: revoke its holder's lease.
    Lock(String),
}

#[derive(Debug, Clone, PartialEq)]
enum Step {
    Loading,
    /// The preview, and why it is shown again (the server refused the last one).
    Preview(Box<LeaseDetailBody>, Option<String>),
    Acting,
    /// What was done, and whether it deserves a warning (nothing deleted).
    Done(String, bool),
    Failed(String),
}

/// `a` and `b` are the same holder: one key, one lease.
fn same_holder(a: Option<&Contender>, b: Option<&Contender>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => a.key == b.key && a.lease == b.lease,
        (None, None) => true,
        _ => false,
    }
}

#[component]
pub fn RevokeDialog(target: Target, on_close: Callback<()>) -> impl IntoView {
    let live = Live::get();
    let lock_name = match &target {
        Target::Lock(name) => Some(name.clone()),
        Target::Lease(_) => None,
    };
    // The lock's holder now, live; `None` for a lease.
    let current = Memo::new({
        let lock_name = lock_name.clone();
        move |_| {
            let name = lock_name.as_ref()?;
            live.locks.with(|c| c.items.get(name).and_then(|l| l.holder.clone()))
        }
    });
    // The holder the preview is of: what a confirmation is for.
    let reviewed = RwSignal::new(current.get_untracked());
    let lease = Memo::new({
        let target = target.clone();
        move |_| match &target {
            Target::Lease(id) => Some(id.clone()),
            Target::Lock(_) => reviewed.get().map(|h| h.lease.to_string()),
        }
    });
    let step = RwSignal::new(Step::Loading);
    let typed = RwSignal::new(String::new());

    let load = move |why: Option<String>| {
        let Some(id) = lease.get_untracked() else {
            step.set(Step::Failed(
                "Nobody holds this lock any more: there is nothing to break.".to_owned(),
            ));
            return;
        };
        step.set(Step::Loading);
        typed.set(String::new());
        spawn_local(async move {
            let result = get_json::<LeaseDetailBody>(&format!("/api/v1/leases/{id}")).await;
            step.set(match result {
                Ok(body) => Step::Preview(Box::new(body), why),
                Err(failure) => Step::Failed(failure.to_string()),
            });
        });
    };
    load(None);

    // Reviewing the new holder: its lease is the one previewed from now on.
    let review = move |_| {
        reviewed.set(current.get_untracked());
        load(None);
    };
    let is_lock = lock_name.is_some();
    let moved = move || is_lock && !same_holder(current.get().as_ref(), reviewed.get().as_ref());

    let confirm = {
        let target = target.clone();
        move |detail: LeaseDetailBody| {
            let target = target.clone();
            let Some(id) = lease.get_untracked() else {
                return;
            };
            let expect_keys = Some(detail.keys.clone());
            let holder = reviewed.get_untracked();
            step.set(Step::Acting);
            spawn_local(async move {
                let next = match target {
                    Target::Lease(_) => {
                        let body = RevokeRequest { expect_keys };
                        let path = format!("/api/v1/leases/{id}");
                        match delete_json_with::<RevokedBody>(&path, &body).await {
                            Ok(done) => revoked_step(&done),
                            Err(failure) => refused_step(failure),
                        }
                    }
                    Target::Lock(name) => {
                        let Some(holder) = holder else {
                            return;
                        };
                        let body = BreakLockRequest {
                            expect_holder: ExpectedHolder {
                                key: holder.key,
                                lease: holder.lease,
                            },
                            expect_keys,
                        };
                        let path = format!("/api/v1/locks/{}/break", encode_segment(&name));
                        match post_json::<LockBrokenBody>(&path, &body).await {
                            Ok(done) => broken_step(&done),
                            Err(failure) => refused_step(failure),
                        }
                    }
                };
                step.set(next);
            });
        }
    };

    let typed_box = NodeRef::<html::Input>::new();
    typed_box.on_load(|input| {
        let _ = input.focus();
    });
    let action_label = {
        let target = target.clone();
        move || {
            let id = lease.get().unwrap_or_default();
            match &target {
                Target::Lease(_) => format!("Revoke lease {id}"),
                Target::Lock(_) => format!("Break lock (revoke lease {id})"),
            }
        }
    };
    let can_act = move || match step.get() {
        Step::Preview(detail, _) => {
            let needs_typing = detail.instances.len() > 1;
            let id = lease.get().unwrap_or_default();
            !moved() && (!needs_typing || typed.get().trim().eq_ignore_ascii_case(&id))
        }
        _ => false,
    };
    // Enter in the form (the typed id) confirms, as the button does.
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if !can_act() {
            return;
        }
        if let Step::Preview(detail, _) = step.get_untracked() {
            confirm(*detail);
        }
    };
    let body = {
        let target = target.clone();
        move || match step.get() {
            Step::Loading => view! { <p>"Looking up what this lease holds…"</p> }.into_any(),
            Step::Acting => view! { <p>"Revoking…"</p> }.into_any(),
            Step::Failed(message) => view! { <p class="error" role="alert">{message}</p> }.into_any(),
            Step::Done(text, warn) => view! {
                <p class=if warn { "warn" } else { "done" } role="status" data-testid="revoke-result">{text}</p>
            }
            .into_any(),
            Step::Preview(detail, why) => {
                let needs_typing = detail.instances.len() > 1;
                let intro = match &target {
                    Target::Lease(_) => "Revoking this lease makes etcd delete every key on it, at once:",
                    Target::Lock(_) => {
                        "Breaking the lock revokes its holder's lease: etcd deletes the holder's key, and every other key on the lease, at once:"
                    }
                };
                view! {
                    {why.map(|why| view! { <p class="warn" role="alert" data-testid="revoke-changed">{why}</p> })}
                    <p>{intro}</p>
                    <ul class="removes" data-testid="revoke-preview">
                        {detail.instances.iter().map(|i| view! {
                            <li>"instance " <code>{i.key.clone()}</code> " of " <strong>{i.service.clone()}</strong></li>
                        }).collect_view()}
                        {detail.locks.iter().map(|l| view! { <li>"lock " <code>{l.clone()}</code></li> }).collect_view()}
                        {detail.elections.iter().map(|e| view! { <li>"election " <code>{e.clone()}</code></li> }).collect_view()}
                        {detail.other_keys.iter().map(|k| view! { <li>"key " <code>{k.clone()}</code></li> }).collect_view()}
                    </ul>
                    {(detail.keys.is_empty()).then(|| view! { <p>"It holds no key."</p> })}
                    <form class="confirm" on:submit=submit.clone() id="revoke-form">
                        {needs_typing.then(|| view! {
                            <label class="confirm-typing">
                                {format!("It holds {} instances. Type the lease id to confirm:", detail.instances.len())}
                                <input
                                    type="text"
                                    autocomplete="off"
                                    spellcheck="false"
                                    data-testid="revoke-typed"
                                    node_ref=typed_box
                                    prop:value=move || typed.get()
                                    on:input=move |ev| typed.set(event_target_value(&ev))
                                />
                            </label>
                        })}
                    </form>
                }
                .into_any()
            }
        }
    };
    // Shown above the actions while the lock's holder is not the reviewed one.
    let holder_moved = move || {
        if !moved() {
            return None;
        }
        Some(match current.get() {
            Some(now) => view! {
                <div class="warn" role="alert" data-testid="holder-changed">
                    <p>
                        "The holder changed to " <code>{now.key.clone()}</code> " (lease " <code>{now.lease.to_string()}</code>
                        "): review it before breaking the lock."
                    </p>
                    <button type="button" data-testid="review-holder" on:click=review>"Review the new holder"</button>
                </div>
            }
            .into_any(),
            None => view! {
                <p class="warn" role="alert" data-testid="holder-changed">
                    "Nobody holds this lock any more: there is nothing to break."
                </p>
            }
            .into_any(),
        })
    };
    // A memo: the action button stays while the step moves on before the end.
    let finished = Memo::new(move |_| matches!(step.get(), Step::Done(..) | Step::Failed(_)));
    let heading = match &target {
        Target::Lease(id) => view! { "Revoke lease " <code>{id.clone()}</code> }.into_any(),
        Target::Lock(name) => view! { "Break lock " <code>{name.clone()}</code> }.into_any(),
    };
    view! {
        <Modal labelled_by="revoke-title" testid="revoke-dialog" on_close>
            <h2 id="revoke-title">{heading}</h2>
            {body}
            {holder_moved}
            <div class="actions">
                <button type="button" on:click=move |_| on_close.run(())>
                    {move || if finished.get() { "Close" } else { "Cancel" }}
                </button>
                {move || (!finished.get()).then(|| view! {
                    <button
                        type="submit"
                        form="revoke-form"
                        class="danger"
                        data-testid="revoke-confirm"
                        disabled=move || !can_act()
                    >
                        {action_label.clone()}
                    </button>
                })}
            </div>
        </Modal>
    }
}

fn revoked_step(done: &RevokedBody) -> Step {
    if done.deleted_keys == 0 {
        Step::Done(
            format!(
                "Lease {} revoked at revision {}, but it held no key any more: nothing was deleted.",
                done.revoked, done.revision
            ),
            true,
        )
    } else {
        Step::Done(
            format!(
                "Lease {} revoked: {} key(s) deleted at revision {}.",
                done.revoked, done.deleted_keys, done.revision
            ),
            false,
        )
    }
}

fn broken_step(done: &LockBrokenBody) -> Step {
    Step::Done(
        format!(
            "Lock {} broken: the holder's key deleted at revision {}, then lease {} revoked: {} key(s) deleted in all.",
            done.lock, done.released_at, done.revoked, done.deleted_keys
        ),
        false,
    )
}

/// A refusal: the preview again when the server sent what is there now.
fn refused_step(failure: ApiFailure) -> Step {
    if failure.status == Some(409) {
        if let Ok(changed) = serde_json::from_str::<LeaseChangedBody>(&failure.body) {
            return Step::Preview(Box::new(changed.current), Some(changed.error.message));
        }
        if let Ok(changed) = serde_json::from_str::<HolderChangedBody>(&failure.body) {
            return Step::Failed(format!("Nothing was revoked: {}", changed.error.message));
        }
    }
    Step::Failed(failure.to_string())
}
