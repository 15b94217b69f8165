//! The configuration centre: a live key tree that loads a folder when it is
//! opened (folders by `/`, only the rows in view in the DOM), and a key's
//! page beside it: its value highlighted, its history with a diff between
//! any two versions, the key at a past revision, and compare-and-swap edits
//! that show both versions when someone else changed the key meanwhile.
//!
//! This file holds the page and what its parts share (the URL, the folders
//! of a key); each part has its own file:
//!
//! - [`tree`]: the key tree, its folders' subscriptions and the folders
//!   listed page by page.
//! - [`key_panel`]: the selected key, read live or from REST, and its actions;
//!   [`classification`] says why it is the kind it is;
//!   [`edit`] writes it by compare-and-swap, [`delete`] deletes it at the
//!   revision shown.
//! - [`history`]: the key's versions with a diff, and the key at a past revision.
//! - [`new_key`]: the dialog that creates a key.

mod classification;
mod delete;
mod edit;
mod history;
mod key_panel;
mod new_key;
mod panel;
mod tree;

use std::collections::BTreeSet;

use leptos::prelude::*;
use leptos_router::hooks::{use_navigate, use_query_map};
use leptos_router::NavigateOptions;

use super::input_text;
use crate::components::encode_segment;
use crate::live::Live;
use crate::model::{key_text_of_id, KvKind};
use key_panel::KeyPanel;
use new_key::NewKey;
use tree::{key_tree, FolderWatch};

/// The folder a key is in: everything up to its last `/` (the root, "", for
/// a key without one).
fn parent_of(key: &str) -> &str {
    key.rfind('/').and_then(|i| key.get(..=i)).unwrap_or("")
}

/// The folder of the key an id names: the id is the key's text, or base64
/// (a key that is not UTF-8, whose folder is not in the tree: the root, or a
/// text key beginning with `base64:`, whose folder is taken from its text).
fn folder_of_id(id: &str) -> String {
    match key_text_of_id(id) {
        Some(text) => parent_of(&text).to_owned(),
        None => parent_of(id).to_owned(),
    }
}

/// The folders from `root` down to `folder` (which ends with `/`), for
/// opening the tree at a key.
fn folders_down_to(root: &str, folder: &str) -> Vec<String> {
    let mut out = vec![root.to_owned()];
    if folder.starts_with(root) {
        for (i, byte) in folder.bytes().enumerate().skip(root.len()) {
            if byte == b'/' {
                if let Some(f) = folder.get(..=i) {
                    out.push(f.to_owned());
                }
            }
        }
    }
    out
}

/// The REST path of a key (its id as one percent-encoded segment).
fn key_path(id: &str) -> String {
    format!("/api/v1/kv/{}", encode_segment(id))
}

/// The page's URL for a tree root and a selected key.
fn page_url(root: &str, key: Option<&str>) -> String {
    let mut url = format!("/config?root={}", encode_segment(root));
    if let Some(key) = key {
        url.push_str("&key=");
        url.push_str(&encode_segment(key));
    }
    url
}

/// What the classifier made of a key, as the tree and the key's page say it.
fn kind_label(kind: KvKind) -> &'static str {
    match kind {
        KvKind::Instance => "instance",
        KvKind::Lock => "lock",
        KvKind::Election => "election",
        KvKind::Kv => "plain",
        KvKind::Unknown => "other",
    }
}

/// A request's answer, while it is pending and after.
#[derive(Debug, Clone, PartialEq)]
enum Fetch<T> {
    Pending,
    Done(T),
    Failed(String),
}

