//! The chaos test: random operations and faults, from a seed, against a real
//! etcd; at every quiet point the server's model is compared with etcd's keys
//! at the revision the model shows, entity by entity.
//!
//! What it drives: puts and deletes of small and large values (up to 1.4
//! MiB), range deletes, multi-key transactions across the prefixes and
//! outside them, instances, locks and elections on leases that are granted,
//! kept alive, left to expire and revoked, compactions; and faults: the link
//! cut and frozen (a TCP proxy between the server and etcd), etcd killed and
//! restarted, etcd restored from a snapshot to an older revision.
//!
//! What it compares, at the model's revision R: the REST views (services,
//! each service's instances, leases with keys, locks, elections) and a
//! WebSocket client's models built from snapshots and patches (the same
//! topics, and `kv:<prefix>` for every key) with a store built from
//! `etcdctl get --rev R` of each prefix. Times and TTLs are left out: they
//! come from samples, not keys.
//!
//! `LEASEHOLD_CHAOS_SECONDS` sets the length of each run (30 s by default;
//! `make soak SECONDS=3600` runs longer), `LEASEHOLD_CHAOS_SEED` replays a
//! run: a failure prints its seed and the first difference.
//!
//! One file, over the usual size: the operations, the faults and the
//! comparison are one test and share its state.

#![allow(
    clippy::expect_used,
    reason = "test helpers panic with a message when the setup fails"
)]

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine;
use common::{spawn_app_with, start_etcd, Proxy, ProxyMode, TestApp, WsClient};
use etcd_client::{Client, Compare, CompareOp, PutOptions, Txn, TxnOp};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use server::registry::{Classifier, KeyValue, Mirror, Writer};

