//! HTTP: REST routes, the WebSocket endpoint, static assets and the Leptos app.

mod api;
mod assets;
pub mod audit;
mod auth;
pub mod client;
mod error;
pub mod host;
mod kv_routes;
mod lease_actions;
mod openapi;
pub mod ops;
mod past;
mod refusals;
mod restore;
mod security;
pub mod tls;
mod transfer;
pub mod ws;

use std::sync::Arc;

use axum::extract::FromRef;
use axum::routing::get;
use axum::Router;
use leptos::config::LeptosOptions;
use leptos_axum::{generate_route_list, LeptosRoutes};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tower_http::compression::predicate::{DefaultPredicate, NotForContentType, Predicate};
use tower_http::compression::CompressionLayer;
use tower_http::services::ServeDir;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;

use crate::auth::{Sessions, Throttle};
use crate::config::Config;
use crate::etcd::Actions;
use crate::hub::Hub;
use crate::registry::{Revocations, Store};
use crate::site::Site;
use crate::tasks::Supervisor;

pub use error::ApiError;

/// What every handler can reach. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub store: Store,
    /// Marks a lease a revoke request is ending, so its end reads "revoked".
    pub revocations: Revocations,
    pub hub: Hub,
    /// What handlers may ask etcd directly (revoke a lease, ...).
    pub actions: Actions,
    /// The operations console's maintenance (disarm, compact, defragment).
    pub ops: ops::Ops,
    pub tasks: Supervisor,
    /// Cancelled when the server shuts down; sessions close on it.
    pub stop: CancellationToken,
    pub leptos: LeptosOptions,
    pub audit: audit::Audit,
    /// Signed-in sessions (`--auth users`).
    pub sessions: Sessions,
    /// The brake on password guessing, per client.
    pub throttle: Throttle,
    /// The bound on password checks running at once, whoever asks: each is
    /// an argon2 run of 19 MiB on a blocking thread. A login that finds
    /// none free is answered 503 at once, never queued.
    pub hashing: Arc<Semaphore>,
    /// The registries "as of" past revisions built lately.
    pub past: Arc<past::PastRegistries>,
}

/// Password checks run at once at most ([`AppState::hashing`]): 76 MiB.
pub const MAX_HASHING: usize = 4;

impl AppState {
    pub fn new(
        config: Arc<Config>,
        (store, revocations): (Store, Revocations),
        hub: Hub,
        (actions, ops): (Actions, ops::Ops),
        tasks: Supervisor,
        stop: CancellationToken,
        audit: audit::Audit,
    ) -> Self {
        // What the page names as its build, and health as the server's.
        app::set_build_id(config.site.build_id());
        if let Site::BuiltIn(files) = &config.site {
            // The pages' modules to preload, which Leptos reads from a
            // folder only.
            if let Some(manifest) = files.by_path.get("pkg/__wasm_split_manifest.json") {
                if let Err(e) = app::set_split_manifest(manifest.plain.bytes) {
                    tracing::error!(error = %e, "the built-in site's split manifest is not one: pages' modules are not preloaded");
                }
            }
        }
        // A built-in site has no folder. Leptos still looks for the split
        // manifest under its site root: a path no file can have (it holds a
        // NUL byte) rather than "", which would be the working directory.
        let site_root = match &config.site {
            Site::Folder(root) => root.to_string_lossy().into_owned(),
            Site::BuiltIn(_) => "\0built-in".to_owned(),
        };
        let leptos = LeptosOptions::builder()
            .output_name("leasehold")
            .site_root(site_root)
            .site_pkg_dir("pkg")
            .env(leptos::config::Env::PROD)
            .build();
        let sessions = Sessions::new(config.session_ttl);
        audit.spawn_summaries(&tasks);
        AppState {
            sessions,
            throttle: Throttle::default(),
            hashing: Arc::new(Semaphore::new(MAX_HASHING)),
            past: Arc::default(),
            config,
            store,
            revocations,
            hub,
            actions,
            ops,
            tasks,
            stop,
            leptos,
            audit,
        }
    }
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos.clone()
    }
}

