//! The history the server keeps: bounded time series sampled from the
//! model (the `metrics` and `metrics:<service>` topics,
//! `GET /api/v1/metrics-history`), the services that lost instances lately,
//! lock wait and hold times, and the eviction storm.
//!
//! Counts (registrations, deregistrations, expiries) are taken from the
//! timeline's events as the writer records them; gauges (totals, members'
//! db sizes, tracked services' instance counts) are sampled by the
//! [`Sampler`](super::Sampler) when a 10-second bucket closes. Every series
//! has two rings: 10-second buckets for the last hour, 60-second buckets for
//! the last day. Nothing grows with the registry: the global series are a
//! fixed set plus three per member (at most [`MAX_MEMBERS`]), and services'
//! own series are kept for at most `services` of them (`--history-services`),
//! those that changed most recently.

mod ring;
mod storm;

use std::collections::{BTreeMap, HashMap, VecDeque};

use app::model::{
    series_id, Event, EventKind, PatchOp, Series, ServiceLoss, COARSE_POINTS, COARSE_STEP_SECONDS, FINE_POINTS,
    FINE_STEP_SECONDS,
};
pub use ring::Ring;
pub use storm::{StormChange, StormRule, StormWatch};

/// The registry's totals at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub services: usize,
    pub instances: usize,
    pub leases: usize,
    pub locks: usize,
    pub elections: usize,
}

/// One member's figures at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct MemberSample {
    pub name: String,
    pub db_size: Option<i64>,
    pub db_size_in_use: Option<i64>,
    pub raft_index: Option<u64>,
}

/// Members whose series are kept (a cluster has 3 to 7).
pub const MAX_MEMBERS: usize = 16;
/// How long a service's losses count for the overview.
const LOSS_WINDOW_SECONDS: i64 = 15 * 60;
/// Services the overview's losses list names.
const LOSSES_SHOWN: usize = 10;
/// A tracked service that changed within this long is not replaced by another.
const TRACK_FOR_SECONDS: i64 = 3600;
/// Contenders whose wait or hold is being timed, at most.
const TIMED_LOCKS: usize = 100_000;
/// Locks whose own series (longest hold and wait per bucket) are kept.
pub const LOCK_SERIES: usize = 50;

/// How the history is kept.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HistoryConfig {
    /// Services whose own series are kept.
    pub services: usize,
    pub storm: StormRule,
}

impl Default for HistoryConfig {
    fn default() -> Self {
        HistoryConfig {
            services: 50,
            storm: StormRule::default(),
        }
    }
}

/// Whether a series holds a value or a count per bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Gauge,
    Count,
    /// The longest sample in the bucket.
    Max,
}

/// One series at both widths.
#[derive(Debug, Clone)]
struct Track {
    name: &'static str,
    labels: BTreeMap<String, String>,
    kind: Kind,
    fine: Ring,
    coarse: Ring,
}

impl Track {
    fn new(name: &'static str, labels: BTreeMap<String, String>, kind: Kind) -> Self {
        Track {
            name,
            labels,
            kind,
            fine: Ring::new(FINE_STEP_SECONDS, FINE_POINTS),
            coarse: Ring::new(COARSE_STEP_SECONDS, COARSE_POINTS),
        }
    }

    fn record(&mut self, at: i64, value: f64) {
        match self.kind {
            Kind::Gauge => {
                self.fine.set(at, value);
                self.coarse.set(at, value);
            }
            Kind::Count => {
                self.fine.add(at, value);
                self.coarse.add(at, value);
            }
            Kind::Max => {
                self.fine.max(at, value);
                self.coarse.max(at, value);
            }
        }
    }

    fn ring(&self, step: u32) -> &Ring {
        if step == COARSE_STEP_SECONDS {
            &self.coarse
        } else {
            &self.fine
        }
    }

    /// The series at `step`, its buckets before `until` (the open one is not shown).
    fn series(&self, step: u32, until: i64) -> Series {
        let mut points = self.ring(step).points();
        points.retain(|(t, _)| *t < until);
        Series {
            name: self.name.to_owned(),
            labels: self.labels.clone(),
            step_seconds: step,
            points,
        }
    }

