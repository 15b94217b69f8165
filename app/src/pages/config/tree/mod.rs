//! The key tree: the open folders flattened into rows ([`rows`]), only the
//! rows in view in the DOM. A folder is a live topic while it is open; one
//! too large for the server to watch is listed page by page from etcd instead.

mod rows;

use std::collections::{BTreeMap, BTreeSet};

use leptos::prelude::*;
use leptos::task::spawn_local;

use super::kind_label;
use crate::components::encode_segment;
use crate::live::api::get_json;
use crate::live::Live;
use crate::model::{ErrorCode, Kv, Topic};
use crate::pages::{lowercase, rows_in_view, scroll_top};
use rows::{Line, Paged, Tree, TreeRow, PAGE};

/// Height of one tree row in pixels; the CSS gives rows exactly this height.
const ROW: f64 = 30.0;
/// Height of the tree's scrolling area in pixels (CSS `.tree`).
const VIEWPORT: f64 = 600.0;
/// Rows rendered above and below the visible ones.
const OVERSCAN: usize = 10;
/// Characters of a value shown in its tree row.
const PREVIEW: usize = 60;

/// The tree of the folders open under `root`, filtered by `filter`, scrolled
/// by `scroll` (which the filter's input sets back to 0). Picking a key calls
/// `select` with its id.
pub(super) fn key_tree(
    root: Memo<String>,
    open: RwSignal<BTreeSet<String>>,
    filter: RwSignal<String>,
    scroll: RwSignal<f64>,
    selected: Memo<Option<String>>,
    select: Callback<String>,
) -> impl IntoView {
    let live = Live::get();
    // Open folders the server would not watch for their size: listed page
    // by page from etcd instead, starting when they are refused.
    let paged = RwSignal::new(BTreeMap::<String, Paged>::new());
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
                .filter(|(prefix, (code, _))| *code == ErrorCode::TooLarge && open.contains(*prefix))
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

    let found = search_whole_prefix(root, filter);
    let rows = Memo::new(move |_| {
        let q = lowercase(filter.get().trim());
        // A filter searches every key under the root, on the server; the
        // open folders do not limit it.
        if !q.is_empty() {
            return found.with(|found| search_rows(&root.get(), filter.get().trim(), found.as_ref()));
        }
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
        rows_in_view(scroll.get(), total, ROW, VIEWPORT, OVERSCAN)
    });
    let visible = Memo::new(move |_| {
        let (first, last, _) = window.get();
        rows.with(|r| r.get(first..last).map(<[TreeRow]>::to_vec).unwrap_or_default())
    });
    let on_scroll = move |ev: leptos::ev::Event| {
        if let Some(top) = scroll_top(&ev) {
            scroll.set(top);
        }
    };
    let toggle = move |prefix: String| {
        open.update(|o| {
            if !o.remove(&prefix) {
                o.insert(prefix);
            }
        });
    };

    view! {
        <div class="tree" role="tree" aria-label="Keys" on:scroll=on_scroll data-testid="tree">
            <div style=move || format!("height:{}px", window.get().0 as f64 * ROW) aria-hidden="true"></div>
            // Keyed by the entry, not its content: a key whose value changes,
            // a folder opened or closed, keeps its element (and focus); its
            // cells follow the row through `visible`.
            <For each=move || visible.get() key=|row| (row.id.clone(), row.line.shape()) let(row)>
                <TreeLine row visible selected=selected toggle select load_more/>
            </For>
            <div
                style=move || {
                    let (_, last, total) = window.get();
                    format!("height:{}px", (total - last) as f64 * ROW)
                }
                aria-hidden="true"
            ></div>
        </div>
    }
}

/// Most keys a search shows; the note says when more match.
const FOUND_MAX: usize = 500;
/// How long typing pauses before the server is asked.
const SEARCH_DELAY: std::time::Duration = std::time::Duration::from_millis(250);

/// What the server found for `(root, text)`: keys, whether more match, or why not.
type Found = ((String, String), Result<(Vec<crate::model::Kv>, bool), String>);

/// Asks the server for the keys under the root whose name holds the filter,
/// once typing pauses.
fn search_whole_prefix(root: Memo<String>, filter: RwSignal<String>) -> RwSignal<Option<Found>> {
    let found = RwSignal::new(None::<Found>);
    Effect::new(move |_| {
        let asked = (root.get(), filter.get().trim().to_owned());
        if asked.1.is_empty() {
            return;
        }
        set_timeout(
            move || {
                if (root.get_untracked(), filter.get_untracked().trim().to_owned()) != asked {
                    return;
                }
                let path = format!(
                    "/api/v1/kv?prefix={}&contains={}&limit={FOUND_MAX}",
                    encode_segment(&asked.0),
                    encode_segment(&asked.1)
                );
                spawn_local(async move {
                    let result = get_json::<crate::model::KvListBody>(&path)
                        .await
                        .map(|body| (body.items, body.more))
                        .map_err(|f| f.to_string());
                    found.set(Some((asked, result)));
                });
            },
            SEARCH_DELAY,
        );
    });
    found
}

