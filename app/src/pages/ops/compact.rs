//! Compacting etcd's history: choose how much of the past to keep (or a
//! revision), preview what goes (revisions, versions, roughly their bytes,
//! the keys that lose versions), then compact at exactly the previewed
//! revision. The horizon on the page moves when etcd reports it.

use leptos::prelude::*;
use leptos::task::spawn_local;

use super::{horizon_text, may_not_act, nospace, refused, Refused};
use crate::components::modal::Modal;
use crate::live::api::post_json;
use crate::live::Live;
use crate::model::human_bytes;
use crate::model::{CompactBody, CompactRequest, Revision};

/// The past to keep: the choices offered, in seconds.
const KEEP: [(u64, &str); 3] = [
    (3600, "the last hour"),
    (86_400, "the last 24 hours"),
    (604_800, "the last 7 days"),
];

/// What the operator chose to compact at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Choice {
    Keep(u64),
    Revision,
}

#[derive(Debug, Clone, PartialEq)]
enum Step {
    Choosing,
    Previewing,
    Preview(Box<CompactBody>),
    Acting,
    Done(Box<CompactBody>),
}

/// The preview's request for `choice` (`typed`: the revision field).
fn preview_request(choice: Choice, typed: &str) -> Result<CompactRequest, String> {
    match choice {
        Choice::Keep(seconds) => Ok(CompactRequest {
            revision: None,
            keep_seconds: Some(seconds),
            dry_run: true,
        }),
        Choice::Revision => match typed.trim().parse::<Revision>() {
            Ok(revision) if revision > 0 => Ok(CompactRequest {
                revision: Some(revision),
                keep_seconds: None,
                dry_run: true,
            }),
            _ => Err("Type a revision: a whole number above 0.".to_owned()),
        },
    }
}

/// The compaction that was previewed, and only that: its revision.
fn confirm_request(preview: &CompactBody) -> CompactRequest {
    CompactRequest {
        revision: Some(preview.revision),
        keep_seconds: None,
        dry_run: false,
    }
}

/// "at least" when the preview could not read the whole history.
fn at_least(complete: bool) -> &'static str {
    if complete {
        ""
    } else {
        "at least "
    }
}

fn preview_view(body: &CompactBody) -> impl IntoView {
    let lower = at_least(body.complete);
    let shown = body.keys.len() as u64;
    view! {
        <div class="preview" data-testid="compact-preview-body">
            <p>
                "Compact at revision " <strong data-testid="compact-at">{body.revision}</strong>
                " (" {body.chosen.clone()} "); etcd is at revision " {body.current_revision}
                ", its horizon " {horizon_text(Some(body.compact_revision))} "."
            </p>
            <ul>
                <li data-testid="compact-revisions-lost">
                    {format!("{} revision(s) no longer readable", body.revisions_lost)}
                </li>
                <li data-testid="compact-versions-lost">
                    {format!("{lower}{} version(s) of keys (and deletions) dropped from history", body.versions_lost)}
                </li>
                <li>{format!("roughly {lower}{} of values", human_bytes(i64::try_from(body.bytes_lost).unwrap_or(i64::MAX)))}</li>
            </ul>
            {(!body.complete).then(|| view! {
                <p class="muted" data-testid="compact-incomplete">
                    "The history is longer than Leasehold reads for a preview: these figures are a lower bound."
                </p>
            })}
            {(!body.keys.is_empty()).then(|| view! {
                <p>
                    {format!("{}{} key(s) lose versions", lower, body.keys_count)}
                    {(shown < body.keys_count).then(|| format!(", the {shown} that lose most:"))}
                    {(shown >= body.keys_count).then_some(":")}
                </p>
                <ul class="key-losses" data-testid="compact-keys">
                    {body.keys.iter().map(|k| view! {
                        <li><code>{k.key.clone()}</code> " " <span class="muted">{format!("−{}", k.versions_lost)}</span></li>
                    }).collect_view()}
                </ul>
            })}
        </div>
    }
}

