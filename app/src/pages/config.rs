//! The configuration centre: a live key tree that loads a folder when it is
//! opened (folders by `/`, only the rows in view in the DOM), and a key's
//! page beside it: its value highlighted, its history with a diff between
//! any two versions, the key at a past revision, and compare-and-swap edits
//! that show both versions when someone else changed the key meanwhile.

use std::collections::BTreeSet;

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::hooks::{use_navigate, use_query_map};
use leptos_router::NavigateOptions;

use super::{input_text, lowercase, Loading};
use crate::components::code::{kv_text, DiffView, ValueView};
use crate::components::copy::CopyButton;
use crate::components::encode_segment;
use crate::live::api::{delete_json, get_json, put_json, ApiFailure};
use crate::live::Live;
use crate::model::{
    key_text_of_id, text_id, Kv, KvBody, KvConflictBody, KvDeletedBody, KvHistoryBody, KvKind, KvPutRequest, KvVersion,
    Revision, Topic,
};

/// Height of one tree row in pixels; the CSS gives rows exactly this height.
const ROW: f64 = 30.0;
/// Height of the tree's scrolling area in pixels (CSS `.tree`).
const VIEWPORT: f64 = 600.0;
/// Rows rendered above and below the visible ones.
const OVERSCAN: usize = 10;
/// Characters of a value shown in its tree row.
const PREVIEW: usize = 60;

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

/// One line of the flattened tree.
#[derive(Debug, Clone, PartialEq)]
struct TreeRow {
    /// The entry's id (a key's id, or a folder's prefix), or a note's folder.
    id: String,
    depth: usize,
    line: Line,
}

#[derive(Debug, Clone, PartialEq)]
enum Line {
    Folder {
        prefix: String,
        name: String,
        open: bool,
    },
    Key(Box<Kv>, String),
    /// A folder still loading, or refused by the server (with why).
    Note(String),
    /// "Load more" at the end of a folder listed page by page.
    More(String),
}

/// A folder too large to watch, listed page by page from etcd instead
/// (`GET /api/v1/kv`): its keys, deep, in key order.
#[derive(Debug, Clone, Default, PartialEq)]
struct Paged {
    items: Vec<Kv>,
    more: bool,
    loading: bool,
    error: Option<String>,
}