/// The whole site: API, WebSocket, assets, and the server-rendered app.
///
/// The REST routes are registered through utoipa-axum from their handlers'
/// `#[utoipa::path]` annotations, which also make the OpenAPI document
/// served at `/api/v1/openapi.json` (http/openapi.rs): every route is in it.
pub fn router(state: AppState) -> Router {
    let read_only = state.config.read_only;
    let users = matches!(state.config.auth, crate::auth::AuthMode::Users(_));
    // Everything but health, login, logout and the document needs a caller
    // (a session under `--auth users`); the layer answers 401 without one.
    let protected = OpenApiRouter::new()
        .routes(routes!(api::cluster))
        .routes(routes!(api::ops))
        .routes(routes!(api::metrics_history))
        .routes(routes!(ops::disarm::hashkv))
        .routes(routes!(ops::snapshot::snapshot))
        .routes(routes!(ops::snapshot::snapshots))
        .routes(ops_route(
            read_only,
            routes!(ops::disarm::disarm),
            routes!(ops::read_only_disarm),
        ))
        .routes(ops_route(
            read_only,
            routes!(ops::compact::compact),
            routes!(ops::read_only_compact),
        ))
        .routes(ops_route(
            read_only,
            routes!(ops::defrag::defrag),
            routes!(ops::read_only_defrag),
        ))
        .routes(ops_route(
            read_only,
            routes!(ops::members::add),
            routes!(ops::read_only_add_member),
        ))
        .routes(ops_route(
            read_only,
            routes!(ops::members::promote),
            routes!(ops::read_only_promote_member),
        ))
        .routes(ops_route(
            read_only,
            routes!(ops::members::remove),
            routes!(ops::read_only_remove_member),
        ))
        .routes(ops_route(
            read_only,
            routes!(ops::members::move_leader),
            routes!(ops::read_only_move_leader),
        ))
        .routes(routes!(api::services))
        .routes(routes!(api::service))
        .routes(routes!(api::leases))
        .routes(routes!(auth::me))
        .routes(routes!(api::lease))
        .routes(revoke_route(read_only))
        .routes(routes!(api::locks))
        .routes(break_route(read_only))
        .routes(routes!(api::events))
        .routes(routes!(api::elections))
        .routes(routes!(kv_routes::list))
        .routes(routes!(kv_routes::get));
    let mut protected = key_writes(protected, read_only)
        .routes(routes!(kv_routes::history))
        .routes(routes!(kv_routes::diff))
        .routes(routes!(transfer::export))
        .routes(import_route(read_only))
        .routes(copy_route(read_only))
        .routes(routes!(restore::deleted))
        .routes(ops_route(
            read_only,
            routes!(restore::restore),
            routes!(restore::read_only_restore),
        ))
        .routes(ops_route(
            read_only,
            routes!(restore::rollback),
            routes!(restore::read_only_rollback),
        ))
        .routes(routes!(ws::upgrade))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), auth::authenticate));
    if users {
        openapi::require_session(protected.get_openapi_mut());
    }
    let api = OpenApiRouter::new()
        .routes(routes!(api::health))
        .routes(routes!(auth::login))
        .routes(routes!(auth::logout))
        .routes(routes!(openapi::serve))
        .merge(protected)
        .fallback(api::not_found)
        // The framework's own refusals (a body over the limit, a request
        // that is no WebSocket upgrade) in the JSON error body too.
        .layer(axum::middleware::from_fn(error::json_errors))
        // JSON bodies gzipped for clients that accept it: a registry of 5,000
        // services is a 400 KiB list. A snapshot (`application/octet-stream`)
        // goes as etcd sent it: a database file of any size, streamed and
        // hashed as it is, would cost a core to compress.
        .layer(
            CompressionLayer::new()
                .compress_when(DefaultPredicate::new().and(NotForContentType::const_new("application/octet-stream"))),
        );
    let (rest, document) = OpenApiRouter::new()
        .nest("/api/v1", api)
        .routes(routes!(api::metrics))
        .split_for_parts();
    let document = openapi::Document::new(&openapi::finish(document, users));

    // wasm, JS and CSS, with the `.br`/`.gz` files cargo-leptos precompressed
    // served under the matching content-encoding, revalidated on every use:
    // from memory when built in, else from the folder.
    let assets = match &state.config.site {
        Site::BuiltIn(files) => Router::new().fallback(get(assets::built_in)).with_state(*files),
        Site::Folder(root) => {
            let pkg_dir = root.join(&*state.leptos.site_pkg_dir);
            Router::new()
                .fallback_service(ServeDir::new(&pkg_dir).precompressed_br().precompressed_gzip())
                .layer(axum::middleware::from_fn_with_state(
                    Arc::new(pkg_dir),
                    assets::revalidate,
                ))
        }
    };

    let leptos_options = state.leptos.clone();
    let routes = generate_route_list(app::App);
    rest.layer(axum::Extension(document))
        .route("/api", get(api::not_found))
        .route("/api/{*rest}", get(api::not_found))
        .nest_service("/pkg", assets)
        .leptos_routes(&state, routes, {
            let options = leptos_options.clone();
            move || app::shell(options.clone())
        })
        .fallback(not_found(&state.config.site, leptos_options))
        // Outermost last: the client is known to every layer after it, and
        // no handler runs for a host that is not served.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            security::same_origin,
        ))
        .layer(axum::middleware::from_fn_with_state(state.clone(), host::check))
        .layer(axum::middleware::from_fn_with_state(state.clone(), client::identify))
        .layer(axum::middleware::from_fn(security::headers))
        .with_state(state)
}

