//! Leasehold's browser half and the wire model both halves share.
//!
//! - [`model`]: serde types of the REST bodies and WebSocket messages (no Leptos).
//! - `live`: the one WebSocket per tab, and the reactive state it feeds.
//! - `pages`: one page per file. `components`: view pieces used across pages.
//!
//! The server renders [`shell`] (SSR); the browser hydrates it with [`hydrate`].

pub mod model;

// The server renders each page's placeholder only (see `pages::deferred`):
// the pages, and what only they use, are built for the browser alone.
#[cfg(feature = "ui")]
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
mod components;
#[cfg(feature = "ui")]
pub mod live;
#[cfg(feature = "ui")]
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
mod pages;
#[cfg(feature = "ui")]
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
mod text;

#[cfg(feature = "ui")]
pub use ui::{shell, App};

/// Which browser code the server serves: a hash of its wasm modules, names
/// and bytes (the server's `site::Site::build_id`). A page carries the one it
/// was served with (`<meta name="leasehold-build">`) and compares it with the
/// server's before it fetches a page's modules: modules of two builds must
/// never be mixed, and a tab opened before an upgrade would otherwise do so.
/// Empty until the server sets it, and when no site is built.
#[cfg(feature = "ssr")]
pub fn build_id() -> &'static str {
    BUILD.get().map_or("", String::as_str)
}

/// Sets what [`build_id`] answers, once: a process serves one site.
#[cfg(feature = "ssr")]
pub fn set_build_id(id: String) {
    let _ = BUILD.set(id);
}

#[cfg(feature = "ssr")]
static BUILD: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// The split build's manifest (`pkg/__wasm_split_manifest.json`: each page's
/// modules, which the server links for preloading), given by a server whose
/// site is not a folder: Leptos's `HydrationScripts` reads it only from the
/// site's folder. Set once; an error when it is not a manifest.
#[cfg(feature = "ssr")]
pub fn set_split_manifest(json: &[u8]) -> Result<(), serde_json::Error> {
    let preloads: std::collections::HashMap<String, Vec<String>> = serde_json::from_slice(json)?;
    let _ = SPLIT.set(leptos::WasmSplitManifest(leptos::prelude::ArcStoredValue::new((
        "/pkg".to_owned(),
        preloads,
        "__wasm_split.______________________.js".to_owned(),
    ))));
    Ok(())
}

#[cfg(feature = "ssr")]
static SPLIT: std::sync::OnceLock<leptos::WasmSplitManifest> = std::sync::OnceLock::new();

/// The browser renders no document head: `shell` is the server's.
#[cfg(all(feature = "ui", not(feature = "ssr")))]
pub fn build_id() -> &'static str {
    ""
}

#[cfg(feature = "ui")]
mod ui {
    use leptos::prelude::*;
    use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
    use leptos_router::components::{Route, Router, Routes, A};
    use leptos_router::path;

    use crate::components::account::{Account, LoginForm};
    use crate::components::status_bar::StatusBar;
    use crate::components::storm::StormBanner;
    use crate::components::theme::{self, ThemeToggle};
    use crate::live::Live;
    use crate::pages::deferred::{Deferred, Part};
    use crate::pages::not_found::NotFound;

    /// The HTML document the server renders around the app.
    pub fn shell(options: leptos::config::LeptosOptions) -> impl IntoView {
        #[cfg(feature = "ssr")]
        if let Some(manifest) = crate::SPLIT.get() {
            provide_context(manifest.clone());
        }
        view! {
            <!DOCTYPE html>
            <html lang="en">
                <head>
                    <meta charset="utf-8"/>
                    <meta name="viewport" content="width=device-width, initial-scale=1"/>
                    <link rel="icon" href="data:,"/>
                    // Imported by leasehold.js, so hydration waits for it: asked
                    // for first, before the preloads of the page's modules take
                    // the browser's connections.
                    <link rel="modulepreload" href="/pkg/__wasm_split.______________________.js"/>
                    <meta name="leasehold-build" content=crate::build_id()/>
                    <AutoReload options=options.clone()/>
                    <HydrationScripts options/>
                    <MetaTags/>
                </head>
                <body>
                    <App/>
                </body>
            </html>
        }
    }

