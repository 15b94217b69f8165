//! Pages fetched on first use. `cargo leptos build --split` moves the code
//! only a split function below reaches (its page, and what only that page
//! uses) into a wasm module of its own, plus modules for what several pages
//! share; the first call fetches them. So the first download holds the shell,
//! the live state, the wire model and the status bar with the storm banner,
//! and each page costs its own modules when it is first shown.
//!
//! No page is in the first download: the overview, the landing page, draws
//! charts (`pages::chart`), which the service and cluster pages share with it
//! and which must stay out of the first module; the page a document is served
//! for has its modules preloaded by that document (the server links them), so
//! they come alongside the first module rather than after it. A page built in
//! the browser rather than hydrated costs no hydration code. The Config and
//! history pages share one module: they share most of their code, and the one
//! is reached from the other. So does the export, import and copy page, reached
//! from the Config page: as a module of its own it cost every other page 0.4 to
//! 6.5 KiB brotli and up to 22 more files on first visit (the code it shares
//! with them split into more, smaller modules; the service page 102 to 118
//! files) and the Config page 10.7 KiB, where inside the Config module it costs
//! that page 35 KiB and no other page anything.

use leptos::prelude::*;
use leptos_router::hooks::{use_params_map, use_query_map};

use crate::components::decode_segment;
use crate::live::Live;
use crate::model::Topic;

/// A page built in the browser (all but Not found), fetched on first use.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Part {
    Overview,
    Cluster,
    Services,
    Service,
    Leases,
    Locks,
    Elections,
    Events,
    Ops,
    Config,
    Travel,
    /// Export, import, copy and rename of a prefix.
    Transfer,
    /// A registry page as of a past revision or time.
    Past,
}

impl Part {
    /// A registry page, which can also be shown as of the past.
    fn has_past(self) -> bool {
        matches!(
            self,
            Part::Services | Part::Service | Part::Leases | Part::Locks | Part::Elections
        )
    }
}

/// A page's view, built where the router puts it (so with the route's context).
type PageView = fn() -> AnyView;

#[derive(Clone, Copy)]
enum Load {
    Pending,
    Ready(PageView),
    Failed,
    /// The server now serves another build than this tab's.
    Upgraded,
}

/// A page whose code the browser fetches the first time it is shown. The
/// server renders the placeholder, since hydration must find what the browser
/// renders first, and links the page's modules for preloading; the browser
/// then fetches them and builds the page in the placeholder's place. A module
/// that fails to load says so, with a button to try again.
///
/// A registry page asked for as of the past (`?rev=` or `?at=`) is the past
/// page instead; stepping from one past moment to another keeps it.
#[component]
pub(crate) fn Deferred(part: Part) -> impl IntoView {
    let query = use_query_map();
    let past = Memo::new(move |_| part.has_past() && query.with(|q| q.get("rev").is_some() || q.get("at").is_some()));
    move || {
        if past.get() {
            view! { <Fetched part=Part::Past/> }.into_any()
        } else {
            view! { <Fetched part/> }.into_any()
        }
    }
}

/// `part`'s page, once its code is here.
#[component]
fn Fetched(part: Part) -> impl IntoView {
    watch_topics(part);
    let state = RwSignal::new(split::loaded(part).map_or(Load::Pending, Load::Ready));
    // The page the document was served for loads at once: its modules are of
    // the document's build. Later, a page is first checked against the
    // server's build (`split::fetch`).
    let initial = Owner::current_shared_context().is_some_and(|context| context.during_hydration());
    if matches!(state.get_untracked(), Load::Pending) {
        split::fetch(part, state, !initial);
    }
    let fetch = move || split::fetch(part, state, true);
    move || match state.get() {
        Load::Pending => view! { <p class="loading">"Loading the page…"</p> }.into_any(),
        Load::Ready(page) => page(),
        Load::Failed => view! {
            <p class="error" role="alert">
                "This page's code could not be loaded: is the server reachable? "
                <button on:click=move |_| {
                    state.set(Load::Pending);
                    fetch();
                }>"Try again"</button>
            </p>
        }
        .into_any(),
        Load::Upgraded => view! {
            <p class="error" role="alert">
                "Leasehold has been upgraded since this tab was opened: reload to use the new version. "
                <button on:click=|_| {
                    if let Some(window) = leptos::web_sys::window() {
                        let _ = window.location().reload();
                    }
                }>"Reload"</button>
            </p>
        }
        .into_any(),
    }
}

/// Subscribes the topics `part` shows, for as long as its route is shown:
/// from before its code loads, so that their snapshots come meanwhile rather
/// than after. The one place these pages' topics are named.
fn watch_topics(part: Part) {
    let live = Live::get();
    match part {
        // The status bar keeps `ops` (the alarms) and `storm` on every page.
        Part::Overview => {
            live.watch(Topic::Cluster);
            live.watch(Topic::Metrics);
            live.watch(Topic::Locks);
            live.watch(Topic::Events);
        }
        Part::Cluster => {
            live.watch(Topic::Cluster);
            live.watch(Topic::Metrics);
        }
        Part::Services => live.watch(Topic::Services),
        Part::Service => {
            let params = use_params_map();
            let name = Memo::new(move |_| decode_segment(&params.read().get("name").unwrap_or_default()));
            // Follow the service named in the URL, whichever it is now.
            Effect::new(move |_| {
                let name = name.get();
                live.watch(Topic::ServiceMetrics(name.clone()));
                live.watch(Topic::Service(name));
            });
        }
        Part::Leases => {
            live.watch(Topic::Leases);
            live.watch(Topic::Locks);
            live.watch(Topic::Elections);
        }
        Part::Locks => live.watch(Topic::Locks),
        Part::Elections => {
            live.watch(Topic::Elections);
            live.watch(Topic::Events);
        }
        Part::Events => live.watch(Topic::Events),
        // The status bar keeps it too, for the alarms.
        Part::Ops => live.watch(Topic::Ops),
        // The folders shown depend on the page's own state: it subscribes them.
        Part::Config | Part::Travel => {}
        // Asked over REST only; the revision and the horizon are the status bar's.
        Part::Transfer => {}
        // The past is read over REST; the status bar keeps `ops`, the horizon.
        Part::Past => {}
    }
}

