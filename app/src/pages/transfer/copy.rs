//! Copy and rename: the keys under one prefix put under another in one
//! flow (`POST /api/v1/copy`: an export and an import at one revision),
//! dry-run first; a rename then deletes from the source each key whose copy
//! is in place, only while it is as the dry run saw it. Nothing changes
//! until the dialog is confirmed.

use leptos::prelude::*;
use leptos::task::spawn_local;

use super::plan::{
    apply_words, confirm_words, removal_conflict_view, shown_prefix, writes, OutcomeView, PlanView, LISTED,
};
use super::{apply_failure, apply_refusal, dry_run_refusal, refusal_note, Step};
use crate::components::modal::Modal;
use crate::live::api::post_json;
use crate::live::Live;
use crate::model::{CopyBody, CopyRequest, ImportLeases, Revision};
use crate::pages::input_text;

/// The dry run's request from the form, or why there is none.
fn copy_request(
    from: &str,
    to: &str,
    rename: bool,
    rev: &str,
    delete_missing: bool,
    recreate: bool,
) -> Result<CopyRequest, String> {
    if from == to {
        return Err("Give a target prefix other than the source.".to_owned());
    }
    if from.starts_with(to) || to.starts_with(from) {
        return Err(format!(
            "{} and {} overlap: neither may hold the other.",
            shown_prefix(from),
            shown_prefix(to)
        ));
    }
    let rev = rev.trim();
    let rev = if rename || rev.is_empty() {
        None
    } else {
        match rev.parse::<Revision>() {
            Ok(r) if r >= 1 => Some(r),
            _ => {
                return Err(format!(
                    "{rev:?} is not a revision: a whole number above 0, or empty for now."
                ))
            }
        }
    };
    Ok(CopyRequest {
        from: from.to_owned(),
        to: to.to_owned(),
        rev,
        rename,
        dry_run: true,
        delete_missing,
        leases: if recreate {
            ImportLeases::Recreate
        } else {
            ImportLeases::None
        },
        expect_revision: None,
    })
}

/// Whether applying a copy's plan does anything: it writes, or (a rename)
/// it removes the source's keys whose copies are already in place.
fn acts(body: &CopyBody) -> bool {
    writes(&body.copy) > 0 || (body.rename && body.source_keys > 0)
}

/// What a rename did to the source.
fn removal_view(body: &CopyBody) -> impl IntoView {
    let mut summary = format!(
        "{} key(s) removed from {}.",
        body.removed,
        shown_prefix(&body.copy.from)
    );
    if body.not_moved > 0 {
        summary.push_str(&format!(
            " {} key(s) stay there: their copy was not written (a conflict under {}, or the apply was cut short).",
            body.not_moved,
            shown_prefix(&body.copy.prefix)
        ));
    }
    if !body.removal_conflicts.is_empty() {
        summary.push_str(&format!(
            " {} key(s) stay there because they changed since the dry run.",
            body.removal_conflicts.len()
        ));
    }
    let interrupted = body.removal_interrupted.clone().map(|why| {
        view! {
            <p class="error" role="alert" data-testid="removal-interrupted">{format!(
                "The removal stopped before its end: {why}. Run the rename again: the keys already copied are then unchanged, and only removed."
            )}</p>
        }
    });
    let conflicts = body
        .removal_conflicts
        .iter()
        .take(LISTED)
        .map(removal_conflict_view)
        .collect_view();
    view! {
        <p class="summary" role="status" data-testid="removal">{summary}</p>
        {interrupted}
        {conflicts}
    }
}

