//! The demo's service instances: each registers its key under its own lease
//! and keeps the lease alive; a steady churn brings new instances and takes
//! others away, by a clean deregistration or by a crash that leaves the lease
//! to expire, keeping the total near where it started.

use std::cmp::Ordering;
use std::time::Duration;

use etcd_client::PutOptions;
use rand::seq::IndexedRandom;
use rand::Rng;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::catalog::{self, Instance, Service, MAX_INSTANCES};
use super::lease_session::{Backoff, LeaseSession};
use super::{around, pause, Ctx, Stats};

/// Share of departures that are crashes rather than clean deregistrations.
const CRASH_SHARE: f64 = 0.3;

/// How long a deregistered instance keeps its (now empty) lease before
/// revoking it: the dashboard tells a deletion from an expiry by asking etcd
/// whether the lease still exists, so the delete must come first, visibly.
const REVOKE_AFTER_DELETE: Duration = Duration::from_secs(1);

/// An instance running in its own task, and how to make it leave.
struct Member {
    service: usize,
    leave: CancellationToken,
}

/// Starts the services' instances and runs the churn until the demo stops.
pub async fn run(ctx: Ctx) {
    let services = catalog::services(ctx.config.services);
    let mut members = Vec::new();
    let mut running = JoinSet::new();
    for index in 0..services.len() {
        let count = rand::rng().random_range(1..=MAX_INSTANCES);
        for _ in 0..count {
            members.push(start(&ctx, &services, index, &mut running));
        }
    }
    let target = members.len();
    let every =
        (ctx.config.churn_per_minute > 0.0).then(|| Duration::from_secs_f64(60.0 / ctx.config.churn_per_minute));
    loop {
        let next = every.map_or(Duration::MAX, |every| around(every, 0.5));
        if !pause(&ctx.stop, next).await {
            break;
        }
        churn(&ctx, &services, target, &mut members, &mut running);
        // Reap the tasks of instances that have left.
        while let Some(joined) = running.try_join_next() {
            if let Err(error) = joined {
                tracing::error!(%error, "a demo instance task failed");
            }
        }
    }
    while let Some(joined) = running.join_next().await {
        if let Err(error) = joined {
            tracing::error!(%error, "a demo instance task did not stop cleanly");
        }
    }
}

fn start(ctx: &Ctx, services: &[Service], index: usize, running: &mut JoinSet<()>) -> Member {
    let leave = ctx.stop.child_token();
    running.spawn(live(ctx.clone(), services[index].instance(), leave.clone()));
    Member { service: index, leave }
}

/// One arrival or one departure, whichever brings the total back towards
/// `target`; a coin decides when it is there. Every service keeps at least
/// one instance and at most [`MAX_INSTANCES`].
fn churn(ctx: &Ctx, services: &[Service], target: usize, members: &mut Vec<Member>, running: &mut JoinSet<()>) {
    let mut rng = rand::rng();
    let mut counts = vec![0_usize; services.len()];
    for member in members.iter() {
        counts[member.service] += 1;
    }
    let can_grow: Vec<usize> = (0..services.len()).filter(|&s| counts[s] < MAX_INSTANCES).collect();
    let can_shrink: Vec<usize> = (0..members.len()).filter(|&m| counts[members[m].service] > 1).collect();
    let arrive = match members.len().cmp(&target) {
        Ordering::Less => true,
        Ordering::Greater => false,
        Ordering::Equal => rng.random_bool(0.5),
    };
    if (arrive || can_shrink.is_empty()) && !can_grow.is_empty() {
        if let Some(&service) = can_grow.choose(&mut rng) {
            members.push(start(ctx, services, service, running));
        }
    } else if let Some(&member) = can_shrink.choose(&mut rng) {
        members.swap_remove(member).leave.cancel();
    }
}

/// An instance's life: register under a fresh lease, keep it alive, register
/// again if etcd ever expires it, and leave when told to.
async fn live(ctx: Ctx, instance: Instance, leave: CancellationToken) {
    let service = instance.service.name.clone();
    loop {
        let Some(session) = LeaseSession::open(&ctx, &leave).await else {
            return;
        };
        let (key, value) = instance.entry(session.id());
        let mut backoff = Backoff::new(Duration::from_secs(5));
        loop {
            let mut kv = ctx.client.kv_client();
            let options = PutOptions::new().with_lease(session.id());
            let put = tokio::select! {
                () = leave.cancelled() => return session.close().await,
                () = session.lost() => break,
                put = ctx.call("register an instance", kv.put(key.as_str(), value.as_str(), Some(options))) => put,
            };
            if put.is_ok() {
                Stats::add(&ctx.stats.registered);
                tracing::debug!(%service, %key, "demo instance registered");
                break;
            }
            if !backoff.wait(&leave).await {
                return session.close().await;
            }
        }
        tokio::select! {
            () = leave.cancelled() => {
                if ctx.stop.is_cancelled() {
                    // The demo is stopping: it revokes every lease at once.
                    session.close().await;
                } else {
                    depart(&ctx, session, &key).await;
                }
                return;
            }
            () = session.lost() => {
                Stats::add(&ctx.stats.lost);
                tracing::info!(%service, %key, "demo instance lost its lease; registering again");
            }
        }
    }
}

/// Leaves as instances do: most deregister cleanly, some crash.
async fn depart(ctx: &Ctx, session: LeaseSession, key: &str) {
    if rand::random_bool(CRASH_SHARE) {
        Stats::add(&ctx.stats.crashed);
        tracing::debug!(%key, "demo instance crashes; its lease will expire");
        session.abandon(ctx).await;
        return;
    }
    Stats::add(&ctx.stats.deregistered);
    tracing::debug!(%key, "demo instance deregisters");
    let mut kv = ctx.client.kv_client();
    // If the delete fails, the revoke below removes the key all the same.
    let _ = ctx.call("deregister an instance", kv.delete(key, None)).await;
    if pause(&ctx.stop, REVOKE_AFTER_DELETE).await {
        session.revoke(ctx).await;
    } else {
        session.close().await;
    }
}