#[component]
pub(super) fn CompactDialog(on_close: Callback<()>) -> impl IntoView {
    let live = Live::get();
    // While NOSPACE is active the runbook compacts all history up to now.
    let choice = RwSignal::new(if nospace(live) {
        Choice::Revision
    } else {
        Choice::Keep(86_400)
    });
    let typed = RwSignal::new(live.revision.get_untracked().to_string());
    let step = RwSignal::new(Step::Choosing);
    let note = RwSignal::new(None::<String>);
    // Another choice makes the preview stale: what is confirmed is what was shown.
    let changed = move || {
        note.set(None);
        if matches!(step.get_untracked(), Step::Preview(_)) {
            step.set(Step::Choosing);
        }
    };

    let preview = move || {
        let request = match preview_request(choice.get_untracked(), &typed.get_untracked()) {
            Ok(request) => request,
            Err(why) => {
                note.set(Some(why));
                return;
            }
        };
        note.set(None);
        step.set(Step::Previewing);
        spawn_local(async move {
            let answer = post_json::<CompactBody>("/api/v1/ops/compact", &request).await;
            match answer {
                Ok(body) => step.set(Step::Preview(Box::new(body))),
                Err(failure) => {
                    note.set(Some(refused(&failure).1));
                    step.set(Step::Choosing);
                }
            }
        });
    };
    let confirm = move || {
        let Step::Preview(body) = step.get_untracked() else {
            return;
        };
        let request = confirm_request(&body);
        step.set(Step::Acting);
        spawn_local(async move {
            match post_json::<CompactBody>("/api/v1/ops/compact", &request).await {
                Ok(done) => step.set(Step::Done(Box::new(done))),
                Err(failure) => {
                    note.set(Some(format!("Nothing was compacted. {}", refused(&failure).1)));
                    step.set(Step::Preview(body));
                }
            }
        });
    };
    let can_confirm = move || matches!(step.get(), Step::Preview(body) if body.revisions_lost > 0);
    let finished = Memo::new(move |_| matches!(step.get(), Step::Done(_)));
    let choosing = Memo::new(move |_| !matches!(step.get(), Step::Acting | Step::Done(_)));
    let horizon = Memo::new(move |_| live.ops.with(|v| v.as_ref().and_then(|v| v.compact_revision)));

    let form = move || {
        choosing.get().then(|| {
            let radio = move |value: Choice, label: String| {
                view! {
                    <label class="check">
                        <input
                            type="radio"
                            name="compact-choice"
                            data-testid=match value {
                                Choice::Keep(seconds) => format!("compact-keep-{seconds}"),
                                Choice::Revision => "compact-by-revision".to_owned(),
                            }
                            prop:checked=move || choice.get() == value
                            on:change=move |_| {
                                choice.set(value);
                                changed();
                            }
                        />
                        {label}
                    </label>
                }
            };
            view! {
                <form
                    class="compact-choice"
                    on:submit=move |ev: leptos::ev::SubmitEvent| {
                        ev.prevent_default();
                        preview();
                    }
                >
                    <fieldset>
                        <legend>"Keep"</legend>
                        {KEEP.iter().map(|(seconds, label)| radio(Choice::Keep(*seconds), (*label).to_owned())).collect_view()}
                        {radio(Choice::Revision, "nothing before revision".to_owned())}
                        <input
                            type="number"
                            min="1"
                            class="revision"
                            aria-label="Compact at revision"
                            data-testid="compact-revision-input"
                            prop:value=move || typed.get()
                            on:input=move |ev| {
                                typed.set(event_target_value(&ev));
                                choice.set(Choice::Revision);
                                changed();
                            }
                        />
                    </fieldset>
                    <button type="submit" data-testid="compact-preview" disabled=move || matches!(step.get(), Step::Previewing)>
                        "Preview"
                    </button>
                </form>
            }
        })
    };
    let body = move || {
        match step.get() {
        Step::Choosing => None,
        Step::Previewing => Some(view! { <p>"Reading what the compaction would drop…"</p> }.into_any()),
        Step::Preview(body) => Some(
            view! {
                {preview_view(&body)}
                {(body.revisions_lost <= 0).then(|| view! {
                    <p class="notice" data-testid="compact-nothing">"Nothing older than that revision is left: there is nothing to compact."</p>
                })}
            }
            .into_any(),
        ),
        Step::Acting => Some(view! { <p>"Compacting…"</p> }.into_any()),
        Step::Done(done) => {
            let at = done.revision;
            Some(
                view! {
                    <p class="done" role="status" data-testid="compact-result">
                        {format!(
                            "Compacted at revision {at}: {} revision(s) and {}{} version(s) dropped from history.",
                            done.revisions_lost,
                            at_least(done.complete),
                            done.versions_lost
                        )}
                    </p>
                    <p data-testid="compact-horizon-seen">
                        {move || match horizon.get() {
                            Some(h) if h >= at => format!("etcd reports its horizon at {h} now."),
                            _ => "The space is free inside the database file; defragment to give it back to the disk. Waiting for etcd to report the new horizon…".to_owned(),
                        }}
                    </p>
                }
                .into_any(),
            )
        }
    }
    };
    view! {
        <Modal labelled_by="compact-title" testid="compact-dialog" on_close>
            <h2 id="compact-title">"Compact etcd's history"</h2>
            <p>
                "A compaction drops every revision before the one chosen, on every member: older versions of keys can no longer be read or watched from. Keys themselves stay."
            </p>
            {form}
            {move || note.get().map(|n| view! { <p class="error" role="alert" data-testid="compact-refused">{n}</p> })}
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
                        data-testid="compact-confirm"
                        disabled=move || !can_confirm() || may_not_act(live)
                        on:click=move |_| confirm()
                    >
                        {move || match step.get() {
                            Step::Preview(body) => format!("Compact at revision {}", body.revision),
                            _ => "Compact".to_owned(),
                        }}
                    </button>
                })}
            </div>
        </Modal>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(revision: Revision) -> CompactBody {
        CompactBody {
            revision,
            chosen: "the newest revision an hour ago".to_owned(),
            current_revision: revision + 10,
            compact_revision: 0,
            revisions_lost: revision,
            versions_lost: 3,
            bytes_lost: 30,
            keys: vec![],
            keys_count: 0,
            complete: true,
            applied: false,
        }
    }

    #[test]
    fn the_preview_asks_for_the_choice_and_the_confirmation_for_the_previewed_revision() {
        let keep = preview_request(Choice::Keep(3600), "").unwrap_or_default();
        assert_eq!(
            serde_json::to_string(&keep).ok().as_deref(),
            Some(r#"{"keep_seconds":3600,"dry_run":true}"#)
        );
        let at = preview_request(Choice::Revision, " 42 ").unwrap_or_default();
        assert_eq!(
            serde_json::to_string(&at).ok().as_deref(),
            Some(r#"{"revision":42,"dry_run":true}"#)
        );
        assert!(preview_request(Choice::Revision, "soon").is_err());
        assert!(preview_request(Choice::Revision, "0").is_err());
        // Whatever the preview was asked with, the confirmation names its revision.
        let confirm = confirm_request(&body(77));
        assert_eq!(
            serde_json::to_string(&confirm).ok().as_deref(),
            Some(r#"{"revision":77,"dry_run":false}"#)
        );
    }
}
