//! Bringing keys back, on the compare page: the keys deleted under the
//! prefix since the compared revision, with their last values and what
//! deleted them, restored after a preview; and the prefix rolled back to
//! that revision, previewed (the diff shown above it is what it undoes) and
//! applied only where nobody wrote since the preview.

use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::components::code::{kv_text, DiffView, ValueView};
use crate::components::encode_segment;
use crate::components::modal::Modal;
use crate::live::api::{get_json, post_json};
use crate::model::{
    BulkConflict, BulkResult, DeletedKv, DeletionCause, KvDeletedListBody, RestoreBody, RestoreRequest, Revision,
    RollbackBody, RollbackRequest,
};

/// Deleted keys listed in full; the rest are counted.
const LISTED: usize = 300;

/// What deleted a key, in words.
fn cause_text(deleted: &DeletedKv) -> String {
    let who = deleted.who.as_deref().unwrap_or("someone");
    match deleted.cause {
        DeletionCause::LeaseExpired => "its lease expired".to_owned(),
        DeletionCause::LeaseRevoked => format!("its lease was revoked by {who}"),
        DeletionCause::Operator => format!("deleted by {who} through Leasehold"),
        DeletionCause::Delete => "deleted by a client".to_owned(),
        DeletionCause::Unknown => "not known (the timeline did not see that revision)".to_owned(),
    }
}

/// What a bulk write did, in words, and its conflicts with both sides.
fn result_view(result: &BulkResult) -> impl IntoView {
    let mut summary = format!(
        "{} key(s) written in {} transaction(s).",
        result.applied, result.transactions
    );
    if !result.conflicts.is_empty() {
        summary.push_str(&format!(
            " {} left alone: someone changed them since the preview.",
            result.conflicts.len()
        ));
    }
    let interrupted = result.interrupted.clone().map(|why| {
        view! {
            <p class="error" role="alert" data-testid="bulk-interrupted">
                {format!("Interrupted: {why}. {} key(s) may not be written: compare again to see where things stand.", result.not_tried)}
            </p>
        }
    });
    let conflicts = result
        .conflicts
        .iter()
        .map(|c: &BulkConflict| {
            let wanted = c.wanted.as_ref().map_or_else(|| "(deleted)".to_owned(), kv_text);
            let current = c.current.as_ref().map_or_else(|| "(absent)".to_owned(), kv_text);
            view! {
                <details class="travel changed" open data-testid="bulk-conflict">
                    <summary><code>{c.key.clone()}</code></summary>
                    <DiffView old=current new=wanted old_label="now" new_label="what the change would have written"/>
                </details>
            }
        })
        .collect_view();
    view! {
        <p class="summary" role="status" data-testid="bulk-result">{summary}</p>
        {interrupted}
        {conflicts}
    }
}