#[component]
pub(super) fn CopyPart(prefix: String) -> impl IntoView {
    let live = Live::get();
    let from = RwSignal::new(prefix);
    let to = RwSignal::new(String::new());
    let rename = RwSignal::new(false);
    let rev = RwSignal::new(String::new());
    let delete_missing = RwSignal::new(false);
    let recreate = RwSignal::new(false);
    let step = RwSignal::new(Step::<CopyRequest, CopyBody>::Idle);
    let confirming = RwSignal::new(false);
    let note = RwSignal::new(None::<String>);

    let request = Memo::new(move |_| {
        copy_request(
            &from.get(),
            &to.get(),
            rename.get(),
            &rev.get(),
            delete_missing.get(),
            recreate.get(),
        )
    });
    let dry_run = move || {
        let Ok(request) = request.get_untracked() else {
            return;
        };
        note.set(None);
        step.set(Step::Planning);
        spawn_local(async move {
            let answer = post_json::<CopyBody>("/api/v1/copy", &request).await;
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
        let confirmed = CopyRequest {
            dry_run: false,
            expect_revision: Some(plan.copy.revision),
            ..request.clone()
        };
        spawn_local(async move {
            let answer = post_json::<CopyBody>("/api/v1/copy", &confirmed).await;
            let _ = step.try_set(match answer {
                Ok(done) => Step::Applied(done),
                Err(failure) => {
                    let _ = note.try_set(Some(apply_failure(&failure)));
                    Step::Planned(request, plan)
                }
            });
        });
    };
    let stale = Memo::new(move |_| match step.get() {
        Step::Planned(made, _) => request.get().ok().as_ref() != Some(&made),
        _ => false,
    });
    let busy = move || step.with(Step::busy);
    let empty_target = move || to.with(String::is_empty);
    let cannot_dry_run = move || {
        dry_run_refusal(live).map(str::to_owned).or_else(|| {
            if empty_target() {
                Some("Give the target prefix.".to_owned())
            } else {
                request.get().err()
            }
        })
    };

    let planned = move |made: CopyRequest, body: CopyBody, applying: bool| {
        let source = format!(
            "{} key(s) under {} read at revision {}{}.",
            body.source_keys,
            shown_prefix(&made.from),
            body.source_revision,
            if made.rev.is_some() { " (as they were then)" } else { "" }
        );
        let heading = format!(
            "Dry run: {} {} onto {}, at revision {}",
            if made.rename { "rename" } else { "copy" },
            shown_prefix(&made.from),
            shown_prefix(&made.to),
            body.copy.revision
        );
        let then = made.rename.then(|| {
            view! {
                <p class="notice" data-testid="copy-rename-plan">{format!(
                    "Then the {} key(s) under {} are deleted, each only once its copy is in place and only while it is as this dry run saw it: a key changed since stays, and is shown.",
                    body.source_keys,
                    shown_prefix(&made.from)
                )}</p>
            }
        });
        let nothing = !acts(&body);
        view! {
            <p data-testid="copy-source">{source}</p>
            <PlanView plan=body.copy heading/>
            {then}
            {move || stale.get().then(|| view! {
                <p class="notice" data-testid="copy-stale">"The prefixes or options changed since this dry run: dry-run again before applying."</p>
            })}
            {move || note.get().map(|why| view! { <p class="error" role="alert" data-testid="copy-apply-error">{why}</p> })}
            <div class="toolbar">
                <button type="button" class="danger" data-testid="copy-apply"
                    disabled=move || applying || nothing || stale.get() || apply_refusal(live).is_some()
                    title=move || apply_refusal(live).unwrap_or_default()
                    on:click=move |_| confirming.set(true)>
                    {if applying { "Applying…" } else { "Apply…" }}
                </button>
                {move || refusal_note(apply_refusal(live))}
            </div>
        }
    };
    let outcome = move || match step.get() {
        Step::Idle => None,
        Step::Planning => Some(view! { <p class="loading">"Reading both prefixes…"</p> }.into_any()),
        Step::Failed(why) => {
            Some(view! { <p class="error" role="alert" data-testid="copy-error">{why}</p> }.into_any())
        }
        Step::Planned(made, body) => Some(planned(made, body, false).into_any()),
        Step::Applying(made, body) => Some(planned(made, body, true).into_any()),
        Step::Applied(done) => {
            let removal = done.rename.then(|| removal_view(&done));
            Some(
                view! {
                    <h3>{if done.rename { "Renamed" } else { "Copied" }}</h3>
                    <OutcomeView body=done.copy.clone()/>
                    {removal}
                    <details class="applied-plan">
                        <summary>"The plan that was applied"</summary>
                        <PlanView plan=done.copy heading="As the apply made it again at the dry run's revision"/>
                    </details>
                    <p class="muted">"Dry-run again to compare both prefixes now."</p>
                }
                .into_any(),
            )
        }
    };
    let dialog = move || {
        if !confirming.get() {
            return None;
        }
        let Step::Planned(made, body) = step.get() else {
            return None;
        };
        let close = Callback::new(move |()| confirming.set(false));
        let mut words = apply_words(&body.copy, made.leases == ImportLeases::Recreate);
        if made.rename {
            words.push(format!(
                "Then delete the {} key(s) under {}, each only once its copy is in place and while it is as this dry run saw it; a key changed since stays there, and is shown.",
                body.source_keys,
                shown_prefix(&made.from)
            ));
        }
        let words = words.into_iter().map(|w| view! { <li>{w}</li> }).collect_view();
        let (title, confirm) = if made.rename {
            (
                format!("Rename {} to {}?", shown_prefix(&made.from), shown_prefix(&made.to)),
                format!("Rename: move {} key(s)", body.source_keys),
            )
        } else {
            (
                format!("Copy {} to {}?", shown_prefix(&made.from), shown_prefix(&made.to)),
                confirm_words("Copy", &body.copy),
            )
        };
        Some(view! {
            <Modal labelled_by="copy-confirm-title" testid="copy-confirm-dialog" on_close=close>
                <h2 id="copy-confirm-title">{title}</h2>
                <ul data-testid="copy-confirm-words">{words}</ul>
                <p>{format!(
                    "The source is read again at revision {}, so what is written is what the dry run showed.",
                    body.copy.revision
                )}</p>
                <div class="actions">
                    <button type="button" on:click=move |_| close.run(())>"Cancel"</button>
                    <button type="button" class="danger" data-testid="copy-confirm" on:click=move |_| apply()>
                        {confirm}
                    </button>
                </div>
            </Modal>
        })
    };

    view! {
        <section class="transfer-part" aria-labelledby="copy-title" data-testid="copy-section">
            <h2 id="copy-title">"Copy or rename"</h2>
            <p class="muted">
                "The keys under one prefix put under another, as an export imported there would be; a rename then deletes them from the source, each only once its copy is in place."
            </p>
            <form class="transfer-form" on:submit=move |ev: leptos::ev::SubmitEvent| {
                ev.prevent_default();
                if cannot_dry_run().is_none() && !busy() {
                    dry_run();
                }
            }>
                <label>"From"
                    <input type="text" data-testid="copy-from" placeholder="/config/"
                        prop:value=move || from.get()
                        on:input=move |ev| from.set(input_text(&ev))/>
                </label>
                <label>"To"
                    <input type="text" data-testid="copy-to" placeholder="/config-v2/"
                        prop:value=move || to.get()
                        on:input=move |ev| to.set(input_text(&ev))/>
                </label>
                <label>"As at revision"
                    <input type="text" inputmode="numeric" data-testid="copy-rev"
                        placeholder="now"
                        title=move || if rename.get() { "A rename moves the keys as they are now" } else { "" }
                        disabled=move || rename.get()
                        prop:value=move || rev.get()
                        on:input=move |ev| rev.set(input_text(&ev))/>
                </label>
                <fieldset>
                    <legend>"Options"</legend>
                    <label class="check">
                        <input type="checkbox" data-testid="copy-rename"
                            prop:checked=move || rename.get()
                            on:change=move |_| rename.update(|r| *r = !*r)/>
                        "Rename: then delete the keys from the source"
                    </label>
                    <label class="check">
                        <input type="checkbox" data-testid="copy-delete-missing"
                            prop:checked=move || delete_missing.get()
                            on:change=move |_| delete_missing.update(|d| *d = !*d)/>
                        "Delete the keys under the target that the source does not hold"
                    </label>
                    <label class="check">
                        <input type="checkbox" data-testid="copy-recreate-leases"
                            prop:checked=move || recreate.get()
                            on:change=move |_| recreate.update(|r| *r = !*r)/>
                        "Recreate leases, with the TTLs the source's leases have now"
                    </label>
                </fieldset>
                <div class="toolbar">
                    <button type="submit" class="primary" data-testid="copy-dry-run"
                        disabled=move || busy() || cannot_dry_run().is_some()>
                        "Dry run"
                    </button>
                    {move || cannot_dry_run().map(|why| view! { <span class="muted" data-testid="copy-why">{why}</span> })}
                </div>
            </form>
            {outcome}
            {dialog}
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_gives_the_request_or_why_not() {
        let request = copy_request("/a/", "/b/", false, " 42 ", true, true);
        let request = request.unwrap_or_default();
        assert_eq!(request.rev, Some(42));
        assert!(request.dry_run && request.delete_missing);
        assert_eq!(request.leases, ImportLeases::Recreate);
        // A rename moves what is there now.
        assert_eq!(
            copy_request("/a/", "/b/", true, "42", false, false).map(|r| r.rev),
            Ok(None)
        );
        assert!(copy_request("/a/", "/a/b/", false, "", false, false).is_err());
        assert!(copy_request("/a/", "/a/", false, "", false, false).is_err());
        assert!(copy_request("/a/", "/b/", false, "x", false, false).is_err());
    }
}
