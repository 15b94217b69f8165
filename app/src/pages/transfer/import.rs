//! The import: a document (an export, or `etcdctl get --prefix -w json`
//! output) chosen from disk is sent as it is, the file itself being the
//! request's body, to `POST /api/v1/import`: first as a dry run, whose plan
//! is shown; then, once confirmed, again with the dry run's revision, and
//! the server makes the plan again at that revision and writes only it.

use leptos::prelude::*;
use leptos::task::spawn_local;

use super::plan::{apply_words, bytes, confirm_words, shown_prefix, writes, OutcomeView, PlanView};
use super::{apply_failure, apply_refusal, dry_run_refusal, refusal_note, Step};
use crate::components::encode_segment;
use crate::components::modal::Modal;
use crate::live::api::{post_file, Upload};
use crate::live::Live;
use crate::model::{ImportBody, Revision};
use crate::pages::input_text;

/// Largest document the server takes (`MAX_IMPORT_BODY`); a larger one goes
/// through `leasehold import`.
const MAX_UPLOAD: u64 = 512 << 20;

/// What a dry run was asked with: an apply sends the same.
#[derive(Debug, Clone, PartialEq)]
struct ImportRequest {
    prefix: String,
    /// The document's prefix to re-root from (`None`: its own).
    from: Option<String>,
    delete_missing: bool,
    recreate: bool,
    upload: Upload,
}

impl ImportRequest {
    /// `POST /api/v1/import`'s address: a dry run, or (`apply`) the apply
    /// of the dry run at that revision.
    fn path(&self, apply: Option<Revision>) -> String {
        let mut path = format!("/api/v1/import?prefix={}", encode_segment(&self.prefix));
        if let Some(from) = &self.from {
            path.push_str(&format!("&from={}", encode_segment(from)));
        }
        if self.delete_missing {
            path.push_str("&delete_missing=true");
        }
        if self.recreate {
            path.push_str("&leases=recreate");
        }
        match apply {
            None => path.push_str("&dry_run=true"),
            Some(revision) => path.push_str(&format!("&dry_run=false&expect_revision={revision}")),
        }
        path
    }
}

