//! Leasehold's server: watches etcd, keeps an in-memory model of the registry,
//! and serves it over REST and WebSockets next to the Leptos dashboard.
//!
//! Modules, in the order data flows through them:
//! - [`etcd`]: the connection to etcd, the watcher that mirrors keys
//!   (list-then-watch, resumable by revision) and the cluster poller. Knows
//!   nothing of HTTP or WebSockets.
//! - [`registry`]: the model at a known revision: its one
//!   [`registry::Writer`], which turns every change into entity diffs for
//!   the hub, and its readers, [`registry::Store`].
//! - [`hub`]: the fan-out of those diffs and of the link status to sessions.
//!   Knows nothing of etcd.
//! - [`http`]: REST routes, the WebSocket session, the one error boundary.
//! - [`site`]: the browser's code, built into the binary or a folder.
//! - [`metrics`]: counters for `GET /metrics`.
//! - [`tasks`]: supervision of background tasks, visible in `/api/v1/health`.
//! - [`dev`]: `leasehold dev`, a private etcd child process.
//! - [`transfer`]: `leasehold export` and `leasehold import`.
//! - [`demo`]: `leasehold demo`, a realistic workload to look at: services of
//!   every registry layout coming and going, lock contention, an election.

pub mod auth;
pub mod config;
pub mod demo;
pub mod dev;
pub mod etcd;
pub mod http;
pub mod hub;
pub mod metrics;
pub mod registry;
pub mod site;
pub mod tasks;
pub mod transfer;

use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::auth::AuthMode;
use crate::config::Config;
use crate::http::tls::{ClientAddr, TlsListener};
use crate::http::AppState;
use crate::hub::Hub;
use crate::registry::{Classifier, Writer};
use crate::tasks::Supervisor;

pub use crate::http::router;

/// Why the server stopped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("etcd client: {0}")]
    Etcd(#[from] etcd::Error),
    #[error("serving HTTP: {0}")]
    Serve(#[source] std::io::Error),
    #[error(
        "refusing to listen on {0} with --auth none: anyone who can reach this address could revoke \
         leases. Listen on loopback (127.0.0.1), sign users in with --auth users --users-file FILE, \
         or add --read-only"
    )]
    Exposed(std::net::SocketAddr),
    #[error("cannot open the audit log {path}: {error}")]
    Audit { path: String, error: std::io::Error },
}

/// Runs Leasehold on `listener` until `shutdown` completes.
///
/// Tests bind port 0 and pass the listener in; `main` binds the configured
/// address. Background tasks (watcher, cluster poller) start here, are
/// supervised, and are stopped before this returns.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    // Without a login, only loopback may reach destructive actions.
    let addr = listener.local_addr().map_err(Error::Serve)?;
    let exposed = !addr.ip().is_loopback();
    match config.auth {
        AuthMode::None if exposed && !config.read_only => return Err(Error::Exposed(addr)),
        AuthMode::Users(_) if exposed && config.tls.is_none() => tracing::warn!(
            %addr,
            "passwords and session cookies cross the network in clear text: add --tls-cert and --tls-key"
        ),
        _ => {}
    }

    let stop = CancellationToken::new();
    let hub = Hub::new();
    let model = Writer::new(
        hub.clone(),
        Classifier::new(config.service_patterns.clone()),
        config.event_history,
        config.history,
    );
    let (store, revocations) = (model.store(), model.revocations());
    let audit = http::audit::Audit::open(config.audit_log.as_deref())
        .map_err(|error| Error::Audit {
            path: config
                .audit_log
                .as_deref()
                .unwrap_or(std::path::Path::new(""))
                .display()
                .to_string(),
            error,
        })?
        .with_timeline(model.timeline());
    let tasks = Supervisor::new(stop.clone());
    let config = Arc::new(config);

    let client = etcd::connect(&config.etcd).await?;
    let actions = etcd::Actions::new(client.clone(), config.etcd.request_timeout);
    let poll = Arc::new(tokio::sync::Notify::new());
    let ops = http::ops::Ops::new(
        etcd::Console::new(client.clone(), config.etcd.clone()),
        model.maintenance(),
        poll.clone(),
    );
    let (sampler, history_stop) = (model.history_sampler(), stop.clone());
    tasks.spawn("history", move || {
        let (sampler, stop) = (sampler.clone(), history_stop.clone());
        async move {
            registry::sample_history(sampler, stop).await;
            Ok::<(), std::convert::Infallible>(())
        }
    });
    etcd::spawn_tasks(&tasks, client, model, &config, poll);

    let tls = config.tls.clone();
    let state = AppState::new(
        config,
        (store, revocations),
        hub,
        (actions, ops),
        tasks.clone(),
        stop.clone(),
        audit,
    );
    let app = router(state);

    let serve_stop = stop.clone();
    let shutdown = async move {
        tokio::select! {
            () = shutdown => {}
            () = serve_stop.cancelled() => {}
        }
        // WebSocket sessions watch the same token and close themselves.
        serve_stop.cancel();
    };
    let service = app.into_make_service_with_connect_info::<ClientAddr>();
    let result = match tls {
        Some(tls) => {
            let listener = TlsListener::new(listener, tls).map_err(Error::Serve)?;
            axum::serve(listener, service).with_graceful_shutdown(shutdown).await
        }
        None => axum::serve(listener, service).with_graceful_shutdown(shutdown).await,
    }
    .map_err(Error::Serve);
    stop.cancel();
    tasks.join().await;
    result
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = ctrl_c => tracing::info!("Ctrl-C received, shutting down"),
        () = terminate => tracing::info!("SIGTERM received, shutting down"),
    }
}