/// Keys asked for per page of a folder listed page by page.
const PAGE: usize = 500;

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
    let filter = RwSignal::new(String::new());
    let scroll = RwSignal::new(0.0_f64);
    let root_input = RwSignal::new(root.get_untracked());

    // Open folders the server would not watch for their size: listed page
    // by page from etcd instead, starting when they are refused.
    let paged = RwSignal::new(std::collections::BTreeMap::<String, Paged>::new());
    let load_page = move |prefix: String| {
        let mut after = None;
        let mut busy = false;
        paged.update(|all| {
            let page = all.entry(prefix.clone()).or_default();
            busy = page.loading;
            page.loading = true;
            page.error = None;
            after = page.items.last().map(|kv| match &kv.key_base64 {
                Some(bytes) => format!("&after_base64={}", encode_segment(bytes)),
                None => format!("&after={}", encode_segment(&kv.key)),
            });
        });
        if busy {
            return;
        }
        let path = format!(
            "/api/v1/kv?prefix={}&limit={PAGE}{}",
            encode_segment(&prefix),
            after.unwrap_or_default()
        );
        spawn_local(async move {
            let result = get_json::<crate::model::KvListBody>(&path).await;
            paged.update(|all| {
                let page = all.entry(prefix).or_default();
                page.loading = false;
                match result {
                    Ok(body) => {
                        page.items.extend(body.items);
                        page.more = body.more;
                    }
                    Err(failure) => page.error = Some(failure.to_string()),
                }
            });
        });
    };
    Effect::new(move |_| {
        let open = open.get();
        let refused: Vec<String> = live.kv_dir_refused.with(|all| {
            all.iter()
                .filter(|(prefix, (code, _))| code == "too_large" && open.contains(*prefix))
                .map(|(prefix, _)| prefix.clone())
                .collect()
        });
        for prefix in refused {
            if !paged.with_untracked(|all| all.contains_key(&prefix)) {
                load_page(prefix);
            }
        }
    });
    let load_more = Callback::new(load_page);

    let rows = Memo::new(move |_| {
        let q = lowercase(filter.get().trim());
        let open = open.get();
        let root = root.get();
        live.kv_dirs.with(|dirs| {
            live.kv_dir_refused.with(|refused| {
                paged.with(|paged| {
                    let mut out = Vec::new();
                    let tree = Tree {
                        open: &open,
                        q: &q,
                        dirs,
                        refused,
                        paged,
                    };
                    tree.walk(&root, 0, &mut out);
                    out
                })
            })
        })
    });
    let window = Memo::new(move |_| {
        let total = rows.with(Vec::len);
        super::rows_in_view(scroll.get(), total, ROW, VIEWPORT, OVERSCAN)
    });
    let visible = move || {
        let (first, last, _) = window.get();
        rows.with(|r| r.get(first..last).map(<[TreeRow]>::to_vec).unwrap_or_default())
    };
    let on_scroll = move |ev: leptos::ev::Event| {
        if let Some(top) = super::scroll_top(&ev) {
            scroll.set(top);
        }
    };
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
    let toggle = move |prefix: String| {
        open.update(|o| {
            if !o.remove(&prefix) {
                o.insert(prefix);
            }
        });
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
                <div class="tree" role="tree" aria-label="Keys" on:scroll=on_scroll data-testid="tree">
                    <div style=move || format!("height:{}px", window.get().0 as f64 * ROW) aria-hidden="true"></div>
                    <For
                        each=visible
                        key=|row| (row.id.clone(), match &row.line {
                            Line::Folder { open, .. } => if *open { 1 } else { 0 },
                            Line::Key(kv, _) => kv.mod_revision,
                            Line::Note(_) => -1,
                            Line::More(_) => -2,
                        })
                        let(row)
                    >
                        <TreeLine row selected=selected toggle select load_more/>
                    </For>
                    <div
                        style=move || {
                            let (_, last, total) = window.get();
                            format!("height:{}px", (total - last) as f64 * ROW)
                        }
                        aria-hidden="true"
                    ></div>
                </div>
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

/// What the tree is drawn from.
struct Tree<'a> {
    open: &'a BTreeSet<String>,
    /// The filter, lowercased; empty for none.
    q: &'a str,
    dirs: &'a std::collections::BTreeMap<String, crate::live::Collection<crate::model::KvDirEntry>>,
    refused: &'a std::collections::BTreeMap<String, (String, String)>,
    paged: &'a std::collections::BTreeMap<String, Paged>,
}

