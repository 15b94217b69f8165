//! The limits a client is held to, what it is told when it goes past them,
//! and gzip for the large messages of a client that asked for it.

use super::*;

#[tokio::test]
async fn topics_over_the_limits_are_refused_by_name_and_unread_errors_close_the_feed() {
    let hub = Hub::new();
    let model = Model::at(10);
    let options = Options {
        mirrored: Arc::from(vec!["/mirrored/".to_owned()]),
        gzip: false,
    };
    let mut client = connect(&hub, &model, options);
    let services: Vec<String> = (0..MAX_TOPICS).map(|n| format!("service:s{n}")).collect();
    client.send(json!({"type": "subscribe", "topics": services}));
    client.send(json!({"type": "subscribe", "topics": ["service:one-more", "kv:/elsewhere/"]}));
    let mut errors = Vec::new();
    while errors.len() < 2 {
        let message = client.next().await;
        if message["type"] == "error" {
            errors.push((message["code"].clone(), message["topic"].clone()));
        }
    }
    assert_eq!(
        errors,
        [
            (json!("too_many_topics"), json!("service:one-more")),
            (json!("not_served"), json!("kv:/elsewhere/")),
        ]
    );

    let mut client = connect(&hub, &model, options_mirroring("/mirrored/"));
    let kv: Vec<String> = (0..=MAX_KV_TOPICS).map(|n| format!("kv-dir:/mirrored/{n}/")).collect();
    client.send(json!({"type": "subscribe", "topics": kv}));
    let error = loop {
        let message = client.next().await;
        if message["type"] == "error" {
            break message;
        }
    };
    let refused = format!("kv-dir:/mirrored/{MAX_KV_TOPICS}/");
    assert_eq!(
        (&error["code"], &error["topic"]),
        (&json!("too_many_topics"), &json!(refused))
    );

    // Errors asked for and never read: closed with 1008 and a reason.
    let client = connect(&hub, &model, options_mirroring("/mirrored/"));
    let outside: Vec<String> = (0..=2 * MAX_QUEUED_ERRORS).map(|n| format!("kv:/{n}/")).collect();
    client.send(json!({"type": "subscribe", "topics": outside}));
    assert_eq!(
        client.ended().await,
        Ended::Close(Close {
            code: CLOSE_POLICY,
            reason: "too many unread errors: read the socket"
        })
    );
}

#[tokio::test]
async fn large_messages_are_gzipped_for_a_client_that_asked_and_small_ones_stay_text() {
    let hub = Hub::new();
    let model = Model::at(10);
    let body = json!({ "services": vec!["a-service-name"; GZIP_FROM / 8] }).to_string();
    model.state().bodies.insert(Topic::Services, body);
    let gzip = Options {
        gzip: true,
        ..options()
    };
    let mut clients = [connect(&hub, &model, gzip), connect(&hub, &model, options())];
    for client in &clients {
        client.send(json!({"type": "subscribe", "topics": ["services"]}));
    }
    for (client, gzipped) in clients.iter_mut().zip([true, false]) {
        let (was, snapshot) = client.next_frame().await;
        assert_eq!((was, &snapshot["type"]), (gzipped, &json!("snapshot")));
    }
    model.change(&hub, 11, vec![(Topic::Services, vec![upsert("a", 1)])]);
    for client in &mut clients {
        let (was, patch) = client.next_frame().await;
        assert_eq!((was, &patch["type"]), (false, &json!("patch")));
    }
}

#[tokio::test]
async fn malformed_messages_get_errors_and_a_flood_of_them_closes_the_feed() {
    let hub = Hub::new();
    let model = Model::at(10);
    let mut client = connect(&hub, &model, options());
    assert!(client.to_feed.unbounded_send(FromClient::Binary).is_ok());
    let error = client.next().await;
    assert_eq!(error["code"], "bad_request", "{error}");
    client.send(json!({"type": "ping"}));
    let pong = client.next().await;
    assert_eq!((&pong["type"], &pong["revision"]), (&json!("pong"), &json!(10)));

    for _ in 0..BAD_MESSAGE_LIMIT {
        assert!(client.to_feed.unbounded_send(FromClient::Text("{".to_owned())).is_ok());
    }
    assert_eq!(
        client.ended().await,
        Ended::Close(Close {
            code: CLOSE_POLICY,
            reason: "too many malformed messages"
        })
    );
}
