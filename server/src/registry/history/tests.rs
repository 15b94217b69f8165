use serde_json::json;

use super::*;

/// A time 20 s past a whole minute (checked in the first test).
const T0: i64 = 1_700_000_000;

fn event(kind: EventKind, subject: &str, detail: serde_json::Value) -> Event {
    Event {
        revision: 1,
        at: String::new(),
        kind,
        subject: subject.to_owned(),
        detail,
    }
}

fn registered(service: &str) -> Event {
    event(EventKind::InstanceRegistered, "k", json!({ "service": service }))
}

fn expired(services: &[&str]) -> Event {
    event(EventKind::LeaseExpired, "1", json!({ "services": services }))
}

fn totals(instances: usize) -> Totals {
    Totals {
        services: 2,
        instances,
        leases: 3,
        locks: 0,
        elections: 1,
    }
}

fn observe(history: &mut History, events: &[Event], at_s: i64) -> Published {
    history.observe(events, at_s * 1000, "now", |_| 5, || 1000).1
}

fn points(history: &History, name: &str) -> Vec<(i64, f64)> {
    let (series, _) = history.global_series(FINE_STEP_SECONDS);
    series
        .into_iter()
        .find(|s| s.name == name)
        .map(|s| s.points)
        .unwrap_or_default()
}

#[test]
fn counts_and_gauges_land_in_their_buckets_and_show_once_closed() {
    assert_eq!(T0 % 60, 20);
    let start = T0 - 20; // a whole minute
    let mut history = History::new(HistoryConfig::default());
    history.tick(start * 1000, "t", totals(10), &[], |_| 0);
    observe(&mut history, &[registered("a"), registered("b")], start + 1);
    observe(&mut history, &[registered("a")], start + 9);
    observe(&mut history, &[expired(&["a", "a"])], start + 12);
    // The bucket [start, start+10) is still open: nothing of it shows.
    assert_eq!(points(&history, "registrations"), vec![(start - 10, 0.0)]);
    let published = history.tick((start + 10) * 1000 + 300, "t", totals(11), &[], |_| 0);
    assert_eq!(points(&history, "registrations"), vec![(start - 10, 0.0), (start, 3.0)]);
    assert_eq!(points(&history, "instances"), vec![(start - 10, 10.0), (start, 11.0)]);
    // Its points went out as appends, one per series.
    let appended: Vec<String> = published
        .metrics
        .iter()
        .filter_map(|op| match op {
            PatchOp::Append { value } => Some(value.get().to_owned()),
            _ => None,
        })
        .collect();
    assert_eq!(appended.len(), 8, "{appended:?}");
    assert!(appended.contains(&format!(
        r#"{{"name":"registrations","step_seconds":10,"points":[[{start},3.0]]}}"#
    )));
    // A second tick in the same bucket changes nothing.
    let again = history.tick((start + 15) * 1000, "t", totals(99), &[], |_| 0);
    assert!(again.metrics.is_empty());
    history.tick((start + 20) * 1000, "t", totals(9), &[], |_| 0);
    assert_eq!(
        points(&history, "expiries"),
        vec![(start - 10, 0.0), (start, 0.0), (start + 10, 2.0)]
    );
    // The minute's bucket sums the counts and keeps the last gauge.
    let (coarse, _) = history.global_series(COARSE_STEP_SECONDS);
    let of = |name: &str| coarse.iter().find(|s| s.name == name).map(|s| s.points.clone());
    assert_eq!(of("registrations"), Some(vec![(start - 60, 0.0), (start, 3.0)]));
    assert_eq!(of("expiries"), Some(vec![(start - 60, 0.0), (start, 2.0)]));
    assert_eq!(of("instances"), Some(vec![(start - 60, 10.0), (start, 9.0)]));
}

#[test]
fn the_series_are_bounded_whatever_runs() {
    let mut history = History::new(HistoryConfig::default());
    // Two days of 10-second ticks.
    for i in 0..(2 * 24 * 360) {
        let now = T0 + i * 10;
        history.tick(now * 1000, "t", totals(i as usize), &[], |_| 0);
    }
    let (fine, _) = history.global_series(FINE_STEP_SECONDS);
    let (coarse, _) = history.global_series(COARSE_STEP_SECONDS);
    assert!(
        fine.iter().all(|s| s.points.len() == FINE_POINTS),
        "an hour of 10 s buckets"
    );
    assert!(
        coarse.iter().all(|s| s.points.len() <= COARSE_POINTS),
        "a day of minutes"
    );
    assert!(coarse.iter().all(|s| s.points.len() >= COARSE_POINTS - 1));
}