    /// The append op of the fine bucket starting at `bucket`, when it has a value.
    fn append(&self, bucket: i64) -> Option<PatchOp> {
        let value = self.fine.value_at(bucket)?;
        let series = Series {
            name: self.name.to_owned(),
            labels: self.labels.clone(),
            step_seconds: FINE_STEP_SECONDS,
            points: vec![(bucket, value)],
        };
        serde_json::value::to_raw_value(&series)
            .ok()
            .map(|value| PatchOp::Append { value })
    }

    fn id(&self) -> String {
        series_id(self.name, &self.labels, FINE_STEP_SECONDS)
    }

    fn heap_bytes(&self) -> usize {
        self.fine.heap_bytes() + self.coarse.heap_bytes()
    }
}

/// A service's own series.
#[derive(Debug, Clone)]
struct ServiceTracks {
    instances: Track,
    registrations: Track,
    deregistrations: Track,
    expiries: Track,
    last_change: i64,
}

impl ServiceTracks {
    fn new(service: &str, now: i64) -> Self {
        let labels = || BTreeMap::from([("service".to_owned(), service.to_owned())]);
        ServiceTracks {
            instances: Track::new("instances", labels(), Kind::Gauge),
            registrations: Track::new("registrations", labels(), Kind::Count),
            deregistrations: Track::new("deregistrations", labels(), Kind::Count),
            expiries: Track::new("expiries", labels(), Kind::Count),
            last_change: now,
        }
    }

    fn all(&self) -> [&Track; 4] {
        [
            &self.instances,
            &self.registrations,
            &self.deregistrations,
            &self.expiries,
        ]
    }
}

/// What a batch of events did to instances (of a service, or of all).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub registered: u64,
    pub deregistered: u64,
    pub expired: u64,
}

/// A lock's own series: the longest hold (completed, or going on when a
/// bucket closes) and the longest wait (ended by taking the lock) of each
/// bucket, in seconds.
#[derive(Debug, Clone)]
struct LockTracks {
    holds: Track,
    waits: Track,
    last_change: i64,
}

impl LockTracks {
    fn new(lock: &str, now: i64) -> Self {
        let labels = || BTreeMap::from([("lock".to_owned(), lock.to_owned())]);
        LockTracks {
            holds: Track::new("lock_hold_seconds", labels(), Kind::Max),
            waits: Track::new("lock_wait_seconds", labels(), Kind::Max),
            last_change: now,
        }
    }
}

/// Lock times the writer's events gave, for `/metrics`' histograms.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LockTimes {
    pub waits: Vec<f64>,
    pub holds: Vec<f64>,
}

/// What the history wants published after a write or a tick.
#[derive(Debug, Default)]
pub struct Published {
    /// Ops for the `metrics` topic.
    pub metrics: Vec<PatchOp>,
    /// Ops per service for `metrics:<service>` topics.
    pub services: Vec<(String, Vec<PatchOp>)>,
    pub storm: Option<StormChange>,
    /// The instances the events registered, deregistered and expired, all
    /// services together: `/metrics`' counters.
    pub counted: Counts,
}

/// The history.
#[derive(Debug)]
pub struct History {
    config: HistoryConfig,
    /// `services`, `instances`, `leases`, `locks`, `elections`, then the counts.
    totals: [Track; 5],
    registrations: Track,
    deregistrations: Track,
    expiries: Track,
    /// Member name -> `db_size`, `db_size_in_use`, `raft_index`.
    members: BTreeMap<String, [Track; 3]>,
    services: HashMap<String, ServiceTracks>,
    /// Services that changed while this server watched, and when last: a
    /// service never in here has had its instance count since the start.
    changed: HashMap<String, i64>,
    /// Per minute: what each service lost and gained, for the last 15 minutes.
    losses: VecDeque<(i64, BTreeMap<String, ServiceLoss>)>,
    shown_losses: Vec<ServiceLoss>,
    /// (lock, key) -> when it began waiting (unix ms).
    waiting: HashMap<(String, String), i64>,
    /// lock -> (holder key, when it took the lock, unix ms).
    holding: HashMap<String, (String, i64)>,
    /// The locks followed, at most [`LOCK_SERIES`].
    locks: HashMap<String, LockTracks>,
    storm: StormWatch,
    /// The first bucket sampled: before it the server did not run.
    started: Option<i64>,
    /// The newest fine bucket closed.
    closed: Option<i64>,
}

