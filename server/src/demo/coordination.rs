//! Lock contention and an election, through etcd's own Lock and Election
//! APIs (what `etcdctl lock` and `etcdctl elect` use): each contender holds a
//! lease of its own, so its key is `<name>/<lease id in hex>`.

use std::time::Duration;

use etcd_client::{LockOptions, ResignOptions};
use rand::Rng;
use tokio::task::JoinSet;

use super::lease_session::{Backoff, LeaseSession};
use super::{around, Ctx, Stats};

/// The demo's locks and the workers that take turns on them.
pub const LOCKS: [&str; 3] = [
    "locks/billing-reconcile",
    "locks/schema-migration",
    "locks/nightly-report",
];

/// The demo's election.
pub const ELECTION: &str = "elections/scheduler-leader";

const CANDIDATES: usize = 3;

/// Starts between 2 and 5 contenders on each lock and the election's candidates.
pub fn spawn(ctx: &Ctx, tasks: &mut JoinSet<()>) {
    for lock in LOCKS {
        let contenders = rand::rng().random_range(2..=5);
        let job = lock.rsplit('/').next().unwrap_or(lock);
        for n in 1..=contenders {
            tasks.spawn(contend(ctx.clone(), lock, format!("{job}-worker-{n}")));
        }
    }
    for n in 0..CANDIDATES {
        let proposal = format!(
            "scheduler-{n} (10.30.{}.{}:7070)",
            n + 1,
            rand::rng().random_range(2..=254)
        );
        tasks.spawn(campaign(ctx.clone(), ELECTION, proposal));
    }
}

/// Sleeps `d`; false if the demo stops or the session's lease is lost first.
async fn hold(ctx: &Ctx, session: &LeaseSession, d: Duration) -> bool {
    tokio::select! {
        () = ctx.stop.cancelled() => false,
        () = session.lost() => false,
        () = tokio::time::sleep(d) => true,
    }
}

/// A worker that takes `lock`, holds it for a while, unlocks and queues again.
async fn contend(ctx: Ctx, lock: &'static str, worker: String) {
    while let Some(session) = LeaseSession::open(&ctx, &ctx.stop).await {
        take_turns(&ctx, lock, &worker, &session).await;
        if ctx.stop.is_cancelled() {
            return session.close().await;
        }
        // The lease expired (an outage longer than its TTL): start over with a new one.
        Stats::add(&ctx.stats.lost);
    }
}

async fn take_turns(ctx: &Ctx, lock: &'static str, worker: &str, session: &LeaseSession) {
    let mut backoff = Backoff::new(Duration::from_secs(5));
    let mut locks = ctx.client.lock_client();
    loop {
        // Blocks until this worker holds the lock: no timeout of ours.
        let options = LockOptions::new().with_lease(session.id());
        let acquired = tokio::select! {
            () = ctx.stop.cancelled() => return,
            () = session.lost() => return,
            acquired = locks.lock(lock, Some(options)) => ctx.noted("take a lock", acquired.map_err(Into::into)),
        };
        let Ok(acquired) = acquired else {
            if !backoff.wait(&ctx.stop).await {
                return;
            }
            continue;
        };
        backoff.reset();
        Stats::add(&ctx.stats.lock_turns);
        tracing::debug!(lock, worker, "demo lock taken");
        if !hold(ctx, session, around(ctx.config.lock_hold, 0.5)).await {
            return;
        }
        // If this fails the key stays, and the next Lock on the same lease holds it again.
        let _ = ctx.call("unlock", locks.unlock(acquired.key())).await;
        // Some other work before queueing again.
        if !hold(ctx, session, around(ctx.config.lock_hold / 3, 0.5)).await {
            return;
        }
    }
}

/// A candidate that campaigns, leads for a term, resigns and campaigns again.
async fn campaign(ctx: Ctx, election: &'static str, proposal: String) {
    while let Some(session) = LeaseSession::open(&ctx, &ctx.stop).await {
        lead_terms(&ctx, election, &proposal, &session).await;
        if ctx.stop.is_cancelled() {
            return session.close().await;
        }
        Stats::add(&ctx.stats.lost);
    }
}

async fn lead_terms(ctx: &Ctx, election: &'static str, proposal: &str, session: &LeaseSession) {
    let mut backoff = Backoff::new(Duration::from_secs(5));
    let mut elections = ctx.client.election_client();
    loop {
        // Blocks until this candidate leads.
        let won = tokio::select! {
            () = ctx.stop.cancelled() => return,
            () = session.lost() => return,
            won = elections.campaign(election, proposal, session.id()) => ctx.noted("campaign", won.map_err(Into::into)),
        };
        let Some(leader) = won.ok().and_then(|mut won| won.take_leader()) else {
            if !backoff.wait(&ctx.stop).await {
                return;
            }
            continue;
        };
        backoff.reset();
        Stats::add(&ctx.stats.leader_terms);
        tracing::debug!(election, proposal, "demo candidate leads");
        if !hold(ctx, session, around(ctx.config.leader_term, 1.0 / 3.0)).await {
            return;
        }
        let resign = ResignOptions::new().with_leader(leader);
        let _ = ctx.call("resign", elections.resign(Some(resign))).await;
        // Campaign again after a moment, at the back of the queue.
        if !hold(ctx, session, around(Duration::from_secs(1), 0.5)).await {
            return;
        }
    }
}
