//! What a client is sent and in which order: a snapshot then the patches
//! after it, a resume from the hub's history, patches merged while it is
//! busy, and a large snapshot in parts.

use super::*;

#[tokio::test]
async fn a_subscription_gets_a_snapshot_then_the_patches_after_it_in_order() {
    let hub = Hub::new();
    let model = Model::at(10);
    let mut client = connect(&hub, &model, options());
    // Published before the subscription: in the snapshot, never as a patch.
    model.change(&hub, 11, vec![(Topic::Services, vec![upsert("old", 1)])]);
    client.send(json!({"type": "subscribe", "topics": ["services"]}));
    let snapshot = client.next().await;
    assert_eq!(
        (&snapshot["type"], &snapshot["topic"]),
        (&json!("snapshot"), &json!("services"))
    );
    assert_eq!(snapshot["revision"], 11, "{snapshot}");

    for (n, id) in ["a", "b", "c"].into_iter().enumerate() {
        model.change(&hub, 12 + n as Revision, vec![(Topic::Services, vec![upsert(id, n)])]);
    }
    let mut seen = Vec::new();
    let mut last = 11;
    while last < 14 {
        let patch = client.next().await;
        assert_eq!(patch["type"], "patch", "{patch}");
        let revision = patch["revision"].as_i64().unwrap_or(0);
        assert!(revision > last, "revisions go forward: {patch}");
        last = revision;
        seen.extend(ids(&patch).into_iter().map(str::to_owned));
    }
    assert_eq!(seen, ["a", "b", "c"]);
}

#[tokio::test]
async fn a_resume_gets_what_the_history_holds_as_one_patch_and_else_a_snapshot() {
    let hub = Hub::new();
    let model = Model::at(10);
    hub.start_history(10);
    for (n, id) in ["a", "b", "c"].into_iter().enumerate() {
        model.change(&hub, 11 + n as Revision, vec![(Topic::Services, vec![upsert(id, n)])]);
    }

    let mut client = connect(&hub, &model, options());
    client.send(json!({"type": "subscribe", "topics": ["services"], "since": 11}));
    let patch = client.next().await;
    assert_eq!(
        (&patch["type"], &patch["revision"]),
        (&json!("patch"), &json!(13)),
        "{patch}"
    );
    assert_eq!(ids(&patch), ["b", "c"]);

    // Before the history's floor, ahead of the model, or a topic never
    // resumed: a snapshot. The timeline is one of those: an operator's
    // action is put on it at the revision the registry is at, so one the
    // client has not seen can carry the very revision it resumes from.
    for (topic, since) in [("locks", 5), ("elections", 99), ("cluster", 12), ("events", 13)] {
        client.send(json!({"type": "subscribe", "topics": [topic], "since": since}));
        let answer = client.next().await;
        assert_eq!((&answer["type"], &answer["topic"]), (&json!("snapshot"), &json!(topic)));
    }
}

#[tokio::test]
async fn patches_merge_while_the_client_is_busy_each_entity_in_its_first_place() {
    let hub = Hub::new();
    let model = Model::at(10);
    let mut client = connect(&hub, &model, options());
    client.send(json!({"type": "subscribe", "topics": ["services"]}));
    assert_eq!(client.next().await["type"], "snapshot");

    model.change(&hub, 11, vec![(Topic::Services, vec![upsert("first", 1)])]);
    client.until_the_slot_is_taken().await;
    // Nothing is read now: these wait in the feed, merged.
    model.change(&hub, 12, vec![(Topic::Services, vec![upsert("a", 1), upsert("b", 1)])]);
    model.change(&hub, 13, vec![(Topic::Services, vec![upsert("c", 1)])]);
    model.change(&hub, 14, vec![(Topic::Services, vec![upsert("a", 2)])]);

    let first = client.next().await;
    assert_eq!((&first["revision"], ids(&first)), (&json!(11), vec!["first"]));
    let merged = client.next().await;
    assert_eq!(merged["revision"], 14, "{merged}");
    assert_eq!(ids(&merged), ["a", "b", "c"]);
    assert_eq!(merged["ops"][0]["value"]["n"], 2, "the later op of a: {merged}");
    assert!(!client.snapshots_forced());
}

#[tokio::test]
async fn a_busy_client_past_its_pending_bytes_gets_a_snapshot_instead() {
    let hub = Hub::new();
    let model = Model::at(10);
    let mut client = connect(&hub, &model, options());
    client.send(json!({"type": "subscribe", "topics": ["kv:/big/"]}));
    assert_eq!(client.next().await["type"], "snapshot");

    let topic = Topic::Kv("/big/".to_owned());
    model.change(&hub, 11, vec![(topic.clone(), vec![upsert("/big/first", 1)])]);
    client.until_the_slot_is_taken().await;
    let value = 1 << 20;
    for n in 0..MAX_PENDING_BYTES / value + 1 {
        let id = format!("/big/{n}");
        model.change(
            &hub,
            12 + n as Revision,
            vec![(topic.clone(), vec![big_upsert(&id, value)])],
        );
    }
    let last = 12 + (MAX_PENDING_BYTES / value) as Revision;

    assert_eq!(client.next().await["revision"], 11);
    let resync = client.next().await;
    assert_eq!(resync["type"], "snapshot", "not {}", resync["type"]);
    assert_eq!(resync["revision"], last);
    assert!(client.snapshots_forced());
}

#[tokio::test]
async fn a_large_service_snapshot_comes_in_parts_before_any_later_patch() {
    const REST: usize = 2 * SNAPSHOT_PART_OPS + 500;
    let hub = Hub::new();
    let model = Model::at(10);
    let topic = Topic::Service("big".to_owned());
    {
        let mut state = model.state();
        state.bodies.insert(topic.clone(), r#"{"instances":[]}"#.to_owned());
        state
            .rest
            .insert(topic.clone(), (0..REST).map(|n| instance("big", n)).collect());
    }
    let mut client = connect(&hub, &model, options());
    client.send(json!({"type": "subscribe", "topics": ["service:big"]}));
    let snapshot = client.next().await;
    assert_eq!(
        (&snapshot["type"], &snapshot["more"]),
        (&json!("snapshot"), &json!(true))
    );
    // A change while the parts are on their way.
    model.change(&hub, 11, vec![(topic.clone(), vec![upsert("late", 1)])]);

    let mut parts = Vec::new();
    let mut ids_seen = Vec::new();
    loop {
        let part = client.next().await;
        assert_eq!(
            (&part["type"], &part["revision"]),
            (&json!("patch"), &json!(10)),
            "{part}"
        );
        ids_seen.extend(ids(&part).into_iter().map(str::to_owned));
        parts.push(ids(&part).len());
        if part["more"] != true {
            break;
        }
    }
    assert_eq!(parts, [SNAPSHOT_PART_OPS, SNAPSHOT_PART_OPS, 500]);
    let expected: Vec<String> = (0..REST).map(|n| instance("big", n).id).collect();
    assert_eq!(ids_seen, expected, "every instance once, in order");
    let late = client.next().await;
    assert_eq!((&late["revision"], ids(&late)), (&json!(11), vec!["late"]));
}
