//! The selected key's panel: the key read live from its folder (or once from
//! REST when the folder cannot be watched), its revisions, lease, kind and
//! value, why it is that kind ([`super::classification`]), and the actions
//! on it. Editing is in [`super::edit`], deleting in
//! [`super::delete`], the history and past revisions in [`super::history`].

use leptos::prelude::*;
use leptos::task::spawn_local;

use super::classification::Classified;
use super::delete::delete_dialog;
use super::edit::{conflict_view, editor};
use super::history::{follow_history, AtRevision, History};
use super::panel::{Edit, Panel};
use super::{folder_of_id, key_path, kind_label, Fetch};
use crate::components::code::ValueView;
use crate::components::copy::CopyButton;
use crate::live::api::get_json;
use crate::live::Live;
use crate::model::{key_text_of_id, Kv, KvBody, Topic};
use crate::pages::Loading;

/// The key as the panel shows it, and the key as its live folder has it:
/// `None` until the folder is loaded (or when it is refused), `Some(None)`
/// once it is gone.
type KeyNow = (Memo<Fetch<Option<Kv>>>, Memo<Option<Option<Kv>>>);

/// Follows the key `id` names: from its folder's topic (subscribed here),
/// or read once from REST when the folder cannot be watched.
fn read_key(live: Live, id: String) -> KeyNow {
    // A key that is not UTF-8 is not in the tree's (text) folders.
    let binary_id = key_text_of_id(&id).is_none();
    let parent = folder_of_id(&id);
    if !binary_id {
        live.watch(Topic::KvDir(parent.clone()));
    }
    // The key as the live folder has it: `None` until the folder is loaded
    // (or when it is refused), `Some(None)` once it is gone.
    let live_kv = {
        let id = id.clone();
        let parent = parent.clone();
        Memo::new(move |_| {
            live.kv_dirs.with(|dirs| {
                dirs.get(&parent)
                    .filter(|c| !c.partial)
                    .map(|c| c.items.get(&id).and_then(|e| e.kv.clone()))
            })
        })
    };
    // The key read once from REST, only when its folder cannot be watched
    // (a binary key, or a folder the server refused).
    let fetched = RwSignal::new(Fetch::<Option<Kv>>::Pending);
    {
        let id = id.clone();
        Effect::new(move |asked: Option<bool>| {
            if asked == Some(true) {
                return true;
            }
            if !binary_id && !live.kv_dir_refused.with(|refused| refused.contains_key(&parent)) {
                return false;
            }
            let id = id.clone();
            spawn_local(async move {
                let result = get_json::<KvBody>(&key_path(&id)).await;
                fetched.set(match result {
                    Ok(body) => Fetch::Done(body.kv),
                    Err(failure) if failure.status == Some(404) => Fetch::Done(None),
                    Err(failure) => Fetch::Failed(failure.to_string()),
                });
            });
            true
        });
    }
    let current = Memo::new(move |_| match live_kv.get() {
        Some(kv) => Fetch::Done(kv),
        None => fetched.get(),
    });
    (current, live_kv)
}

/// The page of the key `id` names, beside the tree.
#[component]
pub(super) fn KeyPanel(id: String) -> impl IntoView {
    let live = Live::get();
    let (current, live_kv) = read_key(live, id.clone());
    let is_live = move || live_kv.with(Option::is_some);
    let history = follow_history(id.clone(), current);

    let panel = Panel {
        editing: RwSignal::new(None),
        conflict: RwSignal::new(None),
        busy: RwSignal::new(false),
        outcome: RwSignal::new(None),
        deleting: RwSignal::new(false),
    };
    let outcome = panel.outcome;

    view! {
        <article class="key-panel" data-testid="key-panel">
            {key_header(id.clone(), current)}
            <p class="muted">{move || if is_live() { "Live: changes in etcd show here as they happen." } else { "As read when opened (its folder is not watched live)." }}</p>
            {key_value(current)}
            <Classified id=id.clone() current/>
            {key_actions(current, panel)}
            {move || outcome.get().map(|o| match o {
                Ok(text) => view! { <p class="done" role="status" data-testid="key-outcome">{text}</p> }.into_any(),
                Err(text) => view! { <p class="error" role="alert" data-testid="key-outcome">{text}</p> }.into_any(),
            })}
            {editor(id.clone(), current, panel)}
            {conflict_view(id.clone(), panel)}
            {delete_dialog(id.clone(), current, panel)}
            <AtRevision id=id.clone()/>
            <History history/>
        </article>
    }
}