impl History {
    pub fn new(config: HistoryConfig) -> Self {
        let gauge = |name| Track::new(name, BTreeMap::new(), Kind::Gauge);
        let count = |name| Track::new(name, BTreeMap::new(), Kind::Count);
        History {
            config,
            totals: [
                gauge("services"),
                gauge("instances"),
                gauge("leases"),
                gauge("locks"),
                gauge("elections"),
            ],
            registrations: count("registrations"),
            deregistrations: count("deregistrations"),
            expiries: count("expiries"),
            members: BTreeMap::new(),
            services: HashMap::new(),
            changed: HashMap::new(),
            losses: VecDeque::new(),
            shown_losses: Vec::new(),
            waiting: HashMap::new(),
            holding: HashMap::new(),
            locks: HashMap::new(),
            storm: StormWatch::new(config.storm),
            started: None,
            closed: None,
        }
    }

    pub fn storm(&self) -> Option<app::model::Storm> {
        self.storm.storm()
    }

    /// Counts what `events` say happened at `now_ms` (unix milliseconds);
    /// `instances(service)` is a service's instance count after them, and
    /// `total` the registry's, asked only when a storm may be on. Returns the
    /// lock times the events completed, and what to publish.
    pub fn observe(
        &mut self,
        events: &[Event],
        now_ms: i64,
        at: &str,
        instances: impl Fn(&str) -> usize,
        total: impl Fn() -> usize,
    ) -> (LockTimes, Published) {
        let now = now_ms.div_euclid(1000);
        let mut batch: BTreeMap<String, Counts> = BTreeMap::new();
        let mut times = LockTimes::default();
        for event in events {
            let service = |e: &Event| e.detail["service"].as_str().map(str::to_owned);
            match event.kind {
                EventKind::InstanceRegistered => {
                    if let Some(s) = service(event) {
                        batch.entry(s).or_default().registered += 1;
                    }
                }
                EventKind::InstanceDeregistered => {
                    if let Some(s) = service(event) {
                        batch.entry(s).or_default().deregistered += 1;
                    }
                }
                EventKind::LeaseExpired | EventKind::LeaseRevoked => {
                    let expired = event.kind == EventKind::LeaseExpired;
                    for s in event.detail["services"].as_array().into_iter().flatten() {
                        if let Some(s) = s.as_str() {
                            let counts = batch.entry(s.to_owned()).or_default();
                            if expired {
                                counts.expired += 1;
                            } else {
                                counts.deregistered += 1;
                            }
                        }
                    }
                }
                EventKind::LockWaiting => {
                    if let Some(key) = event.detail["key"].as_str() {
                        if self.waiting.len() < TIMED_LOCKS {
                            self.waiting.insert((event.subject.clone(), key.to_owned()), now_ms);
                        }
                    }
                }
                EventKind::LockAcquired => {
                    if let Some(key) = event.detail["key"].as_str() {
                        let since = self.waiting.remove(&(event.subject.clone(), key.to_owned()));
                        let wait = since.map_or(0.0, |t| (now_ms - t).max(0) as f64 / 1000.0);
                        times.waits.push(wait);
                        if let Some(tracks) = self.lock_tracks(&event.subject, now) {
                            tracks.waits.record(now, wait);
                            tracks.last_change = now;
                        }
                        if self.holding.len() < TIMED_LOCKS {
                            self.holding.insert(event.subject.clone(), (key.to_owned(), now_ms));
                        }
                    }
                }
                EventKind::LockReleased => {
                    if let Some(key) = event.detail["key"].as_str() {
                        self.waiting.remove(&(event.subject.clone(), key.to_owned()));
                        if self.holding.get(&event.subject).is_some_and(|(k, _)| k == key) {
                            if let Some((_, t)) = self.holding.remove(&event.subject) {
                                let hold = (now_ms - t).max(0) as f64 / 1000.0;
                                times.holds.push(hold);
                                if let Some(tracks) = self.lock_tracks(&event.subject, now) {
                                    tracks.holds.record(now, hold);
                                    tracks.last_change = now;
                                }
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        let mut published = Published::default();
        if batch.is_empty() {
            return (times, published);
        }
        let minute = now.div_euclid(60) * 60;
        if self.losses.back().is_none_or(|(m, _)| *m != minute) {
            self.losses.push_back((minute, BTreeMap::new()));
        }
        let mut expired_now = 0;
        for (service, counts) in &batch {
            published.counted.registered += counts.registered;
            published.counted.deregistered += counts.deregistered;
            published.counted.expired += counts.expired;
            self.registrations.record(now, counts.registered as f64);
            self.deregistrations.record(now, counts.deregistered as f64);
            self.expiries.record(now, counts.expired as f64);
            if let Some((_, minute)) = self.losses.back_mut() {
                let loss = minute.entry(service.clone()).or_insert_with(|| ServiceLoss {
                    service: service.clone(),
                    lost: 0,
                    expired: 0,
                    registered: 0,
                });
                loss.lost += counts.deregistered + counts.expired;
                loss.expired += counts.expired;
                loss.registered += counts.registered;
            }
            if counts.expired > 0 {
                self.storm.expired(now, service, counts.expired);
                expired_now += counts.expired;
            }
            let net = counts.registered as i64 - counts.deregistered as i64 - counts.expired as i64;
            if let Some(tracks) = self.track(service, now, instances(service) as i64 - net) {
                tracks.registrations.record(now, counts.registered as f64);
                tracks.deregistrations.record(now, counts.deregistered as f64);
                tracks.expiries.record(now, counts.expired as f64);
                tracks.last_change = now;
            }
            self.changed.insert(service.clone(), now);
        }
        if expired_now > 0 {
            let was_on = self.storm.is_on();
            published.storm =
                self.storm
                    .evaluate(now, || total() as u64, at)
                    .or_else(|| if was_on { self.storm.grown() } else { None });
        }
        (times, published)
    }

    /// The tracks of `service`, made when there is room: a service takes the
    /// place of the one that changed longest ago, if that was over an hour
    /// ago. A service tracked for the first time that never changed before
    /// has had `before` instances since the history began: its past is that.
    fn track(&mut self, service: &str, now: i64, before: i64) -> Option<&mut ServiceTracks> {
        if !self.services.contains_key(service) {
            if self.services.len() >= self.config.services {
                let oldest = self
                    .services
                    .iter()
                    .min_by_key(|(_, t)| t.last_change)
                    .map(|(name, t)| (name.clone(), t.last_change))?;
                if oldest.1 > now - TRACK_FOR_SECONDS {
                    return None;
                }
                self.services.remove(&oldest.0);
            }
            let mut tracks = ServiceTracks::new(service, now);
            if !self.changed.contains_key(service) {
                self.backfill(&mut tracks, before.max(0) as f64);
            }
            self.services.insert(service.to_owned(), tracks);
        }
        self.services.get_mut(service)
    }

    /// The tracks of `lock`, made when there is room: a lock takes the place
    /// of the one that changed longest ago, if that was over an hour ago.
    fn lock_tracks(&mut self, lock: &str, now: i64) -> Option<&mut LockTracks> {
        if !self.locks.contains_key(lock) {
            if self.locks.len() >= LOCK_SERIES {
                let (oldest, last_change) = self
                    .locks
                    .iter()
                    .min_by_key(|(_, t)| t.last_change)
                    .map(|(name, t)| (name.clone(), t.last_change))?;
                if last_change > now - TRACK_FOR_SECONDS {
                    return None;
                }
                self.locks.remove(&oldest);
            }
            self.locks.insert(lock.to_owned(), LockTracks::new(lock, now));
        }
        self.locks.get_mut(lock)
    }

    /// `lock`'s series at `step`; `None` when the history does not follow it
    /// (it changed hands before this server watched, or more locks did).
    pub fn lock_series(&self, lock: &str, step: u32) -> Option<Vec<Series>> {
        let until = self.open_bucket();
        let tracks = self.locks.get(lock)?;
        Some(vec![tracks.holds.series(step, until), tracks.waits.series(step, until)])
    }

    /// Fills a new service's closed buckets with a constant count and no
    /// changes, from when the history began.
    fn backfill(&self, tracks: &mut ServiceTracks, count: f64) {
        let (Some(started), Some(closed)) = (self.started, self.closed) else {
            return;
        };
        let step = i64::from(FINE_STEP_SECONDS);
        let from = started.max(closed - step * (COARSE_POINTS as i64 * 6));
        let mut bucket = from;
        while bucket <= closed {
            tracks.instances.record(bucket, count);
            for track in [
                &mut tracks.registrations,
                &mut tracks.deregistrations,
                &mut tracks.expiries,
            ] {
                track.record(bucket, 0.0);
            }
            bucket += step;
        }
    }

    /// Closes the fine buckets up to the one before `now`'s: samples the
    /// gauges into it and publishes its points. Nothing when that bucket is
    /// closed already.
    pub fn tick(
        &mut self,
        now_ms: i64,
        at: &str,
        totals: Totals,
        members: &[MemberSample],
        instances: impl Fn(&str) -> usize,
    ) -> Published {
        let now = now_ms.div_euclid(1000);
        let step = i64::from(FINE_STEP_SECONDS);
        let bucket = now.div_euclid(step) * step - step;
        let mut published = Published::default();
        if self.closed.is_some_and(|closed| closed >= bucket) {
            return published;
        }
        self.started.get_or_insert(bucket);
        self.closed = Some(bucket);
        let values = [
            totals.services,
            totals.instances,
            totals.leases,
            totals.locks,
            totals.elections,
        ];
        for (track, value) in self.totals.iter_mut().zip(values) {
            track.record(bucket, value as f64);
        }
        for track in [&mut self.registrations, &mut self.deregistrations, &mut self.expiries] {
            track.record(bucket, 0.0);
        }
        // Members: a series per member named now; a member gone loses its series.
        let names: Vec<&str> = members.iter().take(MAX_MEMBERS).map(|m| m.name.as_str()).collect();
        let gone: Vec<String> = self
            .members
            .keys()
            .filter(|name| !names.contains(&name.as_str()))
            .cloned()
            .collect();
        for name in gone {
            if let Some(tracks) = self.members.remove(&name) {
                for track in &tracks {
                    published.metrics.push(PatchOp::Remove { id: track.id() });
                }
            }
        }
        for member in members.iter().take(MAX_MEMBERS) {
            let tracks = self.members.entry(member.name.clone()).or_insert_with(|| {
                let labels = || BTreeMap::from([("member".to_owned(), member.name.clone())]);
                [
                    Track::new("db_size", labels(), Kind::Gauge),
                    Track::new("db_size_in_use", labels(), Kind::Gauge),
                    Track::new("raft_index", labels(), Kind::Gauge),
                ]
            });
            let values = [
                member.db_size.map(|v| v as f64),
                member.db_size_in_use.map(|v| v as f64),
                member.raft_index.map(|v| v as f64),
            ];
            for (track, value) in tracks.iter_mut().zip(values) {
                if let Some(value) = value {
                    track.record(bucket, value);
                }
            }
        }
        published
            .metrics
            .extend(self.global().filter_map(|track| track.append(bucket)));
        for (service, tracks) in &mut self.services {
            tracks.instances.record(bucket, instances(service) as f64);
            for track in [
                &mut tracks.registrations,
                &mut tracks.deregistrations,
                &mut tracks.expiries,
            ] {
                track.record(bucket, 0.0);
            }
            let ops: Vec<PatchOp> = tracks.all().iter().filter_map(|t| t.append(bucket)).collect();
            published.services.push((service.clone(), ops));
        }
        // A hold going on counts in every bucket it spans, as long as it is.
        for (lock, tracks) in &mut self.locks {
            if let Some((_, since)) = self.holding.get(lock) {
                tracks.holds.record(bucket, (now_ms - since).max(0) as f64 / 1000.0);
            }
        }
        // The losses of the last 15 minutes, when they changed.
        while self
            .losses
            .front()
            .is_some_and(|(minute, _)| *minute <= now - LOSS_WINDOW_SECONDS)
        {
            self.losses.pop_front();
        }
        let losses = self.losses_now();
        if losses != self.shown_losses {
            if let Ok(value) = serde_json::value::to_raw_value(&losses) {
                published.metrics.push(PatchOp::Upsert {
                    id: "losses".to_owned(),
                    value,
                });
            }
            self.shown_losses = losses;
        }
        // A storm ends when the window no longer holds enough.
        if self.storm.is_on() {
            published.storm = self.storm.evaluate(now, || totals.instances as u64, at);
        }
        published
    }

    /// The global series, in the order the topic lists them.
    fn global(&self) -> impl Iterator<Item = &Track> {
        self.totals
            .iter()
            .chain([&self.registrations, &self.deregistrations, &self.expiries])
            .chain(self.members.values().flat_map(|tracks| tracks.iter()))
    }

    /// The services that lost the most instances in the last 15 minutes.
    fn losses_now(&self) -> Vec<ServiceLoss> {
        let mut all: BTreeMap<&str, ServiceLoss> = BTreeMap::new();
        for (_, minute) in &self.losses {
            for (service, loss) in minute {
                let sum = all.entry(service).or_insert_with(|| ServiceLoss {
                    service: service.clone(),
                    lost: 0,
                    expired: 0,
                    registered: 0,
                });
                sum.lost += loss.lost;
                sum.expired += loss.expired;
                sum.registered += loss.registered;
            }
        }
        let mut all: Vec<ServiceLoss> = all.into_values().filter(|l| l.lost > 0).collect();
        all.sort_by(|a, b| b.lost.cmp(&a.lost).then_with(|| a.service.cmp(&b.service)));
        all.truncate(LOSSES_SHOWN);
        all
    }

    /// The bucket still open: no series shows it.
    fn open_bucket(&self) -> i64 {
        self.closed
            .map_or(i64::MIN, |closed| closed + i64::from(FINE_STEP_SECONDS))
    }

    /// The global series at `step` (10 or 60 seconds) and the losses.
    pub fn global_series(&self, step: u32) -> (Vec<Series>, Vec<ServiceLoss>) {
        let until = self.open_bucket();
        let series = self.global().map(|t| t.series(step, until)).collect();
        (series, self.shown_losses.clone())
    }

    /// `service`'s series at `step`; `None` when the history does not
    /// follow it. A service that never changed while the server watched has
    /// had `count` instances since the history began, and is answered so.
    pub fn service_series(&self, service: &str, step: u32, count: usize) -> Option<Vec<Series>> {
        let until = self.open_bucket();
        if let Some(tracks) = self.services.get(service) {
            return Some(tracks.all().iter().map(|t| t.series(step, until)).collect());
        }
        if self.changed.contains_key(service) {
            return None;
        }
        let mut quiet = ServiceTracks::new(service, 0);
        self.backfill(&mut quiet, count as f64);
        Some(quiet.all().iter().map(|t| t.series(step, until)).collect())
    }

    /// The series a watcher of `metrics:<service>` of a quiet, untracked
    /// service gets as a bucket closes: its count, and no changes.
    pub fn quiet_appends(&self, service: &str, count: usize) -> Option<Vec<PatchOp>> {
        if self.services.contains_key(service) || self.changed.contains_key(service) {
            return None;
        }
        let bucket = self.closed?;
        let mut quiet = ServiceTracks::new(service, 0);
        quiet.instances.record(bucket, count as f64);
        for track in [
            &mut quiet.registrations,
            &mut quiet.deregistrations,
            &mut quiet.expiries,
        ] {
            track.record(bucket, 0.0);
        }
        Some(quiet.all().iter().filter_map(|t| t.append(bucket)).collect())
    }

    /// The bytes the series hold, about (the rings' values; the maps' own
    /// entries are small beside them).
    pub fn heap_bytes(&self) -> usize {
        let global: usize = self.global().map(Track::heap_bytes).sum();
        let services: usize = self
            .services
            .values()
            .map(|t| t.all().iter().map(|t| t.heap_bytes()).sum::<usize>())
            .sum();
        let changed = self.changed.keys().map(|k| k.capacity() + 48).sum::<usize>();
        let locks: usize = self
            .locks
            .values()
            .map(|t| t.holds.heap_bytes() + t.waits.heap_bytes())
            .sum();
        global + services + changed + locks
    }
}

#[cfg(test)]
mod tests;
