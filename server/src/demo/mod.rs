//! The demo workload (`leasehold demo`, and `leasehold dev` unless
//! `--no-demo`): what an etcd used as a service registry looks like when it is
//! busy, so the dashboard has something to show.
//!
//! - [`catalog`]: the services, spread over every registry layout, and the key
//!   and value each framework writes for one instance.
//! - [`fleet`]: instances that register under their own lease, keep it alive
//!   every third of its TTL, and come and go: clean deregistrations, and
//!   crashes whose leases expire.
//! - [`coordination`]: contenders taking turns on three locks through etcd's
//!   Lock API, and the candidates of one election whose leader resigns now and
//!   then.
//! - [`settings`]: configuration in JSON, YAML, TOML, text and binary, part
//!   of it rewritten now and then, deleted when the demo stops.
//! - [`clients`]: real client libraries as processes of their own, when
//!   they are installed: a Moleculer node and a tooz group.
//! - [`lease_session`]: a lease with its keep-alive, the record of every lease the
//!   demo holds (so that stopping revokes them all), and backoff.
//!
//! Nothing here gives up on an etcd error: it is logged and retried with
//! backoff, so an etcd outage pauses the demo and never ends it.

pub mod catalog;
mod clients;
mod coordination;
mod fleet;
mod lease_session;
mod settings;

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use etcd_client::Client;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::config::{DemoArgs, DemoConfig};
use crate::etcd;
use lease_session::{Backoff, Leases};

pub use coordination::{ELECTION, LOCKS};
pub use settings::SETTINGS_PREFIX;

/// How stopping went wrong.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{count} demo leases were not revoked (they expire on their own within their TTL): {last}")]
    Unrevoked { count: usize, last: String },
}

/// `leasehold demo`: runs against `--etcd` until Ctrl-C or SIGTERM.
pub async fn run(args: DemoArgs) -> Result<(), Error> {
    let config = DemoConfig::new(args.etcd.endpoints, &args.demo);
    run_until(config, crate::shutdown_signal()).await
}

/// Runs the demo until `shutdown` completes, then stops every keep-alive and
/// revokes every lease it granted, so that nothing it wrote is left behind.
pub async fn run_until(config: DemoConfig, shutdown: impl Future<Output = ()>) -> Result<(), Error> {
    let mut shutdown = std::pin::pin!(shutdown);
    tracing::info!(
        endpoints = ?config.etcd.endpoints,
        services = config.services,
        churn_per_minute = config.churn_per_minute,
        "demo workload starting"
    );
    let options = etcd::blocking_call_options(&config.etcd);
    // Connecting is lazy and fails only on a malformed endpoint; still, never give up.
    let mut backoff = Backoff::new(Duration::from_secs(10));
    let client = loop {
        tokio::select! {
            () = &mut shutdown => return Ok(()),
            connected = Client::connect(&config.etcd.endpoints, Some(options.clone())) => match connected {
                Ok(client) => break client,
                Err(error) => tracing::warn!(%error, "demo: cannot create an etcd client; retrying"),
            },
        }
        tokio::select! {
            () = &mut shutdown => return Ok(()),
            () = tokio::time::sleep(backoff.next_pause()) => {}
        }
    };

    let stop = CancellationToken::new();
    let ctx = Ctx {
        client,
        config: Arc::new(config),
        stop: stop.clone(),
        leases: Leases::default(),
        link: Arc::default(),
        stats: Arc::default(),
    };
    let mut tasks = JoinSet::new();
    tasks.spawn(fleet::run(ctx.clone()));
    tasks.spawn(settings::run(ctx.clone()));
    coordination::spawn(&ctx, &mut tasks);
    if let (Some(dir), Some(endpoint)) = (&ctx.config.clients, ctx.config.etcd.endpoints.first()) {
        let endpoint = if endpoint.contains("://") {
            endpoint.clone()
        } else {
            format!("http://{endpoint}")
        };
        clients::spawn(dir, &endpoint, &stop, &mut tasks);
    }

    shutdown.await;
    stop.cancel();
    // Each task stops its keep-alives before it returns.
    while let Some(joined) = tasks.join_next().await {
        if let Err(error) = joined {
            tracing::error!(%error, "a demo task did not stop cleanly");
        }
    }
    let result = ctx.leases.revoke_all(&ctx).await;
    ctx.stats.log(result.as_ref().map_or(0, |revoked| *revoked));
    result.map(|_| ())
}