/// The server renders placeholders only, and names the modules to preload.
#[cfg(not(feature = "hydrate"))]
mod split {
    use super::{Load, PageView, Part};
    use leptos::prelude::*;

    pub(super) fn loaded(_: Part) -> Option<PageView> {
        None
    }

    pub(super) fn fetch(part: Part, _: RwSignal<Load>, _: bool) {
        leptos::prefetch_lazy_fn_on_server(module(part));
    }

    /// The name of a page's module: a split function's first argument, and the
    /// key of `__wasm_split_manifest.json` that lists the files to preload.
    fn module(part: Part) -> &'static str {
        match part {
            Part::Overview => "overview",
            Part::Cluster => "cluster",
            Part::Services => "services",
            Part::Service => "service",
            Part::Leases => "leases",
            Part::Locks => "locks",
            Part::Elections => "elections",
            Part::Events => "events",
            Part::Ops => "ops",
            Part::Config | Part::Travel | Part::Transfer => "config",
            Part::Past => "past",
        }
    }
}

#[cfg(feature = "hydrate")]
mod split {
    use super::{Load, PageView, Part};
    use leptos::prelude::*;
    use leptos::wasm_split::{wasm_split, SplitLoaderError};
    use std::cell::RefCell;

    thread_local! {
        /// The pages loaded so far: shown again at once, without a placeholder.
        static LOADED: RefCell<Vec<(Part, PageView)>> = const { RefCell::new(Vec::new()) };
    }

    pub(super) fn loaded(part: Part) -> Option<PageView> {
        LOADED.with_borrow(|loaded| loaded.iter().find(|(p, _)| *p == part).map(|(_, view)| *view))
    }

    /// Loads `part`'s modules into `state`; with `check`, only once the server
    /// is known to serve this tab's build.
    pub(super) fn fetch(part: Part, state: RwSignal<Load>, check: bool) {
        leptos::task::spawn_local(async move {
            if check {
                match crate::live::api::server_build().await {
                    Ok(build) if !build.is_empty() && build != this_build() => {
                        let _ = state.try_set(Load::Upgraded);
                        return;
                    }
                    Ok(_) => {}
                    Err(error) => {
                        leptos::logging::warn!("the {part:?} page: {error}");
                        let _ = state.try_set(Load::Failed);
                        return;
                    }
                }
            }
            let load = match load(part).await {
                Ok(view) => {
                    LOADED.with_borrow_mut(|loaded| loaded.push((part, view)));
                    Load::Ready(view)
                }
                Err(error) => {
                    leptos::logging::warn!("the {part:?} page: {error}");
                    Load::Failed
                }
            };
            // The page may have been left meanwhile.
            let _ = state.try_set(load);
        });
    }

    /// The build this tab was served with.
    fn this_build() -> String {
        leptos::web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.query_selector("meta[name=leasehold-build]").ok().flatten())
            .and_then(|meta| meta.get_attribute("content"))
            .unwrap_or_default()
    }

    async fn load(part: Part) -> Result<PageView, SplitLoaderError> {
        match part {
            Part::Overview => overview().await,
            Part::Cluster => cluster().await,
            Part::Services => services().await,
            Part::Service => service().await,
            Part::Leases => leases().await,
            Part::Locks => locks().await,
            Part::Elections => elections().await,
            Part::Events => events().await,
            Part::Ops => ops().await,
            Part::Config => Ok(config().await?.0),
            Part::Travel => Ok(config().await?.1),
            Part::Transfer => Ok(config().await?.2),
            Part::Past => past().await,
        }
    }

    /// A split function: `$module` names the module (the server's `module`
    /// gives the same names) and the function that loads it, which returns
    /// `$page`'s view.
    macro_rules! split_page {
        ($module:ident, $page:path) => {
            #[wasm_split($module, wasm_split_path = ::leptos::wasm_split, fallible)]
            fn $module() -> Result<PageView, SplitLoaderError> {
                Ok(|| $page().into_any())
            }
        };
    }

    split_page!(overview, crate::pages::overview::OverviewPage);
    split_page!(cluster, crate::pages::cluster::ClusterPage);
    split_page!(services, crate::pages::services::ServicesPage);
    split_page!(service, crate::pages::service::ServicePage);
    split_page!(leases, crate::pages::leases::LeasesPage);
    split_page!(locks, crate::pages::locks::LocksPage);
    split_page!(elections, crate::pages::elections::ElectionsPage);
    split_page!(events, crate::pages::events::EventsPage);
    split_page!(ops, crate::pages::ops::OpsPage);
    split_page!(past, crate::pages::past::PastPage);

    /// The Config, history and transfer pages: one module.
    #[wasm_split(config, wasm_split_path = ::leptos::wasm_split, fallible)]
    fn config() -> Result<(PageView, PageView, PageView), SplitLoaderError> {
        Ok((
            || crate::pages::config::ConfigPage().into_any(),
            || crate::pages::config_travel::TravelPage().into_any(),
            || crate::pages::transfer::TransferPage().into_any(),
        ))
    }
}