#[component]
pub fn ConfigPage() -> impl IntoView {
    let live = Live::get();
    let query = use_query_map();
    let root = Memo::new(move |_| query.read().get("root").unwrap_or_default());
    let selected = Memo::new(move |_| query.read().get("key").filter(|k| !k.is_empty()));
    let open = RwSignal::new(BTreeSet::<String>::new());
    // A new root, or a key opened by URL, opens the folders down to it.
    Effect::new(move |_| {
        let root = root.get();
        let mut folders: BTreeSet<String> = open
            .get_untracked()
            .into_iter()
            .filter(|f| f.starts_with(&root))
            .collect();
        folders.insert(root.clone());
        if let Some(key) = selected.get_untracked() {
            folders.extend(folders_down_to(&root, &folder_of_id(&key)));
        }
        open.set(folders);
    });
    unfold_lone_folders(open);
    let filter = RwSignal::new(query.read_untracked().get("q").unwrap_or_default());
    crate::pages::table::mirror_in_address("q", move || filter.get());
    let scroll = RwSignal::new(0.0_f64);
    let root_input = RwSignal::new(root.get_untracked());

    let navigate = use_navigate();
    let go_root = {
        let navigate = navigate.clone();
        move || {
            navigate(
                &page_url(root_input.get_untracked().trim(), None),
                NavigateOptions::default(),
            )
        }
    };
    let select = Callback::new(move |id: String| {
        navigate(&page_url(&root.get_untracked(), Some(&id)), NavigateOptions::default());
    });
    let creating = RwSignal::new(false);
    let open_folders = move || open.get().into_iter().collect::<Vec<String>>();

    view! {
        <section class="page config">
            <h1>"Configuration"</h1>
            <div class="toolbar">
                <form on:submit={
                    let go_root = go_root.clone();
                    move |ev: leptos::ev::SubmitEvent| {
                        ev.prevent_default();
                        go_root();
                    }
                }>
                    <input
                        type="text"
                        aria-label="Tree root (a key prefix)"
                        placeholder="Root prefix, e.g. /config/"
                        data-testid="tree-root"
                        prop:value=move || root_input.get()
                        on:input=move |ev| root_input.set(input_text(&ev))
                    />
                    <button type="submit">"Open"</button>
                </form>
                <input
                    type="search"
                    placeholder="Filter the open folders by key"
                    aria-label="Filter keys"
                    data-testid="tree-filter"
                    prop:value=move || filter.get()
                    on:input=move |ev| {
                        filter.set(input_text(&ev));
                        scroll.set(0.0);
                    }
                />
                <a href="/config/travel" class="button">"Compare revisions…"</a>
                // Export, import and copy, starting from the tree's root.
                <a
                    href=move || match root.get() {
                        root if root.is_empty() => "/config/transfer".to_owned(),
                        root => format!("/config/transfer?prefix={}", encode_segment(&root)),
                    }
                    class="button"
                    data-testid="open-transfer"
                >
                    "Export, import, copy…"
                </a>
                {move || live.write_refusal().is_none().then(|| view! {
                    <button type="button" data-testid="new-key" on:click=move |_| creating.set(true)>"New key"</button>
                })}
            </div>
            // One subscription per open folder, for as long as it is open.
            <For each=open_folders key=|prefix| prefix.clone() let(prefix)>
                <FolderWatch prefix/>
            </For>
            {move || creating.get().then(|| view! {
                <NewKey folder=selected.get().map(|k| folder_of_id(&k)).unwrap_or_else(|| root.get()) on_close=Callback::new(move |()| creating.set(false)) select/>
            })}
            <div class="config-panes">
                {key_tree(root, open, filter, scroll, selected, select)}
                <div class="key-pane">
                    {move || match selected.get() {
                        Some(id) => view! { <KeyPanel id/> }.into_any(),
                        None => view! {
                            <p class="muted">"Pick a key in the tree to see its value, its history and to edit it."</p>
                        }.into_any(),
                    }}
                </div>
            </div>
        </section>
    }
}

/// Opens a folder that is the only entry of an open folder, once each: the
/// tree opens where keys fan out (inside `/` on most registries) rather than
/// on a list of one folder. A folder closed afterwards stays closed.
fn unfold_lone_folders(open: RwSignal<BTreeSet<String>>) {
    let live = Live::get();
    let unfolded = StoredValue::new(BTreeSet::<String>::new());
    Effect::new(move |_| {
        let lone: Vec<(String, String)> = open.with(|open| {
            live.kv_dirs.with(|dirs| {
                open.iter()
                    .filter(|prefix| !unfolded.with_value(|u| u.contains(*prefix)))
                    .filter_map(|prefix| {
                        // Whole folders only: one still arriving in parts
                        // may show one entry of many.
                        let dir = dirs.get(prefix).filter(|d| d.loaded && !d.partial)?;
                        let only = match dir.items.len() {
                            1 => dir.items.values().next()?,
                            _ => return None,
                        };
                        only.kv
                            .is_none()
                            .then(|| (prefix.clone(), format!("{prefix}{}", only.name)))
                    })
                    .collect()
            })
        });
        for (from, sub) in lone {
            unfolded.update_value(|u| {
                u.insert(from);
            });
            open.update(|o| {
                o.insert(sub);
            });
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::text_id;

    #[test]
    fn folders_of_a_key() {
        assert_eq!(parent_of("/config/app/db"), "/config/app/");
        assert_eq!(parent_of("top"), "");
        assert_eq!(parent_of("/a/"), "/a/");
        assert_eq!(
            folders_down_to("", "/config/app/"),
            ["", "/", "/config/", "/config/app/"]
        );
        assert_eq!(
            folders_down_to("/config/", "/config/app/"),
            ["/config/", "/config/app/"]
        );
        assert_eq!(folders_down_to("/x/", "/config/app/"), ["/x/"]);
        assert_eq!(page_url("/a/", Some("/a/b")), "/config?root=%2Fa%2F&key=%2Fa%2Fb");
        // A text key beginning with `base64:` has a base64 id and a folder all the same.
        let id = text_id("base64:x/y");
        assert_ne!(id, "base64:x/y");
        assert_eq!(folder_of_id(&id), "base64:x/");
        assert_eq!(folder_of_id("/config/app/db"), "/config/app/");
    }
}
