//! Writing a key by compare-and-swap: the editor saves only if the key is
//! still at the revision it was opened at (or still absent). When someone
//! else changed it meanwhile, nothing is saved and the conflict shows both
//! versions, with a choice of which to keep.

use leptos::prelude::*;
use leptos::task::spawn_local;

use super::panel::{conflict_of, Conflict, Edit, Panel};
use super::{key_path, Fetch};
use crate::components::code::{kv_text, DiffView};
use crate::live::api::{put_json, ApiFailure};
use crate::model::{Kv, KvBody, KvPutRequest, Revision};

/// Writes `text` to the key if it is still at `expect` (0: absent).
pub(super) async fn put_value(id: &str, text: String, expect: Revision) -> Result<KvBody, ApiFailure> {
    let request = KvPutRequest {
        value: Some(text),
        value_base64: None,
        expect_mod_revision: Some(expect),
    };
    put_json::<KvBody>(&key_path(id), &request).await
}

/// Writes `text` over the key if it is still at revision `expect` (0: absent):
/// the edit closes and says the revision saved, or, when someone else changed
/// the key first, the conflict shows.
fn save(id: String, panel: Panel, text: String, expect: Revision) {
    let Panel {
        editing,
        conflict,
        busy,
        outcome,
        ..
    } = panel;
    busy.set(true);
    outcome.set(None);
    spawn_local(async move {
        match put_value(&id, text.clone(), expect).await {
            Ok(body) => {
                editing.set(None);
                conflict.set(None);
                let at = body.kv.map_or(body.revision, |kv| kv.mod_revision);
                outcome.set(Some(Ok(format!("Saved at revision {at}."))));
            }
            Err(failure) => match conflict_of(&failure) {
                Some(theirs) => {
                    editing.set(None);
                    conflict.set(Some(Conflict {
                        mine: text,
                        base: expect,
                        theirs,
                    }));
                }
                None => outcome.set(Some(Err(failure.to_string()))),
            },
        }
        busy.set(false);
    });
}

/// The editor of an edit in progress, saved by compare-and-swap. When the
/// key (`current`, live where its folder is watched) moves on from the
/// revision the edit started from, it says so at once, before a save fails.
pub(super) fn editor(id: String, current: Memo<Fetch<Option<Kv>>>, panel: Panel) -> impl IntoView {
    let Panel { editing, busy, .. } = panel;
    move || {
        let edit = editing.get()?;
        let id = id.clone();
        let text = RwSignal::new(edit.text.clone());
        let base = edit.base;
        Some(view! {
            <form class="editor" on:submit=move |ev: leptos::ev::SubmitEvent| {
                ev.prevent_default();
                save(id.clone(), panel, text.get_untracked(), base);
            }>
                {move || {
                    let now = current.with(|c| match c {
                        Fetch::Done(Some(kv)) => Some(kv.mod_revision),
                        Fetch::Done(None) => Some(0),
                        _ => None,
                    });
                    // While our own save is under way, the change is ours.
                    match now {
                        Some(now) if now != base && !busy.get() => view! {
                            <p class="warn" role="alert" data-testid="editor-moved">
                                {if now == 0 {
                                    format!("The key was deleted since you started editing from revision {base}: saving will be refused.")
                                } else {
                                    format!("The key changed at revision {now} since you started editing from revision {base}: saving will be refused and show both versions.")
                                }}
                            </p>
                        }
                        .into_any(),
                        _ => view! {
                            <p class="muted">{if base == 0 {
                                "Creating the key: saving fails if someone creates it first.".to_owned()
                            } else {
                                format!("Editing from revision {base}: saving fails, and shows both versions, if someone changes the key first.")
                            }}</p>
                        }
                        .into_any(),
                    }
                }}
                <textarea
                    data-testid="editor"
                    aria-label="Value"
                    rows="14"
                    spellcheck="false"
                    prop:value=move || text.get()
                    on:input=move |ev| text.set(event_target_value(&ev))
                ></textarea>
                <div class="actions">
                    <button type="submit" class="primary" data-testid="editor-save" disabled=move || busy.get()>"Save"</button>
                    <button type="button" on:click=move |_| editing.set(None)>"Cancel"</button>
                </div>
            </form>
        })
    }
}

/// A compare-and-swap that lost: their version and yours, side by side and
/// as a diff, and what to do with yours.
pub(super) fn conflict_view(id: String, panel: Panel) -> impl IntoView {
    let Panel {
        editing,
        conflict,
        busy,
        ..
    } = panel;
    move || {
        let c = conflict.get()?;
        let id = id.clone();
        // Raw text against raw text: the editor holds the value as written.
        let theirs_text = c
            .theirs
            .as_ref()
            .map(|kv| if kv.is_binary() { kv_text(kv) } else { kv.value.clone() })
            .unwrap_or_default();
        let theirs_rev = c.theirs.as_ref().map_or(0, |kv| kv.mod_revision);
        let what = match &c.theirs {
            Some(kv) => format!(
                "Someone else changed this key while you edited it: you started from revision {}, and it is now at revision {} (version {}). Nothing was saved. Choose which value to keep.",
                c.base, kv.mod_revision, kv.version
            ),
            None => format!(
                "Someone else deleted this key while you edited it (you started from revision {}). Nothing was saved.",
                c.base
            ),
        };
        let mine = c.mine.clone();
        let again = c.mine.clone();
        Some(view! {
            <div class="conflict" role="alert" data-testid="conflict">
                <h3>"Conflict"</h3>
                <p>{what}</p>
                <DiffView old=theirs_text.clone() new=c.mine.clone() old_label=format!("theirs (revision {theirs_rev})") new_label="yours"/>
                <div class="conflict-sides">
                    <section data-testid="conflict-theirs">
                        <h4>{if theirs_rev == 0 { "Theirs: deleted".to_owned() } else { format!("Theirs, revision {theirs_rev}") }}</h4>
                        <pre class="value code">{theirs_text}</pre>
                    </section>
                    <section data-testid="conflict-yours">
                        <h4>"Yours"</h4>
                        <pre class="value code">{c.mine.clone()}</pre>
                    </section>
                </div>
                <div class="actions">
                    <button type="button" class="danger" data-testid="conflict-keep-mine" disabled=move || busy.get()
                        on:click=move |_| save(id.clone(), panel, mine.clone(), theirs_rev)>
                        {if theirs_rev == 0 { "Create it again with yours" } else { "Save yours over theirs" }}
                    </button>
                    <button type="button" data-testid="conflict-edit" on:click=move |_| {
                        conflict.set(None);
                        editing.set(Some(Edit { text: again.clone(), base: theirs_rev }));
                    }>"Edit yours again"</button>
                    <button type="button" data-testid="conflict-take-theirs" on:click=move |_| conflict.set(None)>"Keep theirs"</button>
                </div>
            </div>
        })
    }
}
