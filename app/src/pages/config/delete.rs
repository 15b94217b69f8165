//! Deleting a key, only as it is at the revision shown: if someone changes
//! it first, nothing is deleted.

use leptos::prelude::*;
use leptos::task::spawn_local;

use super::panel::{conflict_of, Panel};
use super::{key_path, Fetch};
use crate::components::code::ValueView;
use crate::components::modal::Modal;
use crate::live::api::delete_json;
use crate::model::{Kv, KvDeletedBody, Revision};

/// Deletes the key if it is still at revision `expect`.
fn remove(id: String, panel: Panel, expect: Revision) {
    let Panel {
        busy,
        outcome,
        deleting,
        ..
    } = panel;
    busy.set(true);
    outcome.set(None);
    spawn_local(async move {
        let path = format!("{}?expect_mod_revision={expect}", key_path(&id));
        match delete_json::<KvDeletedBody>(&path).await {
            Ok(body) => outcome.set(Some(Ok(format!("Deleted at revision {}.", body.revision)))),
            Err(failure) => match conflict_of(&failure) {
                Some(_) => outcome.set(Some(Err(
                    "Not deleted: someone else changed the key first. Look at its new value and delete again if you still mean to."
                        .to_owned(),
                ))),
                None => outcome.set(Some(Err(failure.to_string()))),
            },
        }
        deleting.set(false);
        busy.set(false);
    });
}

/// The dialog that confirms a delete, with the value it deletes.
pub(super) fn delete_dialog(id: String, current: Memo<Fetch<Option<Kv>>>, panel: Panel) -> impl IntoView {
    let Panel { busy, deleting, .. } = panel;
    move || {
        if !deleting.get() {
            return None;
        }
        let Fetch::Done(Some(kv)) = current.get() else {
            return None;
        };
        let target = id.clone();
        let shown = id.clone();
        let expect = kv.mod_revision;
        Some(view! {
            <Modal labelled_by="delete-title" testid="delete-dialog" on_close=Callback::new(move |()| deleting.set(false))>
                    <h2 id="delete-title">"Delete " <code>{shown}</code></h2>
                    <p>{format!("This deletes the key as it is at revision {expect}; if someone changes it first, nothing is deleted.")}</p>
                    {kv.lease.map(|l| view! { <p>{format!("It is held by lease {l}: its owner may write it again.")}</p> })}
                    <ValueView value=kv.value.clone() value_base64=kv.value_base64.clone()/>
                    <div class="actions">
                        <button type="button" on:click=move |_| deleting.set(false)>"Cancel"</button>
                        <button type="button" class="danger" data-testid="delete-confirm" disabled=move || busy.get() on:click=move |_| remove(target.clone(), panel, expect)>
                            {format!("Delete {}", kv.key)}
                        </button>
                    </div>
            </Modal>
        })
    }
}
