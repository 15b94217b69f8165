//! Everything that talks to etcd: the connection, the watcher that mirrors
//! keys into the model (its one [`Writer`]), the lease sampler and the
//! cluster poller. Nothing here knows of HTTP
//! or WebSockets.

mod actions;
mod cluster_poller;
pub mod console;
mod deleted;
mod diff;
mod guarded;
mod key_history;
mod keys;
mod lease_sampler;
mod membership;
mod past;
mod ranges;
pub mod transfer;
mod watcher;

use std::sync::Arc;
use std::time::Duration;

use etcd_client::{Certificate, Client, ConnectOptions, Identity, TlsOptions};

use crate::config::{Config, EtcdConfig};
use crate::registry::Writer;
use crate::tasks::Supervisor;

pub use actions::{ActionError, Actions, LeaseKeys, LeaseNow, Release, Revoked};
pub use cluster_poller::ClusterPoller;
pub use console::Console;
pub use deleted::{Deleted, DeletedKey, DELETED_MAX};
pub use diff::{Diff, DIFF_MAX};
pub use guarded::{
    chunk_sizes, large_last, BulkOutcome, Change, Conflict, Guard, GuardedWrite, OnLease, TXN_MAX_BYTES, TXN_MAX_OPS,
};
pub use key_history::{KeyHistory, Version, HISTORY_MAX, HISTORY_MAX_BYTES};
pub use keys::{KvError, Page, Removal, Swap};
pub use lease_sampler::LeaseSampler;
pub use membership::{broken, Listed};
pub use ranges::prefix_end;
pub use watcher::Watcher;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Client(#[from] etcd_client::Error),
    #[error("etcd did not answer within {0:?}")]
    Timeout(Duration),
    #[error("the watch was cancelled by etcd: {0}")]
    WatchCancelled(String),
    #[error("the watch stream ended")]
    WatchEnded,
    #[error("etcd sent nothing for {0:?}, not even a progress notification")]
    WatchHung(Duration),
    #[error("etcd's revision went back from {ours} to {theirs}: a different or restored cluster")]
    RevisionWentBack { ours: i64, theirs: i64 },
    #[error("etcd's cluster id changed from {ours:x} to {theirs:x}: another cluster behind the same endpoints")]
    ClusterChanged { ours: u64, theirs: u64 },
    #[error(
        "etcd's raft term went back from {ours} to {theirs}: a member restored from a backup, or one that was cut off"
    )]
    TermWentBack { ours: u64, theirs: u64 },
    #[error("etcd compacted its history at revision {0} meanwhile")]
    Compacted(i64),
}

impl Error {
    /// An answer over the gRPC decode limit: asking again the same way
    /// fails the same way.
    pub fn is_too_large(&self) -> bool {
        matches!(self, Error::Client(etcd_client::Error::GRpcStatus(status))
            if status.code() == tonic::Code::OutOfRange && status.message().contains("message length too large"))
    }

    /// A short text for health and logs, free of internals a user cannot act on.
    pub fn summary(&self) -> String {
        let text = match self {
            Error::Client(etcd_client::Error::GRpcStatus(status)) => {
                with_causes(format!("{:?}: {}", status.code(), status.message()), status)
            }
            Error::Client(etcd_client::Error::TransportError(error)) => with_causes(error.to_string(), error),
            other => other.to_string(),
        };
        match tls_hint(&text) {
            Some(hint) => format!("{text} ({hint})"),
            None => text,
        }
    }
}

/// `text`, then each cause of `error` not already in it.
fn with_causes(mut text: String, error: &dyn std::error::Error) -> String {
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text = format!("{text}: {cause_text}");
        }
        source = cause.source();
    }
    text
}

/// What to check when connections to etcd fail without saying why. Over
/// TLS 1.3, etcd refuses a missing client certificate after the handshake,
/// so the client often sees only a closed connection.
pub fn connection_hint(config: &EtcdConfig) -> Option<&'static str> {
    match &config.tls {
        Some(tls) if tls.identity.is_none() => {
            Some("if etcd demands client certificates (--client-cert-auth), give --etcd-cert and --etcd-key")
        }
        _ => None,
    }
}

/// What to do about a TLS failure, in the flags' words.
fn tls_hint(text: &str) -> Option<&'static str> {
    if text.contains("UnknownIssuer") {
        Some("etcd's certificate is not signed by the CA given with --etcd-ca")
    } else if text.contains("NotValidForName") {
        Some("etcd's certificate does not name the host of the endpoint")
    } else if text.contains("CertificateRequired") || text.contains("certificate required") {
        Some("etcd wants a client certificate: give --etcd-cert and --etcd-key")
    } else if text.contains("BadCertificate") || text.contains("bad certificate") {
        Some("etcd refused the client certificate, or wants one: check --etcd-cert and --etcd-key")
    } else if text.contains("InvalidContentType") || text.contains("CorruptMessage") {
        Some("is etcd serving TLS on this endpoint?")
    } else {
        None
    }
}