#[test]
fn five_thousand_services_keep_the_history_of_fifty() {
    let mut history = History::new(HistoryConfig::default());
    history.tick(T0 * 1000, "t", totals(0), &[], |_| 0);
    let before = history.heap_bytes();
    for round in 0..3 {
        for s in 0..5000 {
            observe(&mut history, &[registered(&format!("svc-{s}"))], T0 + 1 + round);
        }
    }
    for i in 1..400 {
        history.tick((T0 + i * 10) * 1000, "t", totals(0), &[], |_| 1);
    }
    assert_eq!(history.services.len(), 50);
    let bytes = history.heap_bytes();
    // 50 services x 4 series x (360 + 1440) values x 8 bytes, the global
    // series, and a name per service that changed.
    assert!(bytes < 4 * 1024 * 1024, "{bytes} bytes ({before} before)");
    // A tracked service answers its series; an untracked one that changed
    // says it is not followed.
    assert!(history.service_series("svc-0", FINE_STEP_SECONDS, 1).is_some());
    assert_eq!(history.service_series("svc-4999", FINE_STEP_SECONDS, 1), None);
}

#[test]
fn a_tracked_service_gives_way_only_after_an_hour_of_quiet() {
    let config = HistoryConfig {
        services: 1,
        ..HistoryConfig::default()
    };
    let mut history = History::new(config);
    history.tick(T0 * 1000, "t", totals(0), &[], |_| 0);
    observe(&mut history, &[registered("a")], T0 + 1);
    observe(&mut history, &[registered("b")], T0 + 2);
    assert!(history.services.contains_key("a") && !history.services.contains_key("b"));
    observe(&mut history, &[registered("b")], T0 + 3700);
    assert!(history.services.contains_key("b") && !history.services.contains_key("a"));
}

#[test]
fn a_quiet_service_has_had_its_count_all_along() {
    let mut history = History::new(HistoryConfig::default());
    for i in 0..5 {
        history.tick((T0 + i * 10) * 1000, "t", totals(0), &[], |_| 0);
    }
    let series = history
        .service_series("quiet", FINE_STEP_SECONDS, 7)
        .unwrap_or_default();
    let instances = series.iter().find(|s| s.name == "instances").map(|s| s.points.clone());
    let first = T0 / 10 * 10 - 10;
    assert_eq!(instances, Some((0..5).map(|i| (first + i * 10, 7.0)).collect()));
    // Its first change starts its own series from that count.
    history.observe(&[registered("quiet")], (T0 + 45) * 1000, "t", |_| 8, || 8);
    history.tick((T0 + 50) * 1000, "t", totals(0), &[], |_| 8);
    let series = history
        .service_series("quiet", FINE_STEP_SECONDS, 8)
        .unwrap_or_default();
    let of = |name: &str| {
        series
            .iter()
            .find(|s| s.name == name)
            .map(|s| s.points.clone())
            .unwrap_or_default()
    };
    let instances = of("instances");
    assert_eq!(instances.first().map(|p| p.1), Some(7.0), "{instances:?}");
    assert_eq!(instances.last().map(|p| p.1), Some(8.0), "{instances:?}");
    assert_eq!(of("registrations").iter().map(|p| p.1).sum::<f64>(), 1.0);
}

#[test]
fn losses_name_the_services_that_lost_most_in_fifteen_minutes() {
    let mut history = History::new(HistoryConfig::default());
    history.tick(T0 * 1000, "t", totals(0), &[], |_| 0);
    observe(&mut history, &[expired(&["pay", "pay", "cart"])], T0 + 1);
    observe(
        &mut history,
        &[event(
            EventKind::InstanceDeregistered,
            "k",
            json!({ "service": "cart" }),
        )],
        T0 + 2,
    );
    observe(&mut history, &[registered("pay")], T0 + 3);
    let published = history.tick((T0 + 10) * 1000, "t", totals(0), &[], |_| 0);
    assert!(published
        .metrics
        .iter()
        .any(|op| matches!(op, PatchOp::Upsert { id, .. } if id == "losses")));
    let (_, losses) = history.global_series(FINE_STEP_SECONDS);
    let loss = |service: &str, lost, expired, registered| ServiceLoss {
        service: service.to_owned(),
        lost,
        expired,
        registered,
    };
    assert_eq!(losses, vec![loss("cart", 2, 1, 0), loss("pay", 2, 2, 1)]);
    // Sixteen minutes later they are forgotten.
    history.tick((T0 + 16 * 60) * 1000, "t", totals(0), &[], |_| 0);
    assert!(history.global_series(FINE_STEP_SECONDS).1.is_empty());
}

