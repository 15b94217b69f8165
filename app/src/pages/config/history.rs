//! A key's past: its versions, newest first, with a diff between any two,
//! and the key as it was at a revision typed in.

use leptos::prelude::*;
use leptos::task::spawn_local;

use super::{key_path, Fetch};
use crate::components::code::{DiffView, ValueView};
use crate::live::api::get_json;
use crate::model::{Kv, KvBody, KvHistoryBody, KvVersion, Revision};
use crate::pages::Loading;

/// The key's history, read again whenever the key changes (`current`).
pub(super) fn follow_history(id: String, current: Memo<Fetch<Option<Kv>>>) -> RwSignal<Fetch<KvHistoryBody>> {
    let history = RwSignal::new(Fetch::<KvHistoryBody>::Pending);
    Effect::new(move |previous: Option<Option<Revision>>| {
        let at = current.with(|c| match c {
            Fetch::Done(kv) => Some(kv.as_ref().map_or(0, |kv| kv.mod_revision)),
            _ => None,
        });
        if at.is_some() && at != previous.flatten() {
            let id = id.clone();
            spawn_local(async move {
                let result = get_json::<KvHistoryBody>(&format!("{}/history", key_path(&id))).await;
                history.set(match result {
                    Ok(body) => Fetch::Done(body),
                    Err(failure) => Fetch::Failed(failure.to_string()),
                });
            });
        }
        at
    });
    history
}

/// "View at revision R".
#[component]
pub(super) fn AtRevision(id: String) -> impl IntoView {
    let typed = RwSignal::new(String::new());
    let shown = RwSignal::new(None::<(Revision, Fetch<Option<Kv>>)>);
    let look = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let Ok(revision) = typed.get_untracked().trim().parse::<Revision>() else {
            shown.set(Some((
                0,
                Fetch::Failed("A revision is a whole number, e.g. 1042.".to_owned()),
            )));
            return;
        };
        shown.set(Some((revision, Fetch::Pending)));
        let path = format!("{}?rev={revision}", key_path(&id));
        spawn_local(async move {
            let result = get_json::<KvBody>(&path).await;
            shown.set(Some((
                revision,
                match result {
                    Ok(body) => Fetch::Done(body.kv),
                    Err(failure) => Fetch::Failed(failure.to_string()),
                },
            )));
        });
    };
    view! {
        <section class="at-revision">
            <h3>"At a past revision"</h3>
            <form on:submit=look class="inline">
                <input type="text" inputmode="numeric" aria-label="Revision" placeholder="Revision" data-testid="at-revision"
                    prop:value=move || typed.get() on:input=move |ev| typed.set(event_target_value(&ev))/>
                <button type="submit">"View"</button>
            </form>
            {move || shown.get().map(|(revision, fetch)| match fetch {
                Fetch::Pending => view! { <Loading/> }.into_any(),
                Fetch::Failed(message) => view! { <p class="error" role="alert">{message}</p> }.into_any(),
                Fetch::Done(None) => view! { <p class="muted" data-testid="at-revision-value">{format!("The key did not exist at revision {revision}.")}</p> }.into_any(),
                Fetch::Done(Some(kv)) => view! {
                    <div data-testid="at-revision-value">
                        <p class="muted">{format!("At revision {revision}: version {}, written at revision {}.", kv.version, kv.mod_revision)}</p>
                        <ValueView value=kv.value.clone() value_base64=kv.value_base64.clone()/>
                    </div>
                }.into_any(),
            })}
        </section>
    }
}

/// A version's text for the diff, as the value is shown (JSON
/// pretty-printed, hex for binary); nothing for a deletion.
fn version_text(version: &KvVersion) -> String {
    match &version.value {
        Some(value) => crate::components::code::display_text(value, version.value_base64.as_deref()).1,
        None => String::new(),
    }
}

/// The key's versions, newest first, with a diff between any two.
#[component]
pub(super) fn History(history: RwSignal<Fetch<KvHistoryBody>>) -> impl IntoView {
    // The two versions compared, by modification revision; the newest two
    // until the operator picks others.
    let older = RwSignal::new(None::<Revision>);
    let newer = RwSignal::new(None::<Revision>);
    let versions = move || match history.get() {
        Fetch::Done(body) => Some(body),
        _ => None,
    };
    let picked = move |body: &KvHistoryBody| {
        let a = older.get().or_else(|| body.versions.get(1).map(|v| v.mod_revision));
        let b = newer.get().or_else(|| body.versions.first().map(|v| v.mod_revision));
        (a, b)
    };
    let table = move || match history.get() {
        Fetch::Pending => view! { <Loading/> }.into_any(),
        Fetch::Failed(message) => view! { <p class="error" role="alert">{message}</p> }.into_any(),
        Fetch::Done(body) => {
            let (a, b) = picked(&body);
            let rows = body
                .versions
                .iter()
                .map(|v| {
                    let rev = v.mod_revision;
                    let what = if v.deleted {
                        "deleted".to_owned()
                    } else {
                        let size = match &v.value_base64 {
                            Some(encoded) => crate::text::base64_decode(encoded).map_or(0, |b| b.len()),
                            None => v.value.as_ref().map_or(0, String::len),
                        };
                        format!("version {}, {size} bytes", v.version)
                    };
                    view! {
                        <tr data-testid="history-row">
                            <td><input type="radio" name="older" aria-label=format!("Compare from revision {rev}") prop:checked=a == Some(rev) on:change=move |_| older.set(Some(rev))/></td>
                            <td><input type="radio" name="newer" aria-label=format!("Compare to revision {rev}") prop:checked=b == Some(rev) on:change=move |_| newer.set(Some(rev))/></td>
                            <td class="num">{rev}</td>
                            <td>{what}</td>
                        </tr>
                    }
                })
                .collect_view();
            view! {
                {match (body.truncated, body.complete) {
                    (true, _) => Some(view! { <p class="muted">"Only the newest versions are shown: older ones may exist."</p> }.into_any()),
                    (false, false) => Some(view! { <p class="muted">"Older versions may have been removed by etcd's compaction."</p> }.into_any()),
                    (false, true) => None,
                }}
                {(body.compact_revision > 0).then(|| view! {
                    <p class="muted" data-testid="history-horizon">
                        {format!("etcd keeps history from revision {} on (its compaction horizon): nothing older can be read.", body.compact_revision)}
                    </p>
                })}
                <table class="grid history" data-testid="history">
                    <thead><tr><th scope="col">"From"</th><th scope="col">"To"</th><th scope="col" class="num">"Revision"</th><th scope="col">"Version"</th></tr></thead>
                    <tbody>{rows}</tbody>
                </table>
            }
            .into_any()
        }
    };
    let diff = move || {
        let body = versions()?;
        let (a, b) = picked(&body);
        let find = |rev: Option<Revision>| body.versions.iter().find(|v| Some(v.mod_revision) == rev);
        let (old, new) = (find(a)?, find(b)?);
        Some(view! {
            <DiffView
                old=version_text(old)
                new=version_text(new)
                old_label=format!("revision {}", old.mod_revision)
                new_label=format!("revision {}", new.mod_revision)
            />
        })
    };
    view! {
        <section class="history-section">
            <h3>"History"</h3>
            {table}
            {diff}
        </section>
    }
}