/// Posts `body` to `path`; the answer (or why not) goes into `into`, and
/// `busy` holds while it is asked.
fn post_into<B, T>(path: &'static str, body: B, into: RwSignal<Option<Result<T, String>>>, busy: RwSignal<bool>)
where
    B: serde::Serialize + 'static,
    T: serde::de::DeserializeOwned + Send + Sync + 'static,
{
    busy.set(true);
    spawn_local(async move {
        into.set(Some(post_json::<T>(path, &body).await.map_err(|f| f.to_string())));
        busy.set(false);
    });
}

/// A preview the server refused, in its dialog.
fn refused_dialog(
    title: &'static str,
    title_id: &'static str,
    testid: &'static str,
    message: String,
    close: Callback<()>,
) -> AnyView {
    view! {
        <Modal labelled_by=title_id testid=testid on_close=close>
            <h2 id=title_id>{title}</h2>
            <p class="error" role="alert">{message}</p>
            <div class="actions"><button type="button" on:click=move |_| close.run(())>"Close"</button></div>
        </Modal>
    }
    .into_any()
}

/// The keys deleted under `prefix` since `since`, and their restore.
#[component]
pub fn DeletedKeys(prefix: String, since: Revision) -> impl IntoView {
    let live = crate::live::Live::get();
    let listed = RwSignal::new(None::<Result<KvDeletedListBody, String>>);
    let chosen = RwSignal::new(std::collections::BTreeSet::<String>::new());
    let preview = RwSignal::new(None::<Result<RestoreBody, String>>);
    let done = RwSignal::new(None::<Result<RestoreBody, String>>);
    let busy = RwSignal::new(false);
    let path = format!("/api/v1/kv-deleted?prefix={}&since={since}", encode_segment(&prefix));
    let load = move || {
        let path = path.clone();
        spawn_local(async move {
            let answer = get_json::<KvDeletedListBody>(&path).await.map_err(|f| f.to_string());
            if let Ok(body) = &answer {
                chosen.set(body.keys.iter().map(|d| d.kv.id()).collect());
            }
            listed.set(Some(answer));
        });
    };
    load();
    let request = {
        let prefix = prefix.clone();
        move |dry_run: bool| RestoreRequest {
            prefix: prefix.clone(),
            since,
            keys: Some(chosen.get_untracked().into_iter().collect()),
            dry_run,
        }
    };
    let ask = {
        let request = request.clone();
        move |_| post_into("/api/v1/kv-restore", request(true), preview, busy)
    };
    let confirm = move |_| {
        let body = request(false);
        busy.set(true);
        spawn_local(async move {
            let answer = post_json::<RestoreBody>("/api/v1/kv-restore", &body)
                .await
                .map_err(|f| f.to_string());
            preview.set(None);
            done.set(Some(answer));
            busy.set(false);
        });
    };
    let dialog = move || {
        let shown = preview.get()?;
        let close = Callback::new(move |()| preview.set(None));
        Some(match shown {
            Err(message) => refused_dialog("Restore", "restore-title", "restore-dialog", message, close),
            Ok(body) => {
                let confirm = confirm.clone();
                let count = body.restore.len();
                let lease = (body.without_lease > 0).then(|| {
                    view! {
                        <p>{format!(
                            "{} of them were on a lease that is gone: they come back on none, and stay until deleted.",
                            body.without_lease
                        )}</p>
                    }
                });
                let chunks = (body.transactions > 1).then(|| {
                    view! {
                        <p>{format!(
                            "{count} keys are more than one transaction holds ({}): they are written in {} transactions, each all or nothing; if one fails, the result says how far it got.",
                            body.chunk, body.transactions
                        )}</p>
                    }
                });
                view! {
                    <Modal labelled_by="restore-title" testid="restore-dialog" on_close=close>
                        <h2 id="restore-title">{format!("Restore {count} key(s)")}</h2>
                        <p>{format!(
                            "Each key is put back with its last value, only where it is still absent: a key written again meanwhile is left alone and reported. Read at revision {}.",
                            body.revision
                        )}</p>
                        {lease}
                        {chunks}
                        <ul class="plain">
                            {body.restore.iter().take(LISTED).map(|kv| view! { <li><code>{kv.key.clone()}</code></li> }).collect_view()}
                        </ul>
                        <div class="actions">
                            <button type="button" on:click=move |_| close.run(())>"Cancel"</button>
                            <button type="button" class="danger" data-testid="restore-confirm" disabled=move || busy.get() on:click=confirm>
                                {format!("Restore {count} key(s)")}
                            </button>
                        </div>
                    </Modal>
                }
                .into_any()
            }
        })
    };
    let list = move || {
        listed.get().map(|answer| match answer {
            Err(message) => view! { <p class="error" role="alert" data-testid="deleted-error">{message}</p> }.into_any(),
            Ok(body) if body.keys.is_empty() => view! {
                <p class="muted" data-testid="deleted-none">{format!("No key under this prefix was deleted since revision {} (and is still absent).", body.since)}</p>
            }
            .into_any(),
            Ok(body) => {
                let rows = body
                    .keys
                    .iter()
                    .take(LISTED)
                    .map(|d| {
                        let id = d.kv.id();
                        let checked = id.clone();
                        let toggled = id.clone();
                        view! {
                            <li data-testid="deleted-key" data-key=id.clone()>
                                <details>
                                    <summary>
                                        <label>
                                            <input type="checkbox" prop:checked=move || chosen.with(|c| c.contains(&checked))
                                                on:change=move |_| chosen.update(|c| if !c.remove(&toggled) { c.insert(toggled.clone()); })/>
                                            " " <code>{d.kv.key.clone()}</code>
                                        </label>
                                        <span class="muted" data-testid="deleted-cause">{format!(
                                            " at revision {}{}: {}",
                                            d.deleted_revision,
                                            d.deleted_at.as_ref().map(|t| format!(" ({t})")).unwrap_or_default(),
                                            cause_text(d)
                                        )}</span>
                                    </summary>
                                    <ValueView value=d.kv.value.clone() value_base64=d.kv.value_base64.clone()/>
                                </details>
                            </li>
                        }
                    })
                    .collect_view();
                let more = (body.keys.len() > LISTED)
                    .then(|| view! { <p class="muted">{format!("The first {LISTED} of {} are listed; a restore takes all that are ticked.", body.keys.len())}</p> });
                let refusal = move || live.write_refusal();
                view! {
                    <ul class="plain deleted" data-testid="deleted-keys">{rows}</ul>
                    {more}
                    <div class="toolbar">
                        <button type="button" class="primary" data-testid="restore-preview"
                            disabled=move || busy.get() || refusal().is_some() || chosen.with(|c| c.is_empty())
                            title=move || refusal().unwrap_or_default()
                            on:click=ask.clone()>
                            "Restore the ticked keys…"
                        </button>
                        {move || refusal().map(|why| view! { <span class="muted">{why}</span> })}
                    </div>
                }
                .into_any()
            }
        })
    };
    view! {
        <section aria-labelledby="deleted-title" data-testid="deleted-section">
            <h2 id="deleted-title">{format!("Deleted since revision {since}")}</h2>
            {list}
            {move || done.get().map(|answer| match answer {
                Ok(body) => body.result.as_ref().map(|r| result_view(r).into_any()),
                Err(message) => Some(view! { <p class="error" role="alert">{message}</p> }.into_any()),
            })}
            {dialog}
        </section>
    }
}

/// The prefix (or key) rolled back to `revision`: a preview, then the
/// change confirmed against the revision the preview read.
#[component]
pub fn Rollback(prefix: String, revision: Revision) -> impl IntoView {
    let live = crate::live::Live::get();
    let preview = RwSignal::new(None::<Result<RollbackBody, String>>);
    let done = RwSignal::new(None::<Result<RollbackBody, String>>);
    let busy = RwSignal::new(false);
    let request = move |dry_run: bool, expect_revision: Option<Revision>| RollbackRequest {
        prefix: prefix.clone(),
        key: false,
        revision,
        dry_run,
        expect_revision,
    };
    let ask = {
        let request = request.clone();
        move |_| post_into("/api/v1/kv-rollback", request(true, None), preview, busy)
    };
    let dialog = move || {
        let shown = preview.get()?;
        let close = Callback::new(move |()| preview.set(None));
        Some(match shown {
            Err(message) => refused_dialog("Roll back", "rollback-title", "rollback-dialog", message, close),
            Ok(body) => {
                let now = body.now;
                let total = body.put_back.len() + body.revert.len() + body.delete.len();
                let confirm = {
                    let request = request.clone();
                    move |_| {
                        let body = request(false, Some(now));
                        busy.set(true);
                        spawn_local(async move {
                            let answer = post_json::<RollbackBody>("/api/v1/kv-rollback", &body)
                                .await
                                .map_err(|f| f.to_string());
                            preview.set(None);
                            done.set(Some(answer));
                            busy.set(false);
                        });
                    }
                };
                let lease = (body.without_lease > 0).then(|| {
                    view! { <p>{format!("{} key(s) were on a lease that is gone: they come back on none.", body.without_lease)}</p> }
                });
                let chunks = (body.transactions > 1).then(|| {
                    view! { <p>{format!("In {} transactions of at most {} keys, each all or nothing.", body.transactions, body.chunk)}</p> }
                });
                view! {
                    <Modal labelled_by="rollback-title" testid="rollback-dialog" on_close=close>
                        <h2 id="rollback-title">{format!("Roll back to revision {}", body.revision)}</h2>
                        <p data-testid="rollback-plan">{format!(
                            "From revision {now} (the comparison above): {} key(s) put back, {} written back to their value then, {} deleted.",
                            body.put_back.len(), body.revert.len(), body.delete.len()
                        )}</p>
                        <p>"Each key is written only if it is still as it is at that revision: a newer write is left alone and shown."</p>
                        {lease}
                        {chunks}
                        <div class="actions">
                            <button type="button" on:click=move |_| close.run(())>"Cancel"</button>
                            <button type="button" class="danger" data-testid="rollback-confirm"
                                disabled=move || busy.get() || total == 0 on:click=confirm>
                                {format!("Roll back {total} key(s)")}
                            </button>
                        </div>
                    </Modal>
                }
                .into_any()
            }
        })
    };
    let refusal = move || live.write_refusal();
    view! {
        <div class="toolbar" data-testid="rollback-section">
            <button type="button" data-testid="rollback-preview"
                disabled=move || busy.get() || refusal().is_some()
                title=move || refusal().unwrap_or_default()
                on:click=ask>
                {format!("Roll back to revision {revision}…")}
            </button>
            {move || refusal().map(|why| view! { <span class="muted">{why}</span> })}
        </div>
        {move || done.get().map(|answer| match answer {
            Ok(body) => body.result.as_ref().map(|r| result_view(r).into_any()),
            Err(message) => Some(view! { <p class="error" role="alert">{message}</p> }.into_any()),
        })}
        {dialog}
    }
}
