//! Revoking a lease: first exactly what it removes, then a deliberate
//! confirmation (typing the lease id when it holds more than one instance),
//! then the result or the error in words.

use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::live::api::{delete_json, get_json};
use crate::model::{LeaseDetailBody, RevokedBody};

#[derive(Debug, Clone, PartialEq)]
enum Step {
    Loading,
    Preview(Box<LeaseDetailBody>),
    Revoking,
    Done(RevokedBody),
    Failed(String),
}

#[component]
pub fn RevokeDialog(
    /// The lease id, hex.
    lease: String,
    /// What the operator is doing, e.g. "Revoke lease" or "Break lock jobs".
    #[prop(into)]
    title: String,
    on_close: Callback<()>,
) -> impl IntoView {
    let step = RwSignal::new(Step::Loading);
    let typed = RwSignal::new(String::new());
    {
        let lease = lease.clone();
        spawn_local(async move {
            let result = get_json::<LeaseDetailBody>(&format!("/api/v1/leases/{lease}")).await;
            step.set(match result {
                Ok(body) => Step::Preview(Box::new(body)),
                Err(failure) => Step::Failed(failure.to_string()),
            });
        });
    }
    let confirm = {
        let lease = lease.clone();
        move |_| {
            let lease = lease.clone();
            step.set(Step::Revoking);
            spawn_local(async move {
                let result = delete_json::<RevokedBody>(&format!("/api/v1/leases/{lease}")).await;
                step.set(match result {
                    Ok(body) => Step::Done(body),
                    Err(failure) => Step::Failed(failure.to_string()),
                });
            });
        }
    };
    let lease_for_view = lease.clone();
    let body = move || {
        match step.get() {
        Step::Loading => view! { <p>"Looking up what this lease holds…"</p> }.into_any(),
        Step::Revoking => view! { <p>"Revoking…"</p> }.into_any(),
        Step::Failed(message) => view! { <p class="error" role="alert">{message}</p> }.into_any(),
        Step::Done(done) => view! {
            <p class="done" role="status" data-testid="revoke-result">
                {format!("Lease {} revoked: {} key(s) deleted at revision {}.", done.revoked, done.deleted_keys, done.revision)}
            </p>
        }
        .into_any(),
        Step::Preview(detail) => {
            let needs_typing = detail.instances.len() > 1;
            let lease_id = lease_for_view.clone();
            let ready = move || !needs_typing || typed.get().trim().eq_ignore_ascii_case(&lease_id);
            let confirm = confirm.clone();
            view! {
                <p>"Revoking this lease makes etcd delete every key on it, at once:"</p>
                <ul class="removes" data-testid="revoke-preview">
                    {detail.instances.iter().map(|i| view! {
                        <li>"instance " <code>{i.key.clone()}</code> " of " <strong>{i.service.clone()}</strong></li>
                    }).collect_view()}
                    {detail.locks.iter().map(|l| view! { <li>"lock " <code>{l.clone()}</code></li> }).collect_view()}
                    {detail.elections.iter().map(|e| view! { <li>"election " <code>{e.clone()}</code></li> }).collect_view()}
                    {detail.other_keys.iter().map(|k| view! { <li>"key " <code>{k.clone()}</code></li> }).collect_view()}
                </ul>
                {(detail.lease.keys == 0).then(|| view! { <p>"It holds no key."</p> })}
                {needs_typing.then(|| view! {
                    <label class="confirm-typing">
                        {format!("It holds {} instances. Type the lease id to confirm:", detail.instances.len())}
                        <input
                            type="text"
                            autocomplete="off"
                            data-testid="revoke-typed"
                            prop:value=move || typed.get()
                            on:input=move |ev| typed.set(event_target_value(&ev))
                        />
                    </label>
                })}
                <div class="actions">
                    <button type="button" class="danger" data-testid="revoke-confirm" disabled=move || !ready() on:click=confirm>
                        "Revoke"
                    </button>
                </div>
            }
            .into_any()
        }
    }
    };
    view! {
        <div class="backdrop">
            <div class="dialog" role="dialog" aria-modal="true" aria-labelledby="revoke-title" data-testid="revoke-dialog">
                <h2 id="revoke-title">{title} " " <code>{lease.clone()}</code></h2>
                {body}
                <div class="actions">
                    <button type="button" on:click=move |_| on_close.run(())>"Close"</button>
                </div>
            </div>
        </div>
    }
}