#[test]
fn members_have_series_while_they_are_members() {
    let mut history = History::new(HistoryConfig::default());
    let member = |name: &str, size| MemberSample {
        name: name.to_owned(),
        db_size: Some(size),
        db_size_in_use: Some(size / 2),
        raft_index: Some(7),
    };
    history.tick(
        T0 * 1000,
        "t",
        totals(0),
        &[member("m1", 100), member("m2", 200)],
        |_| 0,
    );
    let published = history.tick((T0 + 10) * 1000, "t", totals(0), &[member("m1", 300)], |_| 0);
    let removed: Vec<&str> = published
        .metrics
        .iter()
        .filter_map(|op| match op {
            PatchOp::Remove { id } => Some(id.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(
        removed,
        [
            "db_size{member=m2}/10",
            "db_size_in_use{member=m2}/10",
            "raft_index{member=m2}/10"
        ]
    );
    let (series, _) = history.global_series(FINE_STEP_SECONDS);
    let db = series.iter().find(|s| s.name == "db_size").map(|s| s.points.clone());
    let first = T0 / 10 * 10 - 10;
    assert_eq!(db, Some(vec![(first, 100.0), (first + 10, 300.0)]));
}

#[test]
fn lock_waits_and_holds_are_timed_from_the_events() {
    let mut history = History::new(HistoryConfig::default());
    let lock = |kind, key: &str| event(kind, "/locks/x", json!({ "key": key }));
    let at = |ms: i64, events: &[Event], h: &mut History| h.observe(events, ms, "t", |_| 0, || 0).0;
    assert_eq!(
        at(1_000, &[lock(EventKind::LockAcquired, "a")], &mut history).waits,
        vec![0.0]
    );
    at(1_500, &[lock(EventKind::LockWaiting, "b")], &mut history);
    let times = at(
        4_000,
        &[lock(EventKind::LockReleased, "a"), lock(EventKind::LockAcquired, "b")],
        &mut history,
    );
    assert_eq!(
        times,
        LockTimes {
            waits: vec![2.5],
            holds: vec![3.0]
        }
    );
    // A waiter that gives up is forgotten.
    at(5_000, &[lock(EventKind::LockWaiting, "c")], &mut history);
    at(6_000, &[lock(EventKind::LockReleased, "c")], &mut history);
    assert!(history.waiting.is_empty());
}

#[test]
fn a_burst_of_expiries_is_a_storm_until_the_window_passes() {
    let mut history = History::new(HistoryConfig {
        storm: StormRule {
            window_seconds: 30,
            ratio: 0.1,
            min: 20,
        },
        ..HistoryConfig::default()
    });
    history.tick(T0 * 1000, "t", totals(1000), &[], |_| 0);
    let burst: Vec<Event> = (0..200).map(|_| expired(&["pay"])).collect();
    let published = history.observe(&burst, (T0 + 1) * 1000, "since", |_| 0, || 800).1;
    let Some(StormChange::Started(storm)) = published.storm else {
        panic!("{:?}", published.storm);
    };
    assert_eq!(
        (storm.since.as_str(), storm.expired, storm.instances),
        ("since", 200, 1000)
    );
    assert!(history.storm().is_some());
    assert!(history
        .tick((T0 + 20) * 1000, "t", totals(800), &[], |_| 0)
        .storm
        .is_none());
    let ended = history.tick((T0 + 40) * 1000, "t", totals(800), &[], |_| 0).storm;
    assert!(matches!(ended, Some(StormChange::Ended(_))), "{ended:?}");
    assert_eq!(history.storm(), None);
}

/// The writer's history across a relist: what came before stays, and the
/// relist's differences are counted like any other change.
#[test]
fn the_history_survives_a_relist() {
    use crate::registry::{Classifier, KeyValue, KvEvent, Mirror, Writer};

    let instance = |id: usize, revision: i64| KeyValue {
        key: format!("/microservices/pay/p{id}").into_bytes(),
        value: format!(r#"{{"id":"p{id}","name":"pay","endpoints":["grpc://10.0.0.{id}:9000"]}}"#).into_bytes(),
        create_revision: revision,
        mod_revision: revision,
        version: 1,
        lease: 0,
    };
    let mut writer = Writer::new(
        crate::hub::Hub::new(),
        Classifier::new(Vec::new()),
        100,
        HistoryConfig::default(),
    );
    let sampler = writer.history_sampler();
    let at = |seconds: i64| {
        sampler.pin_clock(seconds * 1000);
        sampler.tick();
    };
    sampler.pin_clock(T0 * 1000 - 1000);
    at(T0);
    assert_eq!(
        writer.store().metrics_history(None, FINE_STEP_SECONDS).series[0].points,
        vec![],
        "not listed yet"
    );
    writer.replace_mirror(1, Mirror::from_list([instance(1, 1), instance(2, 1)]), None);
    at(T0 + 10);
    writer.apply_revision(
        2,
        vec![KvEvent::Put(instance(3, 2))],
        &std::collections::BTreeMap::new(),
    );
    at(T0 + 20);
    // Lost, then listed again: p2 went and p4 came meanwhile.
    writer.replace_mirror(
        9,
        Mirror::from_list([instance(1, 1), instance(3, 2), instance(4, 8)]),
        None,
    );
    at(T0 + 30);

    let body = writer.store().metrics_history(None, FINE_STEP_SECONDS);
    let of = |name: &str| {
        body.series
            .iter()
            .find(|s| s.name == name && s.labels.is_empty())
            .map(|s| s.points.iter().map(|p| p.1).collect::<Vec<_>>())
            .unwrap_or_default()
    };
    assert_eq!(of("instances"), vec![2.0, 3.0, 3.0]);
    assert_eq!(
        of("registrations"),
        vec![0.0, 1.0, 1.0],
        "the first list is no registration"
    );
    assert_eq!(of("deregistrations"), vec![0.0, 0.0, 1.0]);
    let pay = writer.store().metrics_history(Some("pay"), FINE_STEP_SECONDS);
    let instances = pay
        .series
        .iter()
        .find(|s| s.name == "instances")
        .map(|s| s.points.clone());
    let first = T0 / 10 * 10;
    assert_eq!(
        instances,
        Some(vec![(first, 2.0), (first + 10, 3.0), (first + 20, 3.0)]),
        "{pay:?}"
    );
}

#[test]
fn a_lock_keeps_its_longest_hold_and_wait_per_bucket_and_a_hold_going_on_grows() {
    let start = T0 - 20; // a whole minute
    let mut history = History::new(HistoryConfig::default());
    history.tick(start * 1000, "t", totals(0), &[], |_| 0);
    let lock = |kind, key: &str| event(kind, "jobs", json!({ "key": key }));
    observe(&mut history, &[lock(EventKind::LockAcquired, "a")], start + 1);
    observe(&mut history, &[lock(EventKind::LockWaiting, "b")], start + 2);
    // a holds 4 s; b waited 3 s for it.
    observe(
        &mut history,
        &[lock(EventKind::LockReleased, "a"), lock(EventKind::LockAcquired, "b")],
        start + 5,
    );
    // The first bucket closes with b holding for 5 s: longer than a's 4 s.
    history.tick((start + 10) * 1000, "t", totals(0), &[], |_| 0);
    // b still holds when the bucket of start + 20 closes: 25 s by then.
    history.tick((start + 30) * 1000, "t", totals(0), &[], |_| 0);
    let series = history.lock_series("jobs", FINE_STEP_SECONDS).expect("followed");
    let of = |name: &str| {
        series
            .iter()
            .find(|s| s.name == name)
            .map(|s| s.points.clone())
            .unwrap_or_default()
    };
    assert_eq!(of("lock_wait_seconds"), vec![(start, 3.0)]);
    assert_eq!(of("lock_hold_seconds"), vec![(start, 5.0), (start + 20, 25.0)]);
    assert_eq!(series[0].labels.get("lock").map(String::as_str), Some("jobs"));
    assert!(history.lock_series("other", FINE_STEP_SECONDS).is_none());
}