/// Operations between two quiet points.
const OPS_PER_ROUND: usize = 60;
/// How long a quiet point may wait for the server to catch up with etcd.
const SETTLE: Duration = Duration::from_secs(90);
/// The faults of the first rounds (see `Chaos::fault`): a backup, a cut, a
/// freeze, a restart, a restore.
const PLANNED: [u32; 5] = [10, 0, 2, 3, 4];
/// The largest value written (etcd refuses requests over 1.5 MiB).
const LARGE: usize = 1_400_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_prefix_stays_exact_under_random_operations_and_faults() {
    Chaos::run(vec!["/chaos/a/".to_owned()]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_prefixes_stay_exact_under_random_operations_and_faults() {
    // `/chaos/ab/` lies between the two prefixes: watched over, never shown.
    Chaos::run(vec!["/chaos/a/".to_owned(), "/chaos/b/".to_owned()]).await;
}

/// What one run did, for its report.
#[derive(Debug, Default)]
struct Tally {
    operations: usize,
    failed_operations: usize,
    large_values: usize,
    transactions: usize,
    leases: usize,
    revokes: usize,
    compactions: usize,
    cuts: usize,
    freezes: usize,
    restarts: usize,
    restores: usize,
    checks: usize,
    /// Keys and entities compared, summed over the checks: a run that
    /// compared empty models proves nothing.
    compared_keys: usize,
    compared_entities: usize,
}

struct Chaos {
    seed: u64,
    rng: StdRng,
    prefixes: Vec<String>,
    etcd: common::EtcdProcess,
    proxy: Proxy,
    app: TestApp,
    ws: WsClient,
    models: BTreeMap<String, BTreeMap<String, Value>>,
    client: Client,
    /// Leases this run granted and may still exist.
    leases: Vec<i64>,
    /// A backup taken earlier, to restore etcd to.
    snapshot: Option<std::path::PathBuf>,
    snapshots: tempfile::TempDir,
    tally: Tally,
}

impl Chaos {
    async fn run(prefixes: Vec<String>) {
        let seed = std::env::var("LEASEHOLD_CHAOS_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(rand::random::<u64>);
        let seconds: u64 = std::env::var("LEASEHOLD_CHAOS_SECONDS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(30);
        eprintln!("chaos: seed {seed}, {seconds} s, prefixes {prefixes:?} (LEASEHOLD_CHAOS_SEED={seed} replays it)");

        let etcd = start_etcd().await;
        let proxy = Proxy::start(&etcd).await;
        let mut config = common::config(proxy.endpoint());
        config.prefixes = prefixes.clone();
        config.service_patterns = prefixes
            .iter()
            .map(|p| format!("{p}svc/{{service}}/{{instance}}").parse().expect("pattern"))
            .collect();
        // Short timeouts, so that a frozen link is noticed within the run.
        config.etcd.request_timeout = Duration::from_secs(3);
        config.etcd.keepalive_interval = Duration::from_secs(1);
        config.etcd.keepalive_timeout = Duration::from_secs(2);
        let app = spawn_app_with(config).await;
        app.wait_for_health(200, SETTLE).await;
        let mut ws = app.ws().await;
        let mut topics = vec!["services", "leases", "locks", "elections"]
            .into_iter()
            .map(str::to_owned)
            .collect::<Vec<_>>();
        topics.extend(prefixes.iter().map(|p| format!("kv:{p}")));
        ws.send_json(json!({"type": "subscribe", "topics": topics})).await;
        let client = common::etcd_client(&etcd).await;

        let mut chaos = Chaos {
            seed,
            rng: StdRng::seed_from_u64(seed),
            prefixes,
            etcd,
            proxy,
            app,
            ws,
            models: BTreeMap::new(),
            client,
            leases: Vec::new(),
            snapshot: None,
            snapshots: tempfile::tempdir().expect("temp dir"),
            tally: Tally::default(),
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds);
        chaos.check().await;
        // However short the run, it goes through the planned faults.
        while tokio::time::Instant::now() < deadline || chaos.tally.checks <= PLANNED.len() {
            for _ in 0..OPS_PER_ROUND {
                chaos.operate().await;
            }
            chaos.fault().await;
            chaos.check().await;
        }
        eprintln!("chaos: seed {seed}: {:?}", chaos.tally);
        let t = &chaos.tally;
        assert!(
            t.cuts > 0 && t.freezes > 0 && t.restarts > 0 && t.restores > 0,
            "every kind of fault happened: {t:?}"
        );
        assert!(chaos.tally.checks > 1, "the run compared the model at least twice");
        assert!(
            chaos.tally.compared_keys > 0 && chaos.tally.compared_entities > 0,
            "the run compared keys and entities: {:?}",
            chaos.tally
        );
        chaos.app.shutdown().await;
    }

    fn fail(&self, what: String) -> ! {
        panic!(
            "chaos seed {} (LEASEHOLD_CHAOS_SEED={} replays it): {what}",
            self.seed, self.seed
        );
    }

    fn prefix(&mut self) -> String {
        let i = self.rng.random_range(0..self.prefixes.len());
        self.prefixes[i].clone()
    }

    /// A key outside every prefix; between them when there are several.
    fn outside(&mut self) -> String {
        let n = self.rng.random_range(0..20);
        match self.rng.random_range(0..3) {
            0 => format!("/chaos/ab/{n}"),
            1 => format!("/chaos/{n}"),
            _ => format!("/zz/{n}"),
        }
    }

    fn value(&mut self) -> Vec<u8> {
        match self.rng.random_range(0..100) {
            0..=1 => {
                self.tally.large_values += 1;
                let len = self.rng.random_range(LARGE / 2..=LARGE);
                vec![b'x'; len]
            }
            2..=6 => (0..self.rng.random_range(1..64)).map(|_| self.rng.random()).collect(),
            7..=10 => Vec::new(),
            _ => format!("value-{}", self.rng.random::<u32>()).into_bytes(),
        }
    }

    async fn grant(&mut self) -> Option<i64> {
        let ttl = self.rng.random_range(2..=20);
        let lease = self.client.lease_grant(ttl, None).await.ok()?.id();
        self.tally.leases += 1;
        self.leases.push(lease);
        if self.leases.len() > 200 {
            self.leases.remove(0);
        }
        Some(lease)
    }

    fn some_lease(&mut self) -> Option<i64> {
        if self.leases.is_empty() {
            return None;
        }
        let i = self.rng.random_range(0..self.leases.len());
        Some(self.leases[i])
    }

    /// One random operation; etcd refusing it (a fault, a lease gone) is fine.
    async fn operate(&mut self) {
        self.tally.operations += 1;
        let ok = match self.rng.random_range(0..100) {
            0..=29 => {
                let key = format!("{}cfg/{}", self.prefix(), self.rng.random_range(0..200));
                let value = self.value();
                self.client.put(key, value, None).await.is_ok()
            }
            30..=37 => {
                let key = format!("{}cfg/{}", self.prefix(), self.rng.random_range(0..200));
                self.client.delete(key, None).await.is_ok()
            }
            38 => {
                let key = format!("{}cfg/{}", self.prefix(), self.rng.random_range(0..10));
                let options = etcd_client::DeleteOptions::new().with_prefix();
                self.client.delete(key, Some(options)).await.is_ok()
            }
            39..=50 => {
                let Some(lease) = self.grant().await else {
                    return self.failed();
                };
                let key = format!(
                    "{}svc/svc-{}/i-{}",
                    self.prefix(),
                    self.rng.random_range(0..8),
                    self.rng.random_range(0..40)
                );
                let value = format!("127.0.0.1:{}", self.rng.random_range(1000..9000));
                self.client
                    .put(key, value, Some(PutOptions::new().with_lease(lease)))
                    .await
                    .is_ok()
            }
            51..=54 => {
                let key = format!(
                    "{}svc/svc-{}/i-{}",
                    self.prefix(),
                    self.rng.random_range(0..8),
                    self.rng.random_range(0..40)
                );
                self.client.delete(key, None).await.is_ok()
            }
            55..=62 => match self.some_lease() {
                Some(lease) => match self.client.lease_keep_alive(lease).await {
                    Ok((mut keeper, mut stream)) => keeper.keep_alive().await.is_ok() && stream.message().await.is_ok(),
                    Err(_) => false,
                },
                None => true,
            },
            63..=65 => match self.some_lease() {
                Some(lease) => {
                    self.tally.revokes += 1;
                    self.leases.retain(|l| *l != lease);
                    self.client.lease_revoke(lease).await.is_ok()
                }
                None => true,
            },
            66..=73 => {
                // A lock or an election contender, as etcd's concurrency package writes them.
                let Some(lease) = self.grant().await else {
                    return self.failed();
                };
                let (kind, value) = if self.rng.random_bool(0.6) {
                    ("lock", String::new())
                } else {
                    ("elect", format!("candidate-{}", self.rng.random_range(0..100)))
                };
                let key = format!("{}{kind}/q-{}/{lease:x}", self.prefix(), self.rng.random_range(0..5));
                self.client
                    .put(key, value, Some(PutOptions::new().with_lease(lease)))
                    .await
                    .is_ok()
            }
            74..=85 => self.transaction().await,
            86..=95 => {
                let key = self.outside();
                let value = self.value();
                self.client.put(key, value, None).await.is_ok()
            }
            96..=97 => self.compact().await,
            _ => {
                let key = self.outside();
                self.client.delete(key, None).await.is_ok()
            }
        };
        if !ok {
            self.failed();
        }
        if self.rng.random_bool(0.1) {
            tokio::time::sleep(Duration::from_millis(self.rng.random_range(1..30))).await;
        }
    }

    fn failed(&mut self) {
        self.tally.failed_operations += 1;
    }

    /// Several keys in one revision, across the prefixes and outside them.
    async fn transaction(&mut self) -> bool {
        self.tally.transactions += 1;
        let mut ops = Vec::new();
        for _ in 0..self.rng.random_range(2..8) {
            let key = if self.rng.random_bool(0.8) {
                format!("{}cfg/{}", self.prefix(), self.rng.random_range(0..200))
            } else {
                self.outside()
            };
            if self.rng.random_bool(0.75) {
                let value = format!("txn-{}", self.rng.random::<u32>());
                ops.push(TxnOp::put(key, value, None));
            } else {
                ops.push(TxnOp::delete(key, None));
            }
        }
        // Duplicate keys are refused by etcd; that is a refused operation too.
        let guard = Compare::version(format!("{}cfg/never", self.prefixes[0]), CompareOp::Equal, 0);
        self.client.txn(Txn::new().when([guard]).and_then(ops)).await.is_ok()
    }

    async fn compact(&mut self) -> bool {
        let Ok(now) = self.client.get("/", None).await else {
            return false;
        };
        let revision = now.header().map_or(0, |h| h.revision());
        let back = self.rng.random_range(0..50);
        if revision - back < 2 {
            return true;
        }
        self.tally.compactions += 1;
        self.client.compact(revision - back, None).await.is_ok()
    }

    /// One fault, or none, between rounds of operations. The first rounds
    /// go through every kind once, in an order that lets each matter (a
    /// backup, then a cut with more than gRPC's 4 MiB to catch up, a freeze,
    /// a restart, the backup restored): a run of any seed and length covers
    /// them all; the rest are drawn.
    async fn fault(&mut self) {
        // One check ran before the first round.
        let kind = match PLANNED.get(self.tally.checks.saturating_sub(1)) {
            Some(&kind) => kind,
            None => self.rng.random_range(0..10),
        };
        match kind {
            0..=1 => {
                self.tally.cuts += 1;
                self.proxy.set(ProxyMode::Cut);
                let ops = self.rng.random_range(10..60);
                for _ in 0..ops {
                    self.operate().await;
                }
                if kind == 0 && self.tally.cuts == 1 {
                    // Four large values written while cut off: the catch-up
                    // is one answer over 4 MiB.
                    for i in 0..4 {
                        let key = format!("{}cfg/large-{i}", self.prefix());
                        self.tally.large_values += 1;
                        let _ = self.client.put(key, vec![b'y'; LARGE], None).await;
                    }
                }
                tokio::time::sleep(Duration::from_millis(self.rng.random_range(100..2000))).await;
                self.proxy.set(ProxyMode::Open);
            }
            2 => {
                self.tally.freezes += 1;
                self.proxy.set(ProxyMode::Frozen);
                for _ in 0..self.rng.random_range(10..40) {
                    self.operate().await;
                }
                // Past the watch's hung detection now and then.
                tokio::time::sleep(Duration::from_millis(self.rng.random_range(500..10_000))).await;
                self.proxy.set(ProxyMode::Open);
            }
            3 => {
                self.tally.restarts += 1;
                self.etcd.kill().await.expect("kill etcd");
                tokio::time::sleep(Duration::from_millis(self.rng.random_range(100..1500))).await;
                self.etcd.restart().await.expect("etcd restarts");
                self.reconnect().await;
            }
            4..=5 | 10 => match self.snapshot.take() {
                Some(file) if (kind == 4 && self.tally.restores == 0) || self.rng.random_bool(0.5) => {
                    self.tally.restores += 1;
                    self.etcd.restore_snapshot(&file).await.expect("etcd restored");
                    self.reconnect().await;
                    self.leases.clear();
                }
                _ => {
                    let file = self.snapshots.path().join(format!("{}.db", self.tally.operations));
                    if self.etcd.save_snapshot(&file).await.is_ok() {
                        self.snapshot = Some(file);
                    }
                }
            },
            _ => {}
        }
    }

    async fn reconnect(&mut self) {
        self.client = common::etcd_client(&self.etcd).await;
    }

    /// etcd's revision now.
    async fn etcd_revision(&mut self) -> i64 {
        for _ in 0..100 {
            if let Ok(answer) = self.client.get("/", None).await {
                return answer.header().map_or(0, |h| h.revision());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.fail("etcd does not answer".to_owned());
    }

    /// A quiet point: wait until the server has etcd's revision, then
    /// compare everything it shows with etcd's keys at that revision.
    async fn check(&mut self) {
        let deadline = tokio::time::Instant::now() + SETTLE;
        let mut last = String::new();
        let mut seen = String::new();
        loop {
            if tokio::time::Instant::now() > deadline {
                self.fail(format!(
                    "the model did not settle within {SETTLE:?}; last difference: {last}; {seen}"
                ));
            }
            let target = self.etcd_revision().await;
            let (status, health) = self.app.get("/api/v1/health").await;
            seen = format!("etcd at revision {target}, health {status}: {health}");
            if status != 200 || health["revision"].as_i64().unwrap_or(0) < target {
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
            let revision = health["revision"].as_i64().unwrap_or(0);
            if !self.ws_at(revision).await {
                continue;
            }
            match self.compare(revision).await {
                Ok(()) => {
                    self.tally.checks += 1;
                    return;
                }
                // etcd moved on while reading (a lease expired): again.
                Err(Difference::Moved) => continue,
                Err(Difference::Differs(what)) => {
                    // A difference that lasts is a defect; one that goes away
                    // was read while an update was on its way.
                    if last == what {
                        self.fail(format!("at revision {revision}: {what}"));
                    }
                    last = what;
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
    }

    /// Reads the WebSocket until a pong at `revision` (everything before it
    /// applied); false when the server moved past it meanwhile.
    async fn ws_at(&mut self, revision: i64) -> bool {
        self.ws.send_json(json!({"type": "ping"})).await;
        loop {
            let message = match self.ws.next(SETTLE).await {
                common::Received::Json(message) => message,
                other => self.fail(format!("the WebSocket ended: {other:?}")),
            };
            match message["type"].as_str() {
                Some("pong") => return message["revision"].as_i64() == Some(revision),
                Some("snapshot") => {
                    let topic = message["topic"].as_str().unwrap_or_default().to_owned();
                    let items = items_of(&topic, &message["data"]);
                    self.models.insert(topic, items);
                }
                Some("patch") => {
                    let topic = message["topic"].as_str().unwrap_or_default().to_owned();
                    let model = self.models.entry(topic).or_default();
                    for op in message["ops"].as_array().into_iter().flatten() {
                        let id = op["id"].as_str().unwrap_or_default().to_owned();
                        match op["op"].as_str() {
                            Some("upsert") => {
                                model.insert(id, op["value"].clone());
                            }
                            Some("remove") => {
                                model.remove(&id);
                            }
                            _ => {}
                        }
                    }
                }
                Some("error") => self.fail(format!("the server refused a topic: {message}")),
                _ => {}
            }
        }
    }

    /// The model at `revision` against etcd's keys at `revision`.
    async fn compare(&mut self, revision: i64) -> Result<(), Difference> {
        let mut items = Vec::new();
        let mut raw: BTreeMap<String, BTreeMap<String, Value>> = BTreeMap::new();
        for prefix in self.prefixes.clone() {
            let keys = etcdctl_get(&self.etcd.endpoint(), &prefix, revision).await;
            let Some(keys) = keys else {
                return Err(Difference::Moved);
            };
            let truth_classifier = Classifier::new(Vec::new());
            let store_kv: BTreeMap<String, Value> = keys
                .iter()
                .map(|kv| {
                    let wire = server::registry::to_kv(&truth_classifier, kv);
                    (wire.id(), kv_fields(&serde_json::to_value(&wire).unwrap_or_default()))
                })
                .collect();
            raw.insert(format!("kv:{prefix}"), store_kv);
            items.extend(keys);
        }
        // The WebSocket's key models against etcd's keys.
        for (topic, truth) in &raw {
            let shown: BTreeMap<String, Value> = self
                .models
                .get(topic)
                .map(|m| m.iter().map(|(id, v)| (id.clone(), kv_fields(v))).collect())
                .unwrap_or_default();
            differs(&format!("WebSocket {topic}"), &shown, truth)?;
        }

        // Entities: a store built from etcd's keys at `revision`.
        let patterns = self
            .prefixes
            .iter()
            .map(|p| format!("{p}svc/{{service}}/{{instance}}").parse().expect("pattern"))
            .collect();
        let mut model = Writer::new(
            server::hub::Hub::new(),
            Classifier::new(patterns),
            16,
            Default::default(),
        );
        model.replace_mirror(revision, Mirror::from_list(items), None);
        let truth = model.store();

        let expected_services = by_id(
            &serde_json::to_value(truth.services_body(None)).unwrap_or_default()["services"],
            "name",
        );
        let expected_locks = by_id(
            &serde_json::to_value(truth.locks_body()).unwrap_or_default()["locks"],
            "name",
        );
        let expected_elections = by_id(
            &serde_json::to_value(truth.elections_body()).unwrap_or_default()["elections"],
            "name",
        );
        let expected_leases =
            leases_with_keys(&serde_json::to_value(truth.leases_body()).unwrap_or_default()["leases"]);

        // REST, each body at `revision` or etcd moved on.
        let (_, services) = self.app.get("/api/v1/services").await;
        let (_, locks) = self.app.get("/api/v1/locks").await;
        let (_, elections) = self.app.get("/api/v1/elections").await;
        let (_, leases) = self.app.get("/api/v1/leases").await;
        for body in [&services, &locks, &elections, &leases] {
            if body["revision"].as_i64() != Some(revision) {
                return Err(Difference::Moved);
            }
        }
        differs(
            "REST services",
            &by_id(&services["services"], "name"),
            &expected_services,
        )?;
        differs("REST locks", &by_id(&locks["locks"], "name"), &expected_locks)?;
        differs(
            "REST elections",
            &by_id(&elections["elections"], "name"),
            &expected_elections,
        )?;
        differs("REST leases", &leases_with_keys(&leases["leases"]), &expected_leases)?;
        for name in expected_services.keys() {
            let (status, shown) = self.app.get(&format!("/api/v1/services/{name}")).await;
            if shown["revision"].as_i64() != Some(revision) {
                return Err(Difference::Moved);
            }
            let expected = truth
                .service_body(name)
                .map(|b| serde_json::to_value(b).unwrap_or_default())
                .unwrap_or_default();
            if status != 200 {
                return Err(Difference::Differs(format!("REST service {name}: {status} {shown}")));
            }
            differs(
                &format!("REST service {name}"),
                &by_id(&shown["instances"], "id"),
                &by_id(&expected["instances"], "id"),
            )?;
        }

        // The WebSocket's entity models.
        let ws = |topic: &str| -> BTreeMap<String, Value> {
            self.models
                .get(topic)
                .map(|m| m.iter().map(|(id, v)| (id.clone(), normalized(v))).collect())
                .unwrap_or_default()
        };
        differs("WebSocket services", &ws("services"), &expected_services)?;
        differs("WebSocket locks", &ws("locks"), &expected_locks)?;
        differs("WebSocket elections", &ws("elections"), &expected_elections)?;
        let ws_leases: BTreeMap<String, Value> = ws("leases")
            .into_iter()
            .filter(|(_, lease)| lease["keys"].as_u64().unwrap_or(0) > 0)
            .collect();
        differs("WebSocket leases", &ws_leases, &expected_leases)?;
        self.tally.compared_keys += raw.values().map(BTreeMap::len).sum::<usize>();
        self.tally.compared_entities +=
            expected_services.len() + expected_locks.len() + expected_elections.len() + expected_leases.len();
        Ok(())
    }
}

enum Difference {
    /// etcd or the server moved past the revision being compared.
    Moved,
    Differs(String),
}

/// The first difference between what the server shows and the truth.
fn differs(what: &str, shown: &BTreeMap<String, Value>, truth: &BTreeMap<String, Value>) -> Result<(), Difference> {
    for (id, expected) in truth {
        match shown.get(id) {
            None => {
                return Err(Difference::Differs(format!(
                    "{what}: {id} is missing; etcd has {}",
                    brief(expected)
                )));
            }
            Some(value) if value != expected => {
                return Err(Difference::Differs(format!(
                    "{what}: {id} differs: shown {} but etcd has {}",
                    brief(value),
                    brief(expected)
                )));
            }
            Some(_) => {}
        }
    }
    if let Some((id, value)) = shown.iter().find(|(id, _)| !truth.contains_key(*id)) {
        return Err(Difference::Differs(format!(
            "{what}: {id} is shown ({}) but not in etcd",
            brief(value)
        )));
    }
    Ok(())
}

fn brief(value: &Value) -> String {
    let text = value.to_string();
    if text.len() > 300 {
        format!(
            "{}… ({} bytes)",
            &text[..text.char_indices().nth(300).map_or(text.len(), |(i, _)| i)],
            text.len()
        )
    } else {
        text
    }
}

/// A snapshot's items by id, as the patches name them.
fn items_of(topic: &str, data: &Value) -> BTreeMap<String, Value> {
    match topic {
        "services" => by_id_raw(&data["services"], |v| v["name"].as_str().map(str::to_owned)),
        "locks" => by_id_raw(&data["locks"], |v| v["name"].as_str().map(str::to_owned)),
        "elections" => by_id_raw(&data["elections"], |v| v["name"].as_str().map(str::to_owned)),
        "leases" => by_id_raw(&data["leases"], |v| v["id"].as_str().map(str::to_owned)),
        _ => by_id_raw(&data["items"], |v| {
            let kv: app::model::Kv = serde_json::from_value(v.clone()).ok()?;
            Some(kv.id())
        }),
    }
}

fn by_id_raw(list: &Value, id: impl Fn(&Value) -> Option<String>) -> BTreeMap<String, Value> {
    list.as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| Some((id(v)?, v.clone())))
        .collect()
}

/// Items by `field`, normalized.
fn by_id(list: &Value, field: &str) -> BTreeMap<String, Value> {
    by_id_raw(list, |v| v[field].as_str().map(str::to_owned))
        .into_iter()
        .map(|(id, v)| (id, normalized(&v)))
        .collect()
}

/// Leases that hold keys (the server also lists leases etcd has without
/// keys under the prefixes), normalized.
fn leases_with_keys(list: &Value) -> BTreeMap<String, Value> {
    by_id(list, "id")
        .into_iter()
        .filter(|(_, lease)| lease["keys"].as_u64().unwrap_or(0) > 0)
        .collect()
}

/// A value without what samples and clocks decide: TTLs, times.
fn normalized(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| {
                    !matches!(
                        k.as_str(),
                        "ttl" | "granted_ttl" | "min_ttl" | "sampled_at" | "since" | "stale"
                    ) && !k.ends_with("_at")
                        && !k.ends_with("_since")
                })
                .map(|(k, v)| (k.clone(), normalized(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(normalized).collect()),
        other => other.clone(),
    }
}

/// What a `KV` says of etcd's key (the kind aside: the truth's classifier has no patterns).
fn kv_fields(kv: &Value) -> Value {
    json!({
        "key": kv["key"], "key_base64": kv["key_base64"], "value": kv["value"], "value_base64": kv["value_base64"],
        "create_revision": kv["create_revision"], "mod_revision": kv["mod_revision"],
        "version": kv["version"], "lease": kv["lease"],
    })
}

/// `etcdctl get <prefix> --prefix --rev <revision>`: etcd's keys, or `None`
/// when that revision is compacted away.
async fn etcdctl_get(endpoint: &str, prefix: &str, revision: i64) -> Option<Vec<KeyValue>> {
    let output = tokio::process::Command::new("etcdctl")
        .env("ETCDCTL_API", "3")
        .arg(format!("--endpoints={endpoint}"))
        .args(["get", prefix, "--prefix", "-w", "json"])
        .arg(format!("--rev={revision}"))
        .output()
        .await
        .expect("etcdctl runs");
    if !output.status.success() {
        let error = String::from_utf8_lossy(&output.stderr);
        assert!(
            error.contains("compacted") || error.contains("future"),
            "etcdctl get failed: {error}"
        );
        return None;
    }
    let answer: Value = serde_json::from_slice(&output.stdout).expect("etcdctl's JSON");
    let b64 = base64::engine::general_purpose::STANDARD;
    let keys = answer["kvs"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|kv| KeyValue {
            key: b64.decode(kv["key"].as_str().unwrap_or_default()).expect("base64 key"),
            value: b64
                .decode(kv["value"].as_str().unwrap_or_default())
                .expect("base64 value"),
            create_revision: kv["create_revision"].as_i64().unwrap_or(0),
            mod_revision: kv["mod_revision"].as_i64().unwrap_or(0),
            version: kv["version"].as_i64().unwrap_or(0),
            lease: kv["lease"].as_i64().unwrap_or(0),
        })
        .collect();
    Some(keys)
}