/// Options shared by every connection Leasehold opens to etcd.
pub fn connect_options(config: &EtcdConfig) -> ConnectOptions {
    blocking_call_options(config).with_timeout(config.request_timeout)
}

/// [`connect_options`] without the per-request timeout, for a client whose
/// calls block by design (etcd's `Lock` and `Campaign` answer only once the
/// caller holds the lock or leads): its callers bound each unary call
/// themselves. Hung connections are still noticed by the gRPC keepalive.
pub fn blocking_call_options(config: &EtcdConfig) -> ConnectOptions {
    let options = match &config.tls {
        Some(tls) => {
            let mut settings = TlsOptions::new().ca_certificate(Certificate::from_pem(&tls.ca_pem));
            if let Some((cert, key)) = &tls.identity {
                settings = settings.identity(Identity::from_pem(cert, key.expose()));
            }
            ConnectOptions::new().with_tls(settings)
        }
        None => ConnectOptions::new(),
    };
    options
        // With a user: a token etcd forgot (it restarted, or the token's TTL
        // ran out) is renewed with the same credentials on the next call.
        .with_auto_token_refresh(true)
        // A member cut off from the others keeps serving watches from its
        // own, stale store; with this etcd closes them ("no leader") and
        // the watcher moves to another endpoint, instead of showing the
        // past as current. Reads are linearizable (etcd-client's default).
        .with_require_leader(true)
        .with_connect_timeout(config.connect_timeout)
        .with_keep_alive(config.keepalive_interval, config.keepalive_timeout)
        .with_keep_alive_while_idle(true)
}

/// Creates the client. It connects lazily: this succeeds while etcd is down,
/// and requests fail (and later recover) on their own.
pub async fn connect(config: &EtcdConfig) -> Result<Client, Error> {
    Ok(Client::connect(&config.endpoints, Some(connect_options(config))).await?)
}

/// Runs `fut` with a deadline, mapping its error into ours.
pub(crate) async fn with_timeout<T, E: Into<Error>>(
    limit: Duration,
    fut: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, Error> {
    match tokio::time::timeout(limit, fut).await {
        Ok(result) => result.map_err(Into::into),
        Err(_) => Err(Error::Timeout(limit)),
    }
}

/// Starts the supervised etcd tasks: the watcher, the cluster poller and the lease sampler.
/// `poll` wakes the cluster poller before its next `--cluster-poll`.
pub fn spawn_tasks(tasks: &Supervisor, client: Client, model: Writer, config: &Config, poll: Arc<tokio::sync::Notify>) {
    let stop = tasks.stop_token();
    if let Some(user) = config.etcd.user.clone() {
        // Logging in is a task of its own, so that an etcd that is down (or a
        // wrong password) shows in health and is retried, instead of keeping
        // the dashboard from starting. The other tasks' requests fail with
        // etcd's "user name is empty" until it succeeds.
        let (client, stop) = (client.clone(), stop.clone());
        tasks.spawn("etcd-login", move || {
            let (mut client, user, stop) = (client.clone(), user.clone(), stop.clone());
            async move {
                let credentials = Some((user.name.clone(), user.password.expose().to_owned()));
                client
                    .update_user(credentials)
                    .await
                    .map_err(|e| format!("etcd login as {:?} failed: {}", user.name, Error::from(e).summary()))?;
                tracing::info!(user = %user.name, "logged in to etcd");
                stop.cancelled().await;
                Ok::<(), String>(())
            }
        });
    }
    let (samples, status) = (model.lease_samples(), model.cluster_status());
    {
        // The writer passes from one run of the watcher to the next: a run
        // that failed has dropped it before the supervisor starts another.
        let model = Arc::new(tokio::sync::Mutex::new(model));
        let (client, stop) = (client.clone(), stop.clone());
        let prefixes: Vec<Vec<u8>> = config.prefixes.iter().map(|p| p.as_bytes().to_vec()).collect();
        let hint = connection_hint(&config.etcd);
        tasks.spawn("watcher", move || {
            let (client, model, prefixes, stop) = (client.clone(), model.clone(), prefixes.clone(), stop.clone());
            async move {
                let model = model.lock_owned().await;
                Watcher::new(client, model, prefixes).with_hint(hint).run(stop).await
            }
        });
    }
    {
        let (client, stop) = (client.clone(), stop.clone());
        let (rate, poll, timeout) = (config.lease_sample_rate, config.lease_poll, config.etcd.request_timeout);
        tasks.spawn("lease-sampler", move || {
            LeaseSampler::new(client.clone(), samples.clone(), rate, poll, timeout).run(stop.clone())
        });
    }
    {
        let etcd = config.etcd.clone();
        let interval = config.cluster_poll;
        tasks.spawn("cluster-poller", move || {
            ClusterPoller::new(client.clone(), etcd.clone(), status.clone(), interval)
                .with_wake(poll.clone())
                .run(stop.clone())
        });
    }
}
