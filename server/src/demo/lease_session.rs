//! A lease and its keep-alive, the way a framework's etcd client holds one;
//! the record of every lease the demo holds; backoff between retries.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures::future::join_all;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::{pause, Ctx, Error};
use crate::etcd;

/// First pause after a failure; it doubles up to the cap.
const FIRST_PAUSE: Duration = Duration::from_millis(200);

/// How long after its TTL an abandoned lease is still revoked when the demo stops.
const ABANDONED_FOR: Duration = Duration::from_secs(60);

/// Capped exponential backoff with jitter.
pub struct Backoff {
    next: Duration,
    cap: Duration,
}

impl Backoff {
    pub fn new(cap: Duration) -> Self {
        Backoff {
            next: FIRST_PAUSE.min(cap),
            cap,
        }
    }

    pub fn reset(&mut self) {
        self.next = FIRST_PAUSE.min(self.cap);
    }

    /// The pause to make now (between half and all of the current step).
    pub fn next_pause(&mut self) -> Duration {
        let pause = super::around(self.next.mul_f64(0.75), 1.0 / 3.0);
        self.next = (self.next * 2).min(self.cap);
        pause
    }

    /// Pauses; false if `until` was cancelled first.
    pub async fn wait(&mut self, until: &CancellationToken) -> bool {
        pause(until, self.next_pause()).await
    }
}

/// Every lease the demo granted and has not seen end, so that stopping can
/// revoke them all. A std Mutex: held only to update the map, never across an await.
#[derive(Clone, Default)]
pub struct Leases(Arc<Mutex<BTreeMap<i64, Option<Instant>>>>);

impl Leases {
    fn with<T>(&self, f: impl FnOnce(&mut BTreeMap<i64, Option<Instant>>) -> T) -> T {
        f(&mut self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }

    fn granted(&self, id: i64) {
        let now = Instant::now();
        self.with(|leases| {
            // Abandoned leases are gone from etcd by their deadline; forget them.
            leases.retain(|_, gone_by| gone_by.is_none_or(|at| at > now));
            leases.insert(id, None);
        });
    }

    fn ended(&self, id: i64) {
        self.with(|leases| leases.remove(&id));
    }

    /// No more keep-alives: etcd expires the lease within `ttl`. It stays
    /// recorded for a good while longer, so that stopping revokes it should
    /// etcd be slow to (keys left behind by the demo would outlive it).
    fn abandoned(&self, id: i64, ttl: Duration) {
        let gone_by = Instant::now() + ttl + ABANDONED_FOR;
        self.with(|leases| leases.insert(id, Some(gone_by)));
    }

    /// Revokes every lease still known (abandoned ones too, so that their keys
    /// go now rather than at expiry); returns how many were revoked.
    pub async fn revoke_all(&self, ctx: &Ctx) -> Result<usize, Error> {
        let ids: Vec<i64> = self.with(|leases| std::mem::take(leases).into_keys().collect());
        let revokes = ids.iter().map(|&id| async move {
            let mut leases = ctx.client.lease_client();
            let result = etcd::with_timeout(ctx.config.etcd.request_timeout, leases.revoke(id)).await;
            (id, result)
        });
        let mut revoked = 0;
        let mut failed = Vec::new();
        for (id, result) in join_all(revokes).await {
            match result {
                Ok(_) => revoked += 1,
                Err(error) if not_found(&error) => {}
                Err(error) => failed.push((id, error.summary())),
            }
        }
        match failed.pop() {
            None => Ok(revoked),
            Some((id, error)) => Err(Error::Unrevoked {
                count: failed.len() + 1,
                last: format!("lease {id:x}: {error}"),
            }),
        }
    }
}

/// etcd no longer knows the lease: it expired or was revoked already.
fn not_found(error: &etcd::Error) -> bool {
    matches!(error, etcd::Error::Client(etcd_client::Error::GRpcStatus(status)) if status.code() == tonic::Code::NotFound)
}

/// A lease kept alive by a background task until the session is closed,
/// revoked or abandoned (or dropped, which stops the keep-alives).
pub struct LeaseSession {
    id: i64,
    /// Cancelled when etcd says the lease is gone.
    lost: CancellationToken,
    /// Cancelled to stop the keep-alives; a child of the demo's stop token.
    halt: CancellationToken,
    keeper: Option<JoinHandle<()>>,
}

impl LeaseSession {
    /// Grants a lease and starts keeping it alive; retries until etcd grants
    /// one, or returns `None` once `until` is cancelled.
    pub async fn open(ctx: &Ctx, until: &CancellationToken) -> Option<LeaseSession> {
        let mut backoff = Backoff::new(Duration::from_secs(5));
        while !until.is_cancelled() {
            // Not abandoned halfway: a lease etcd granted must be recorded, or
            // stopping would leave it behind.
            let mut leases = ctx.client.lease_client();
            let granted = ctx.call("grant a lease", leases.grant(ctx.ttl_seconds(), None)).await;
            if let Ok(granted) = granted {
                let id = granted.id();
                ctx.leases.granted(id);
                let lost = CancellationToken::new();
                let halt = ctx.stop.child_token();
                let keeper = tokio::spawn(keep_alive(ctx.clone(), id, lost.clone(), halt.clone()));
                let session = LeaseSession {
                    id,
                    lost,
                    halt,
                    keeper: Some(keeper),
                };
                if until.is_cancelled() {
                    session.revoke(ctx).await;
                    return None;
                }
                return Some(session);
            }
            if !backoff.wait(until).await {
                return None;
            }
        }
        None
    }

