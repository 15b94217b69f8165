//! HIST: what keeping the history costs. The model holds 100,000 instances
//! in 5,000 services of every layout (P4's registry), every service has
//! changed (so the history follows the most it may and remembers every
//! name), and an hour of 10-second buckets is closed one after the other,
//! as the server's clock would close them. The figure is the CPU a bucket
//! costs, against the 10 seconds it covers; beside it the floor for the
//! same model: the `services` summary every page's list is built from,
//! read once.

use std::time::Instant;

use server::registry::{Classifier, HistoryConfig, KeyValue, KvEvent, Mirror, Writer};

use crate::report::{kib, Report};

const SERVICES: usize = 5_000;
const PER_SERVICE: usize = 20;
/// An hour of 10-second buckets.
const BUCKETS: i64 = 360;

/// A key created at `revision`, without a lease.
fn key_value(key: String, value: String, revision: i64) -> KeyValue {
    KeyValue {
        key: key.into_bytes(),
        value: value.into_bytes(),
        create_revision: revision,
        mod_revision: revision,
        version: 1,
        lease: 0,
    }
}

pub fn run(report: &mut Report) -> anyhow::Result<()> {
    println!(
        "HIST history sampling: {} instances in {SERVICES} services",
        SERVICES * PER_SERVICE
    );
    let mut items = Vec::with_capacity(SERVICES * PER_SERVICE);
    let catalog = server::demo::catalog::services(SERVICES);
    for (i, service) in catalog.iter().enumerate() {
        for j in 0..PER_SERVICE {
            let (key, value) = service.instance().entry((i * PER_SERVICE + j + 1) as i64);
            items.push(key_value(key, value, 1));
        }
    }
    let instances = items.len();
    let mut model = Writer::new(
        server::hub::Hub::new(),
        Classifier::new(Vec::new()),
        10_000,
        HistoryConfig::default(),
    );
    model.replace_mirror(1, Mirror::from_list(items), None);
    let sampler = model.history_sampler();
    let start_ms = 1_800_000_000_000i64;
    sampler.pin_clock(start_ms);
    sampler.tick();
    // One more instance in every service: each changes, the history follows 50.
    let mut revision = 1;
    for (i, service) in catalog.iter().enumerate() {
        revision += 1;
        let (key, value) = service.instance().entry((SERVICES * PER_SERVICE + i + 1) as i64);
        let event = KvEvent::Put(key_value(key, value, revision));
        model.apply_revision(revision, vec![event], &Default::default());
    }

    let store = model.store();
    let floor_began = Instant::now();
    let summaries = store.services_body(None).services.len();
    let floor = floor_began.elapsed();

    let began = Instant::now();
    for i in 1..=BUCKETS {
        sampler.pin_clock(start_ms + i * 10_000);
        sampler.tick();
    }
    let per_bucket = began.elapsed() / BUCKETS as u32;
    let share = per_bucket.as_secs_f64() / 10.0;
    report.goal(
        "HIST",
        format!("closing a 10 s bucket, {instances} instances in {summaries} services (a share of one core)"),
        format!(
            "{:.1} µs per bucket = {:.4}% of a core (floor, the services list read once: {:.1} µs)",
            per_bucket.as_secs_f64() * 1e6,
            share * 100.0,
            floor.as_secs_f64() * 1e6
        ),
        "< 1% of a core",
        share < 0.01,
    );
    let bytes = store.model_gauges(20).history_bytes;
    report.figure(
        "HIST",
        format!("history memory after an hour, {summaries} services changed, 50 followed"),
        kib(bytes as u64),
    );
    Ok(())
}