/// The rows of a search: a note of what was searched and found, then the
/// keys, named by what follows the root.
fn search_rows(root: &str, text: &str, found: Option<&Found>) -> Vec<TreeRow> {
    let note = |kind: &str, line: String| TreeRow {
        id: format!("search-{kind}:{root}"),
        depth: 0,
        line: Line::Note(line),
    };
    let scope = if root.is_empty() {
        String::new()
    } else {
        format!(" under {root}")
    };
    let Some((_, result)) = found.filter(|((r, t), _)| r == root && t == text) else {
        return vec![note("busy", format!("Searching every key{scope} for {text:?}…"))];
    };
    match result {
        Err(why) => vec![note("failed", why.clone())],
        Ok((items, _)) if items.is_empty() => vec![note("none", format!("No key{scope} holds {text:?}."))],
        Ok((items, more)) => {
            let head = if *more {
                format!(
                    "The first {} keys whose name holds {text:?}; type more to narrow it.",
                    items.len()
                )
            } else {
                format!("{} key(s) whose name holds {text:?}:", items.len())
            };
            let mut rows = vec![note("found", head)];
            rows.extend(items.iter().map(|kv| TreeRow {
                id: kv.id(),
                depth: 0,
                line: Line::Key(
                    Box::new(kv.clone()),
                    kv.key.get(root.len()..).unwrap_or(&kv.key).to_owned(),
                ),
            }));
            rows
        }
    }
}

/// Keeps one folder's topic subscribed while it is open.
#[component]
pub(super) fn FolderWatch(prefix: String) -> impl IntoView {
    Live::get().watch(Topic::KvDir(prefix));
}

#[component]
fn TreeLine(
    row: TreeRow,
    visible: Memo<Vec<TreeRow>>,
    selected: Memo<Option<String>>,
    toggle: impl Fn(String) + Copy + Send + Sync + 'static,
    select: Callback<String>,
    load_more: Callback<String>,
) -> impl IntoView {
    let id = row.id.clone();
    let shape = row.line.shape();
    // The row as it is now: this entry's line among the rows in view (the
    // last one seen while the row leaves them).
    let now = {
        let (id, first) = (id.clone(), row.clone());
        Memo::new(move |prev: Option<&TreeRow>| {
            visible
                .with(|rows| rows.iter().find(|r| r.id == id && r.line.shape() == shape).cloned())
                .or_else(|| prev.cloned())
                .unwrap_or_else(|| first.clone())
        })
    };
    let indent = move || format!("padding-left:{:.1}rem", 0.5 + now.with(|r| r.depth) as f64 * 1.2);
    match row.line {
        Line::Folder { prefix, name, .. } => {
            // A folder nested in another also shows its whole prefix, so two
            // folders of one name (`services/` and `/services/`) are told apart.
            let whole = (prefix != name).then(|| prefix.clone());
            let shown = match name.as_str() {
                "" => "(empty name)/".to_owned(),
                "/" => "/ (keys that begin with /)".to_owned(),
                _ => name,
            };
            let open = move || now.with(|r| matches!(r.line, Line::Folder { open: true, .. }));
            let p = prefix.clone();
            view! {
                <div
                    class="tree-row folder"
                    role="treeitem"
                    aria-expanded=move || if open() { "true" } else { "false" }
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
                    <span class="twisty" aria-hidden="true">{move || if open() { "▾" } else { "▸" }}</span>
                    <span class="name">{shown}</span>
                    {whole.map(|w| view! { <span class="preview">{w}</span> })}
                </div>
            }
            .into_any()
        }
        Line::Key(kv, _) => {
            let is_selected = {
                let id = id.clone();
                move || selected.get().as_deref() == Some(id.as_str())
            };
            let key = move |read: fn(&Kv, &str) -> String| {
                now.with(|r| match &r.line {
                    Line::Key(kv, name) => read(kv, name),
                    _ => String::new(),
                })
            };
            let shown = move || {
                key(|_, name| {
                    if name.is_empty() {
                        "(empty name)".to_owned()
                    } else {
                        name.to_owned()
                    }
                })
            };
            let kind = move || key(|kv, _| kind_label(kv.kind).to_owned());
            let preview = move || key(|kv, _| preview_of(kv));
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
                    <span class=move || format!("badge kind-{}", kind()) data-testid="tree-kind">{kind}</span>
                    <span class="preview" data-testid="tree-preview">{preview}</span>
                </div>
            }
            .into_any()
        }
        Line::Note(_) => {
            let text = move || {
                now.with(|r| match &r.line {
                    Line::Note(text) => text.clone(),
                    _ => String::new(),
                })
            };
            view! { <div class="tree-row note" style=indent data-testid="tree-note">{text}</div> }.into_any()
        }
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

/// The start of a key's value as its tree row shows it.
fn preview_of(kv: &Kv) -> String {
    if kv.is_binary() {
        return "(binary)".to_owned();
    }
    kv.value
        .chars()
        .take(PREVIEW)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}