impl Tree<'_> {
    fn shows(&self, kv: &Kv) -> bool {
        self.q.is_empty() || lowercase(&kv.key).contains(self.q)
    }

    /// Flattens the open part of the tree under `prefix` into `out`; returns
    /// whether it added anything (a folder with no match under it is left
    /// out while a filter is set).
    fn walk(&self, prefix: &str, depth: usize, out: &mut Vec<TreeRow>) -> bool {
        // Each kind of note has its own id: the rows are keyed by it.
        let note = |kind: &str, text: String| TreeRow {
            id: format!("{kind}:{prefix}"),
            depth,
            line: Line::Note(text),
        };
        if let Some((code, why)) = self.refused.get(prefix) {
            if code != "too_large" {
                out.push(note("refused", why.clone()));
                return true;
            }
            return self.walk_paged(prefix, depth, out);
        }
        let Some(folder) = self.dirs.get(prefix) else {
            out.push(note("loading", "Loading…".to_owned()));
            return true;
        };
        if folder.items.is_empty() && self.q.is_empty() {
            out.push(note("empty", "No key here.".to_owned()));
            return true;
        }
        let start = out.len();
        for (id, entry) in &folder.items {
            match &entry.kv {
                Some(kv) => {
                    if self.shows(kv) {
                        out.push(TreeRow {
                            id: id.clone(),
                            depth,
                            line: Line::Key(Box::new(kv.clone()), entry.name.clone()),
                        });
                    }
                }
                None => {
                    // The sub-folder's prefix; its id is that prefix's id
                    // (base64 when the prefix begins with `base64:`).
                    let sub = format!("{prefix}{}", entry.name);
                    let is_open = self.open.contains(&sub);
                    let at = out.len();
                    out.push(TreeRow {
                        id: id.clone(),
                        depth,
                        line: Line::Folder {
                            prefix: sub.clone(),
                            name: entry.name.clone(),
                            open: is_open,
                        },
                    });
                    let inside = is_open && self.walk(&sub, depth + 1, out);
                    if !self.q.is_empty() && !inside && !lowercase(&sub).contains(self.q) {
                        out.truncate(at);
                    }
                }
            }
        }
        out.len() > start
    }

    /// A folder too large to watch: a note saying so, the keys listed so
    /// far (deep, named by what follows the folder's prefix), and "load more".
    fn walk_paged(&self, prefix: &str, depth: usize, out: &mut Vec<TreeRow>) -> bool {
        out.push(TreeRow {
            id: format!("paged:{prefix}"),
            depth,
            line: Line::Note(format!(
                "Over {} entries: not live here; its keys are listed from etcd, {PAGE} at a time.",
                crate::model::KV_TOPIC_MAX
            )),
        });
        let page = self.paged.get(prefix);
        for kv in page.iter().flat_map(|p| p.items.iter()).filter(|kv| self.shows(kv)) {
            let name = kv.key.get(prefix.len()..).unwrap_or(&kv.key).to_owned();
            out.push(TreeRow {
                id: kv.id(),
                depth,
                line: Line::Key(Box::new(kv.clone()), name),
            });
        }
        let last = match page {
            None => Some(("loading", Line::Note("Loading…".to_owned()))),
            Some(p) if p.loading => Some(("loading", Line::Note("Loading…".to_owned()))),
            Some(Paged { error: Some(e), .. }) => Some(("failed", Line::Note(e.clone()))),
            Some(p) if p.more => Some(("more", Line::More(prefix.to_owned()))),
            Some(_) => None,
        };
        if let Some((kind, line)) = last {
            out.push(TreeRow {
                id: format!("{kind}:{prefix}"),
                depth,
                line,
            });
        }
        true
    }
}

/// Keeps one folder's topic subscribed while it is open.
#[component]
fn FolderWatch(prefix: String) -> impl IntoView {
    Live::get().watch(Topic::KvDir(prefix));
}

#[component]
fn TreeLine(
    row: TreeRow,
    selected: Memo<Option<String>>,
    toggle: impl Fn(String) + Copy + Send + Sync + 'static,
    select: Callback<String>,
    load_more: Callback<String>,
) -> impl IntoView {
    let indent = format!("padding-left:{:.1}rem", 0.5 + row.depth as f64 * 1.2);
    match row.line {
        Line::Folder { prefix, name, open } => {
            let shown = if name.is_empty() {
                "(empty name)/".to_owned()
            } else {
                name
            };
            let p = prefix.clone();
            view! {
                <div
                    class="tree-row folder"
                    role="treeitem"
                    aria-expanded=if open { "true" } else { "false" }
                    tabindex="0"
                    style=indent
                    data-testid="tree-folder"
                    data-prefix=prefix.clone()
                    on:click=move |_| toggle(p.clone())
                    on:keydown=move |ev| {
                        if ev.key() == "Enter" {
                            toggle(prefix.clone());
                        }
                    }
                >
                    <span class="twisty" aria-hidden="true">{if open { "▾" } else { "▸" }}</span>
                    <span class="name">{shown}</span>
                </div>
            }
            .into_any()
        }
        Line::Key(kv, name) => {
            let id = row.id.clone();
            let is_selected = {
                let id = id.clone();
                move || selected.get().as_deref() == Some(id.as_str())
            };
            let preview: String = if kv.is_binary() {
                "(binary)".to_owned()
            } else {
                kv.value
                    .chars()
                    .take(PREVIEW)
                    .map(|c| if c.is_control() { ' ' } else { c })
                    .collect()
            };
            let shown = if name.is_empty() {
                "(empty name)".to_owned()
            } else {
                name
            };
            let activate = {
                let id = id.clone();
                move || select.run(id.clone())
            };
            let on_key = activate.clone();
            view! {
                <div
                    class="tree-row key"
                    class:selected=is_selected
                    role="treeitem"
                    tabindex="0"
                    style=indent
                    data-testid="tree-key"
                    data-key=kv.key.clone()
                    on:click=move |_| activate()
                    on:keydown=move |ev| {
                        if ev.key() == "Enter" {
                            on_key();
                        }
                    }
                >
                    <span class="twisty" aria-hidden="true"></span>
                    <span class="name">{shown}</span>
                    <span class=format!("badge kind-{}", kind_label(kv.kind)) data-testid="tree-kind">{kind_label(kv.kind)}</span>
                    <span class="preview">{preview}</span>
                </div>
            }
            .into_any()
        }
        Line::Note(text) => view! {
            <div class="tree-row note" style=indent data-testid="tree-note">{text}</div>
        }
        .into_any(),
        Line::More(prefix) => view! {
            <div class="tree-row more" style=indent>
                <button type="button" data-testid="tree-more" on:click=move |_| load_more.run(prefix.clone())>
                    {format!("Load {PAGE} more")}
                </button>
            </div>
        }
        .into_any(),
    }
}