    pub fn id(&self) -> i64 {
        self.id
    }

    /// Completes when etcd has said the lease is gone.
    pub async fn lost(&self) {
        self.lost.cancelled().await;
    }

    /// Stops the keep-alives and waits for them to have stopped. The lease
    /// stays recorded: the demo's stop revokes it.
    pub async fn close(mut self) {
        self.halt.cancel();
        if let Some(keeper) = self.keeper.take() {
            if let Err(error) = keeper.await {
                tracing::error!(%error, "a demo keep-alive task did not stop cleanly");
            }
        }
    }

    /// A crash: the keep-alives stop and etcd expires the lease, and deletes
    /// its keys, within the TTL.
    pub async fn abandon(self, ctx: &Ctx) {
        let id = self.id;
        self.close().await;
        ctx.leases.abandoned(id, ctx.config.ttl);
    }

    /// A clean end: stops the keep-alives and revokes the lease.
    pub async fn revoke(self, ctx: &Ctx) {
        let id = self.id;
        self.close().await;
        let mut leases = ctx.client.lease_client();
        match ctx.call("revoke a lease", leases.revoke(id)).await {
            Ok(_) => ctx.leases.ended(id),
            Err(error) if not_found(&error) => ctx.leases.ended(id),
            // Still recorded: the demo's stop tries again, or it expires.
            Err(_) => ctx.leases.abandoned(id, ctx.config.ttl),
        }
    }
}

impl Drop for LeaseSession {
    fn drop(&mut self) {
        self.halt.cancel();
    }
}

/// Sends a keep-alive every third of the TTL and reads etcd's answer, over
/// one stream, opened again when it breaks (as after an etcd restart). Ends
/// when halted, or when etcd says the lease is gone.
async fn keep_alive(ctx: Ctx, id: i64, lost: CancellationToken, halt: CancellationToken) {
    let every = ctx.keepalive_every();
    // A lease survives an outage only if a keep-alive gets through within its TTL.
    let mut backoff = Backoff::new(every.max(Duration::from_millis(200)));
    loop {
        let mut leases = ctx.client.lease_client();
        let opened = tokio::select! {
            () = halt.cancelled() => return,
            opened = ctx.call("open a lease keep-alive stream", leases.keep_alive(id)) => opened,
        };
        if let Ok((mut keeper, mut answers)) = opened {
            loop {
                let round = async {
                    keeper.keep_alive().await?;
                    answers.message().await
                };
                let answer = tokio::select! {
                    () = halt.cancelled() => return,
                    answer = ctx.call("keep a lease alive", round) => answer,
                };
                match answer {
                    Ok(Some(answer)) if answer.ttl() > 0 => backoff.reset(),
                    Ok(Some(_)) => {
                        // etcd answers TTL 0 for a lease it no longer has.
                        tracing::debug!(lease = format_args!("{id:x}"), "demo lease expired");
                        ctx.leases.ended(id);
                        lost.cancel();
                        return;
                    }
                    Ok(None) => {
                        tracing::debug!(lease = format_args!("{id:x}"), "keep-alive stream ended");
                        break;
                    }
                    Err(_) => break,
                }
                if !pause(&halt, every).await {
                    return;
                }
            }
        }
        if !backoff.wait(&halt).await {
            return;
        }
    }
}