    #[component]
    pub fn App() -> impl IntoView {
        provide_meta_context();
        let live = Live::provide();
        // Effects run only in the browser, after hydration: one socket per tab.
        Effect::new(move |_| {
            theme::restore();
            live.start();
        });

        // On a narrow screen the nav folds behind a button (CSS shows it there).
        let menu_open = RwSignal::new(false);
        view! {
            <Stylesheet id="leptos" href="/pkg/leasehold.css"/>
            <Title text="Leasehold"/>
            <Router>
                <header class="top" class:menu-open=move || menu_open.get()>
                    <a class="brand" href="/">"Leasehold"</a>
                    <button
                        type="button"
                        class="menu"
                        aria-controls="main-nav"
                        aria-expanded=move || if menu_open.get() { "true" } else { "false" }
                        data-testid="menu"
                        on:click=move |_| menu_open.update(|open| *open = !*open)
                    >
                        "Menu"
                    </button>
                    <nav id="main-nav" aria-label="Main" on:click=move |_| menu_open.set(false)>
                        <A href="/" exact=true>"Overview"</A>
                        <A href="/services">"Services"</A>
                        <A href="/leases">"Leases"</A>
                        <A href="/locks">"Locks"</A>
                        <A href="/elections">"Elections"</A>
                        <A href="/cluster">"Cluster"</A>
                        <A href="/events">"Events"</A>
                        <A href="/ops">"Operations"</A>
                        <A href="/config">"Config"</A>
                    </nav>
                    <Account/>
                    <ThemeToggle/>
                </header>
                <StormBanner/>
                <main>
                    // The server wants a sign-in: the form stands in for every page,
                    // and signing in reloads the page the user asked for.
                    <Show when=move || !live.signed_out.get() fallback=LoginForm>
                    <Routes fallback=NotFound>
                        <Route path=path!("/") view=|| view! { <Deferred part=Part::Overview/> }/>
                        <Route path=path!("/cluster") view=|| view! { <Deferred part=Part::Cluster/> }/>
                        <Route path=path!("/services") view=|| view! { <Deferred part=Part::Services/> }/>
                        <Route path=path!("/services/:name") view=|| view! { <Deferred part=Part::Service/> }/>
                        <Route path=path!("/leases") view=|| view! { <Deferred part=Part::Leases/> }/>
                        <Route path=path!("/locks") view=|| view! { <Deferred part=Part::Locks/> }/>
                        <Route path=path!("/elections") view=|| view! { <Deferred part=Part::Elections/> }/>
                        <Route path=path!("/events") view=|| view! { <Deferred part=Part::Events/> }/>
                        <Route path=path!("/ops") view=|| view! { <Deferred part=Part::Ops/> }/>
                        <Route path=path!("/config") view=|| view! { <Deferred part=Part::Config/> }/>
                        <Route path=path!("/config/travel") view=|| view! { <Deferred part=Part::Travel/> }/>
                        <Route path=path!("/config/transfer") view=|| view! { <Deferred part=Part::Transfer/> }/>
                    </Routes>
                    </Show>
                </main>
                <StatusBar/>
            </Router>
        }
    }
}

/// The browser's entry point: hydrate the server-rendered page, then mark the
/// body so tests (and people) know the page is interactive.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(App);
    if let Some(body) = web_sys::window().and_then(|w| w.document()).and_then(|d| d.body()) {
        // Only fails on an invalid attribute name, which this is not.
        let _ = body.set_attribute("data-hydrated", "true");
    }
}

/// Room for the page split in the first module's data. `cargo leptos
/// --split` (wasm-split) moves each module's constant data out of the one
/// data segment the linker writes and lays it out again module by module,
/// each module's part starting aligned; when that layout comes out longer
/// than the segment (the alignment padding of many small modules outgrowing
/// the segment's own gaps), it gives up and keeps every page's data in the
/// first module (about 57 KB more there with the operations page). These
/// bytes are in the segment but no module reads them, so the split leaves
/// them out of every module and their room takes the padding: they cost
/// nothing in any module.
#[cfg(feature = "hydrate")]
#[used]
static SPLIT_SLACK: [u8; 1024] = [0x5a; 1024];