/// What answers a path no route has: a file of the site's folder when there
/// is one of that name, else the app's "not found" page with status 404. A
/// built-in site has nothing outside `/pkg`, and no folder to look in.
fn not_found(site: &Site, options: LeptosOptions) -> axum::routing::MethodRouter<AppState> {
    match site {
        Site::Folder(_) => axum::routing::any(leptos_axum::file_and_error_handler::<AppState, _>(app::shell)),
        Site::BuiltIn(_) => {
            let render = leptos_axum::render_app_to_stream_with_context(|| (), move || app::shell(options.clone()));
            axum::routing::any(move |request: axum::extract::Request| {
                let render = render.clone();
                async move {
                    let mut response = render(request).await;
                    if response.status() == axum::http::StatusCode::OK {
                        *response.status_mut() = axum::http::StatusCode::NOT_FOUND;
                    }
                    response
                }
            })
        }
    }
}

/// `DELETE` of a lease revokes it; under `--read-only` the route refuses,
/// whoever asks.
fn revoke_route(read_only: bool) -> utoipa_axum::router::UtoipaMethodRouter<AppState> {
    if read_only {
        routes!(lease_actions::read_only_revoke)
    } else {
        routes!(lease_actions::revoke_lease)
    }
}

/// `POST` breaks a lock; under `--read-only` the route refuses, whoever asks.
fn break_route(read_only: bool) -> utoipa_axum::router::UtoipaMethodRouter<AppState> {
    if read_only {
        routes!(lease_actions::read_only_break)
    } else {
        routes!(lease_actions::break_lock)
    }
}

/// A maintenance action, or its refusal under `--read-only`, whoever asks.
fn ops_route(
    read_only: bool,
    action: utoipa_axum::router::UtoipaMethodRouter<AppState>,
    refusal: utoipa_axum::router::UtoipaMethodRouter<AppState>,
) -> utoipa_axum::router::UtoipaMethodRouter<AppState> {
    if read_only {
        refusal
    } else {
        action
    }
}

/// `PUT` and `DELETE` of a key change it by compare-and-swap; under
/// `--read-only` both refuse, whoever asks. Only `PUT` takes a body as large
/// as etcd's largest value.
fn key_writes(router: OpenApiRouter<AppState>, read_only: bool) -> OpenApiRouter<AppState> {
    if read_only {
        router
            .routes(routes!(kv_routes::read_only_put))
            .routes(routes!(kv_routes::read_only_delete))
    } else {
        router
            .routes(
                routes!(kv_routes::put)
                    .map(|put| put.layer(axum::extract::DefaultBodyLimit::max(kv_routes::MAX_PUT_BODY))),
            )
            .routes(routes!(kv_routes::delete))
    }
}

/// `POST /api/v1/import` spools a document of up to
/// [`transfer::MAX_IMPORT_BODY`] itself; under `--read-only` the route
/// refuses, whoever asks.
fn import_route(read_only: bool) -> utoipa_axum::router::UtoipaMethodRouter<AppState> {
    if read_only {
        routes!(transfer::read_only_import)
    } else {
        routes!(transfer::import).map(|import| import.layer(axum::extract::DefaultBodyLimit::disable()))
    }
}

/// `POST /api/v1/copy`; under `--read-only` the route refuses, whoever asks.
fn copy_route(read_only: bool) -> utoipa_axum::router::UtoipaMethodRouter<AppState> {
    if read_only {
        routes!(transfer::read_only_copy)
    } else {
        routes!(transfer::copy)
    }
}