/// A request's answer, while it is pending and after.
#[derive(Debug, Clone, PartialEq)]
enum Fetch<T> {
    Pending,
    Done(T),
    Failed(String),
}

/// An edit in progress: the text, and the revision it started from (0: the
/// key did not exist).
#[derive(Debug, Clone, PartialEq)]
struct Edit {
    text: String,
    base: Revision,
}

/// A compare-and-swap that lost: what the operator wrote and what the key is now.
#[derive(Debug, Clone, PartialEq)]
struct Conflict {
    mine: String,
    base: Revision,
    theirs: Option<Kv>,
}

/// What a 409 says the key is now; `None` when the failure was something else.
fn conflict_of(failure: &ApiFailure) -> Option<Option<Kv>> {
    (failure.status == Some(409))
        .then(|| serde_json::from_str::<KvConflictBody>(&failure.body).ok())
        .flatten()
        .map(|body| body.current)
}

/// Writes `text` to the key if it is still at `expect` (0: absent).
async fn put_value(id: &str, text: String, expect: Revision) -> Result<KvBody, ApiFailure> {
    let request = KvPutRequest {
        value: Some(text),
        value_base64: None,
        expect_mod_revision: Some(expect),
    };
    put_json::<KvBody>(&key_path(id), &request).await
}

