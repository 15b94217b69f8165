//! Creating a key: a dialog for its name and value, saved only if no such
//! key exists yet.

use leptos::prelude::*;
use leptos::task::spawn_local;

use super::edit::put_value;
use super::panel::conflict_of;
use crate::components::modal::Modal;
use crate::model::text_id;

/// Creating a key: its name (in the folder open beside the tree) and value,
/// saved only if no such key exists.
#[component]
pub(super) fn NewKey(folder: String, on_close: Callback<()>, select: Callback<String>) -> impl IntoView {
    let key = RwSignal::new(folder);
    let value = RwSignal::new(String::new());
    let failure = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let create = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let name = key.get_untracked();
        if name.is_empty() {
            failure.set(Some("A key needs a name.".to_owned()));
            return;
        }
        busy.set(true);
        let text = value.get_untracked();
        // The key typed is text; its id is the text unless it begins with `base64:`.
        let id = text_id(&name);
        spawn_local(async move {
            match put_value(&id, text, 0).await {
                Ok(_) => {
                    on_close.run(());
                    select.run(id);
                }
                Err(f) => failure.set(Some(match conflict_of(&f) {
                    Some(_) => format!("{name} exists already: open it in the tree to edit it."),
                    None => f.to_string(),
                })),
            }
            busy.set(false);
        });
    };
    view! {
        <Modal labelled_by="new-key-title" testid="new-key-dialog" on_close>
            <form on:submit=create>
                <h2 id="new-key-title">"New key"</h2>
                <label>"Key" <input type="text" data-testid="new-key-name" prop:value=move || key.get() on:input=move |ev| key.set(event_target_value(&ev))/></label>
                <label>"Value" <textarea rows="8" spellcheck="false" data-testid="new-key-value" prop:value=move || value.get() on:input=move |ev| value.set(event_target_value(&ev))></textarea></label>
                {move || failure.get().map(|f| view! { <p class="error" role="alert">{f}</p> })}
                <div class="actions">
                    <button type="button" on:click=move |_| on_close.run(())>"Cancel"</button>
                    <button type="submit" class="primary" data-testid="new-key-create" disabled=move || busy.get()>"Create key"</button>
                </div>
            </form>
        </Modal>
    }
}