#[component]
pub(super) fn ImportPart(prefix: String) -> impl IntoView {
    let live = Live::get();
    let prefix = RwSignal::new(prefix);
    let from = RwSignal::new(String::new());
    let delete_missing = RwSignal::new(false);
    let recreate = RwSignal::new(false);
    let upload = RwSignal::new(None::<Upload>);
    let step = RwSignal::new(Step::<ImportRequest, ImportBody>::Idle);
    let confirming = RwSignal::new(false);
    let note = RwSignal::new(None::<String>);

    // The request the form would send now; why not, when it cannot.
    let request = Memo::new(move |_| {
        let upload = upload.get().ok_or("Choose a document first.")?;
        if upload.size > MAX_UPLOAD {
            return Err("This document is over the 512 MiB the server takes: import it with `leasehold import`, which reads a file of any size.");
        }
        let from = from.get();
        Ok(ImportRequest {
            prefix: prefix.get(),
            from: (!from.is_empty()).then_some(from),
            delete_missing: delete_missing.get(),
            recreate: recreate.get(),
            upload,
        })
    });
    let dry_run = move || {
        let Ok(request) = request.get_untracked() else {
            return;
        };
        note.set(None);
        step.set(Step::Planning);
        spawn_local(async move {
            let answer = post_file::<ImportBody>(&request.path(None), &request.upload).await;
            let _ = step.try_set(match answer {
                Ok(plan) => Step::Planned(request, plan),
                Err(failure) => Step::Failed(failure.to_string()),
            });
        });
    };
    let apply = move || {
        let Step::Planned(request, plan) = step.get_untracked() else {
            return;
        };
        confirming.set(false);
        note.set(None);
        step.set(Step::Applying(request.clone(), plan.clone()));
        spawn_local(async move {
            let answer = post_file::<ImportBody>(&request.path(Some(plan.revision)), &request.upload).await;
            let _ = step.try_set(match answer {
                Ok(done) => Step::Applied(done),
                Err(failure) => {
                    let _ = note.try_set(Some(apply_failure(&failure)));
                    Step::Planned(request, plan)
                }
            });
        });
    };
    // A plan made with other options (or another file) than the form's now
    // is not what Apply would confirm.
    let stale = Memo::new(move |_| match step.get() {
        Step::Planned(made, _) => request.get().ok().as_ref() != Some(&made),
        _ => false,
    });
    let busy = move || step.with(Step::busy);
    let cannot_dry_run = move || dry_run_refusal(live).or_else(|| request.get().err());

    let chosen = move || {
        upload.get().map(|u| {
            view! {
                <span class="chosen" data-testid="import-chosen">{format!("{}, {}", u.name, bytes(u.size))}</span>
            }
        })
    };
    let outcome = move || match step.get() {
        Step::Idle => None,
        Step::Planning => Some(view! { <p class="loading">"Reading the document and the target…"</p> }.into_any()),
        Step::Failed(why) => {
            Some(view! { <p class="error" role="alert" data-testid="import-error">{why}</p> }.into_any())
        }
        current @ (Step::Planned(..) | Step::Applying(..)) => {
            let applying = matches!(current, Step::Applying(..));
            let (Step::Planned(made, plan) | Step::Applying(made, plan)) = current else {
                return None;
            };
            let heading = format!(
                "Dry run: {} into {}, from the document's {}, at revision {}",
                made.upload.name,
                shown_prefix(&plan.prefix),
                shown_prefix(&plan.from),
                plan.revision
            );
            let nothing = writes(&plan) == 0;
            Some(
                view! {
                    <PlanView plan heading/>
                    {move || stale.get().then(|| view! {
                        <p class="notice" data-testid="import-stale">"The options or the file changed since this dry run: dry-run again before applying."</p>
                    })}
                    {move || note.get().map(|why| view! { <p class="error" role="alert" data-testid="import-apply-error">{why}</p> })}
                    <div class="toolbar">
                        <button type="button" class="danger" data-testid="import-apply"
                            disabled=move || applying || nothing || stale.get() || apply_refusal(live).is_some()
                            title=move || apply_refusal(live).unwrap_or_default()
                            on:click=move |_| confirming.set(true)>
                            {if applying { "Applying…" } else { "Apply…" }}
                        </button>
                        {move || refusal_note(apply_refusal(live))}
                    </div>
                }
                .into_any(),
            )
        }
        Step::Applied(done) => Some(
            view! {
                <h3>"Applied"</h3>
                <OutcomeView body=done.clone()/>
                <details class="applied-plan">
                    <summary>"The plan that was applied"</summary>
                    <PlanView plan=done heading="As the apply made it again at the dry run's revision"/>
                </details>
                <p class="muted">"Dry-run again to compare the target with the document now."</p>
            }
            .into_any(),
        ),
    };
    let dialog = move || {
        if !confirming.get() {
            return None;
        }
        let Step::Planned(made, plan) = step.get() else {
            return None;
        };
        let close = Callback::new(move |()| confirming.set(false));
        let now = live.revision.get_untracked();
        let moved = (now > plan.revision).then(|| {
            view! {
                <p class="notice">{format!(
                    "etcd is at revision {now} now: a key of the target written since revision {} is a conflict, not an overwrite.",
                    plan.revision
                )}</p>
            }
        });
        let confirm = confirm_words("Import", &plan);
        let words = apply_words(&plan, made.recreate)
            .into_iter()
            .map(|w| view! { <li>{w}</li> })
            .collect_view();
        Some(view! {
            <Modal labelled_by="import-confirm-title" testid="import-confirm-dialog" on_close=close>
                <h2 id="import-confirm-title">{format!("Import {} into {}?", made.upload.name, shown_prefix(&plan.prefix))}</h2>
                <ul data-testid="import-confirm-words">{words}</ul>
                <p>"The file is sent again, and the server makes the plan again at the dry run's revision: what it writes is what the dry run showed."</p>
                {moved}
                <div class="actions">
                    <button type="button" on:click=move |_| close.run(())>"Cancel"</button>
                    <button type="button" class="danger" data-testid="import-confirm" on:click=move |_| apply()>
                        {confirm}
                    </button>
                </div>
            </Modal>
        })
    };

    view! {
        <section class="transfer-part" aria-labelledby="import-title" data-testid="import-section">
            <h2 id="import-title">"Import"</h2>
            <p class="muted">
                "A document into a prefix: an export, or the output of etcdctl get --prefix -w json. Each key's part after the document's prefix is put under the target. The dry run shows what would be added, changed and left alone, and what is here but not in the file."
            </p>
            <form class="transfer-form" on:submit=move |ev: leptos::ev::SubmitEvent| {
                ev.prevent_default();
                if cannot_dry_run().is_none() && !busy() {
                    dry_run();
                }
            }>
                <label>"Document"
                    <input type="file" accept="application/json,.json" data-testid="import-file"
                        on:change=move |ev| upload.set(Upload::chosen(&ev))/>
                    {chosen}
                </label>
                <label>"Into the prefix"
                    <input type="text" data-testid="import-prefix" placeholder="/config/"
                        prop:value=move || prefix.get()
                        on:input=move |ev| prefix.set(input_text(&ev))/>
                </label>
                <label>"From the document's prefix"
                    <input type="text" data-testid="import-from" placeholder="its own (the export's prefix)"
                        prop:value=move || from.get()
                        on:input=move |ev| from.set(input_text(&ev))/>
                </label>
                <fieldset>
                    <legend>"Options"</legend>
                    <label class="check">
                        <input type="checkbox" data-testid="import-delete-missing"
                            prop:checked=move || delete_missing.get()
                            on:change=move |_| delete_missing.update(|d| *d = !*d)/>
                        "Delete the keys here that the document does not hold"
                    </label>
                    <label class="check">
                        <input type="checkbox" data-testid="import-recreate-leases"
                            prop:checked=move || recreate.get()
                            on:change=move |_| recreate.update(|r| *r = !*r)/>
                        "Recreate leases with the recorded TTLs"
                    </label>
                </fieldset>
                <div class="toolbar">
                    <button type="submit" class="primary" data-testid="import-dry-run"
                        disabled=move || busy() || cannot_dry_run().is_some()
                        title=move || cannot_dry_run().unwrap_or_default()>
                        "Dry run"
                    </button>
                    {move || cannot_dry_run().map(|why| view! { <span class="muted" data-testid="import-why">{why}</span> })}
                </div>
            </form>
            {outcome}
            {dialog}
        </section>
    }
}

#[cfg(all(test, not(feature = "hydrate")))]
mod tests {
    use super::*;

    #[test]
    fn the_apply_sends_what_the_dry_run_was_asked_with() {
        let request = ImportRequest {
            prefix: "/dst/".to_owned(),
            from: Some("/src/".to_owned()),
            delete_missing: true,
            recreate: false,
            upload: Upload {
                name: "doc.json".to_owned(),
                size: 10,
            },
        };
        assert_eq!(
            request.path(None),
            "/api/v1/import?prefix=%2Fdst%2F&from=%2Fsrc%2F&delete_missing=true&dry_run=true"
        );
        assert_eq!(
            request.path(Some(42)),
            "/api/v1/import?prefix=%2Fdst%2F&from=%2Fsrc%2F&delete_missing=true&dry_run=false&expect_revision=42"
        );
    }
}