#[component]
fn KeyPanel(id: String) -> impl IntoView {
    let live = Live::get();
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
    let is_live = move || live_kv.with(Option::is_some);

    // The history, read again whenever the key changes.
    let history = RwSignal::new(Fetch::<KvHistoryBody>::Pending);
    {
        let id = id.clone();
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
    }

    let editing = RwSignal::new(None::<Edit>);
    let conflict = RwSignal::new(None::<Conflict>);
    let busy = RwSignal::new(false);
    let outcome = RwSignal::new(None::<Result<String, String>>);
    let deleting = RwSignal::new(false);

    let save = {
        let id = id.clone();
        move |text: String, expect: Revision| {
            let id = id.clone();
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
    };
    let remove = {
        let id = id.clone();
        move |expect: Revision| {
            let id = id.clone();
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
    };

    let header = {
        let id = id.clone();
        move || {
            let shown = current.with(|c| match c {
                Fetch::Done(Some(kv)) => kv.key.clone(),
                _ => id.clone(),
            });
            view! {
                <h2 class="key-title"><code data-testid="key-title">{shown.clone()}</code> " " <CopyButton text=shown label="key"/></h2>
            }
        }
    };
    let body = move || match current.get() {
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
    };
    let actions = move || {
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
    };
    let editor = {
        let save = save.clone();
        move || {
            let edit = editing.get()?;
            let save = save.clone();
            let text = RwSignal::new(edit.text.clone());
            let base = edit.base;
            Some(view! {
                <form class="editor" on:submit=move |ev: leptos::ev::SubmitEvent| {
                    ev.prevent_default();
                    save(text.get_untracked(), base);
                }>
                    <p class="muted">{if base == 0 {
                        "Creating the key: saving fails if someone creates it first.".to_owned()
                    } else {
                        format!("Editing from revision {base}: saving fails, and shows both versions, if someone changes the key first.")
                    }}</p>
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
    };
    let conflict_view = {
        let save = save.clone();
        move || {
            let c = conflict.get()?;
            let save_mine = save.clone();
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
                            on:click=move |_| save_mine(mine.clone(), theirs_rev)>
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
    };
    let delete_dialog = {
        let id = id.clone();
        move || {
            if !deleting.get() {
                return None;
            }
            let Fetch::Done(Some(kv)) = current.get() else {
                return None;
            };
            let remove = remove.clone();
            let expect = kv.mod_revision;
            Some(view! {
                <div class="backdrop">
                    <div class="dialog" role="dialog" aria-modal="true" aria-labelledby="delete-title" data-testid="delete-dialog">
                        <h2 id="delete-title">"Delete " <code>{id.clone()}</code></h2>
                        <p>{format!("This deletes the key as it is at revision {expect}; if someone changes it first, nothing is deleted.")}</p>
                        {kv.lease.map(|l| view! { <p>{format!("It is held by lease {l}: its owner may write it again.")}</p> })}
                        <ValueView value=kv.value.clone() value_base64=kv.value_base64.clone()/>
                        <div class="actions">
                            <button type="button" class="danger" data-testid="delete-confirm" disabled=move || busy.get() on:click=move |_| remove(expect)>"Delete"</button>
                            <button type="button" on:click=move |_| deleting.set(false)>"Cancel"</button>
                        </div>
                    </div>
                </div>
            })
        }
    };

    view! {
        <article class="key-panel" data-testid="key-panel">
            {header}
            <p class="muted">{move || if is_live() { "Live: changes in etcd show here as they happen." } else { "As read when opened (its folder is not watched live)." }}</p>
            {body}
            {actions}
            {move || outcome.get().map(|o| match o {
                Ok(text) => view! { <p class="done" role="status" data-testid="key-outcome">{text}</p> }.into_any(),
                Err(text) => view! { <p class="error" role="alert" data-testid="key-outcome">{text}</p> }.into_any(),
            })}
            {editor}
            {conflict_view}
            {delete_dialog}
            <AtRevision id=id.clone()/>
            <History history/>
        </article>
    }
}

/// "View at revision R".
#[component]
fn AtRevision(id: String) -> impl IntoView {
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
fn History(history: RwSignal<Fetch<KvHistoryBody>>) -> impl IntoView {
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

/// Creating a key: its name (in the folder open beside the tree) and value,
/// saved only if no such key exists.
#[component]
fn NewKey(folder: String, on_close: Callback<()>, select: Callback<String>) -> impl IntoView {
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
        <div class="backdrop">
            <form class="dialog" role="dialog" aria-modal="true" aria-labelledby="new-key-title" data-testid="new-key-dialog" on:submit=create>
                <h2 id="new-key-title">"New key"</h2>
                <label>"Key" <input type="text" data-testid="new-key-name" prop:value=move || key.get() on:input=move |ev| key.set(event_target_value(&ev))/></label>
                <label>"Value" <textarea rows="8" spellcheck="false" data-testid="new-key-value" prop:value=move || value.get() on:input=move |ev| value.set(event_target_value(&ev))></textarea></label>
                {move || failure.get().map(|f| view! { <p class="error" role="alert">{f}</p> })}
                <div class="actions">
                    <button type="submit" class="primary" data-testid="new-key-create" disabled=move || busy.get()>"Create"</button>
                    <button type="button" on:click=move |_| on_close.run(())>"Cancel"</button>
                </div>
            </form>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