/// What every demo task shares.
#[derive(Clone)]
struct Ctx {
    /// Without a per-request timeout: `Lock` and `Campaign` block until they
    /// succeed. Unary calls go through [`Ctx::call`], which bounds them.
    client: Client,
    config: Arc<DemoConfig>,
    /// Cancelled when the demo stops.
    stop: CancellationToken,
    leases: Leases,
    link: Arc<Link>,
    stats: Arc<Stats>,
}

impl Ctx {
    /// The TTL the demo's leases are granted with, in whole seconds.
    fn ttl_seconds(&self) -> i64 {
        let ttl = self.config.ttl;
        let seconds = ttl.as_secs() + u64::from(ttl.subsec_nanos() > 0);
        i64::try_from(seconds.max(1)).unwrap_or(i64::MAX)
    }

    /// How often a lease is kept alive: every third of its TTL, as the
    /// frameworks' etcd clients do.
    fn keepalive_every(&self) -> Duration {
        Duration::from_secs(self.ttl_seconds().unsigned_abs()) / 3
    }

    /// Runs one bounded etcd call, noting whether etcd answered.
    async fn call<T, E: Into<etcd::Error>>(
        &self,
        what: &'static str,
        fut: impl Future<Output = Result<T, E>>,
    ) -> Result<T, etcd::Error> {
        let result = etcd::with_timeout(self.config.etcd.request_timeout, fut).await;
        self.noted(what, result)
    }

    /// Notes how a call ended; `what` names it in the log.
    fn noted<T>(&self, what: &'static str, result: Result<T, etcd::Error>) -> Result<T, etcd::Error> {
        match &result {
            Ok(_) => self.link.answered(),
            Err(error) => self.link.failed(what, error),
        }
        result
    }
}

/// Whether etcd has been answering, so that an outage is logged once when it
/// starts and once when it ends, not once per instance and retry.
#[derive(Default)]
struct Link {
    failing: AtomicBool,
}

impl Link {
    fn answered(&self) {
        if self.failing.swap(false, Ordering::Relaxed) {
            tracing::info!("demo: etcd answers again");
        }
    }

    fn failed(&self, what: &'static str, error: &etcd::Error) {
        if self.failing.swap(true, Ordering::Relaxed) {
            tracing::debug!(what, error = %error.summary(), "demo: etcd call failed");
        } else {
            tracing::warn!(what, error = %error.summary(), "demo: etcd call failed; retrying with backoff");
        }
    }
}

/// What the demo did, for the line it logs when it stops.
#[derive(Default)]
struct Stats {
    registered: AtomicU64,
    deregistered: AtomicU64,
    crashed: AtomicU64,
    /// Leases etcd expired under a live instance or contender (an outage
    /// longer than the TTL): it registers again.
    lost: AtomicU64,
    lock_turns: AtomicU64,
    leader_terms: AtomicU64,
}

impl Stats {
    fn add(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn log(&self, revoked: usize) {
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        tracing::info!(
            registered = get(&self.registered),
            deregistered = get(&self.deregistered),
            crashed = get(&self.crashed),
            leases_lost = get(&self.lost),
            lock_turns = get(&self.lock_turns),
            leader_terms = get(&self.leader_terms),
            leases_revoked = revoked,
            "demo workload stopped"
        );
    }
}

/// `d` scaled by a random factor in `[1 - spread, 1 + spread]`.
fn around(d: Duration, spread: f64) -> Duration {
    let factor = 1.0 + spread * (rand::random::<f64>() * 2.0 - 1.0);
    d.mul_f64(factor.max(0.0))
}

/// Sleeps `d`; false if `until` was cancelled first.
async fn pause(until: &CancellationToken, d: Duration) -> bool {
    tokio::select! {
        () = until.cancelled() => false,
        () = tokio::time::sleep(d) => true,
    }
}