/// The key's name (its id until it is read), with a button to copy it.
fn key_header(id: String, current: Memo<Fetch<Option<Kv>>>) -> impl IntoView {
    move || {
        let shown = current.with(|c| match c {
            Fetch::Done(Some(kv)) => kv.key.clone(),
            _ => id.clone(),
        });
        view! {
            <h2 class="key-title"><code data-testid="key-title">{shown.clone()}</code> " " <CopyButton text=shown label="key"/></h2>
        }
    }
}

/// The key's revisions, lease and kind, and its value.
fn key_value(current: Memo<Fetch<Option<Kv>>>) -> impl IntoView {
    move || match current.get() {
        Fetch::Pending => view! { <Loading/> }.into_any(),
        Fetch::Failed(message) => view! { <p class="error" role="alert">{message}</p> }.into_any(),
        Fetch::Done(None) => view! {
            <p class="muted" data-testid="key-absent">"This key does not exist now."</p>
        }
        .into_any(),
        Fetch::Done(Some(kv)) => {
            let lease = kv.lease;
            view! {
                <dl class="key-meta">
                    <dt>"Revisions"</dt>
                    <dd data-testid="key-revisions">{format!("created at {}, modified at {}, version {}", kv.create_revision, kv.mod_revision, kv.version)}</dd>
                    <dt>"Lease"</dt>
                    <dd>{match lease {
                        Some(lease) => view! { <a href=format!("/leases?lease={lease}")><code>{lease.to_string()}</code></a> }.into_any(),
                        None => view! { <span>"none"</span> }.into_any(),
                    }}</dd>
                    <dt>"Kind"</dt>
                    <dd data-testid="key-kind">{kind_label(kv.kind)}</dd>
                </dl>
                <ValueView value=kv.value.clone() value_base64=kv.value_base64.clone()/>
            }
            .into_any()
        }
    }
}

/// Edit (or create, when the key is gone) and delete, when this tab may
/// write keys and no edit is open.
fn key_actions(current: Memo<Fetch<Option<Kv>>>, panel: Panel) -> impl IntoView {
    let live = Live::get();
    let Panel {
        editing,
        conflict,
        outcome,
        deleting,
        ..
    } = panel;
    move || {
        if let Some(why) = live.write_refusal() {
            return view! { <p class="muted">{why}</p> }.into_any();
        }
        if editing.with(Option::is_some) || conflict.with(Option::is_some) {
            return ().into_any();
        }
        let Fetch::Done(kv) = current.get() else {
            return ().into_any();
        };
        let binary = kv.as_ref().is_some_and(Kv::is_binary);
        let (text, base) = kv
            .as_ref()
            .map_or((String::new(), 0), |kv| (kv.value.clone(), kv.mod_revision));
        let exists = kv.is_some();
        view! {
            <div class="actions">
                {if binary {
                    view! { <span class="muted">"A binary value is not edited here; use etcdctl."</span> }.into_any()
                } else {
                    view! {
                        <button type="button" data-testid="key-edit" on:click=move |_| {
                            outcome.set(None);
                            editing.set(Some(Edit { text: text.clone(), base }));
                        }>{if exists { "Edit" } else { "Create" }}</button>
                    }.into_any()
                }}
                {exists.then(|| view! {
                    <button type="button" class="danger" data-testid="key-delete" on:click=move |_| deleting.set(true)>"Delete…"</button>
                })}
            </div>
        }
        .into_any()
    }
}
