//! A feed driven over in-memory channels, as a socket would drive it: client
//! messages in, batches of frames out, with a small model behind
//! [`Snapshots`] and a real [`Hub`] publishing updates.

use std::collections::{BTreeMap, VecDeque};
use std::io::Read;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use app::model::{Instance, Layout, PatchOp, Revision, Topic};
use futures::channel::mpsc::{unbounded, UnboundedSender};
use serde_json::value::RawValue;
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::*;
use crate::hub::{Snapshot, SnapshotError};

mod limits;
mod order;

/// How long a test waits for something the feed is to send.
const LIMIT: Duration = Duration::from_secs(10);

/// The model as a feed reads it: a position, and each topic's body (`{}`
/// unless set), plus the instances a large snapshot leaves for later parts.
#[derive(Clone, Default)]
struct Model(Arc<Mutex<State>>);

#[derive(Default)]
struct State {
    seq: u64,
    revision: Revision,
    bodies: BTreeMap<Topic, String>,
    rest: BTreeMap<Topic, Vec<Instance>>,
}

impl Model {
    fn at(revision: Revision) -> Self {
        let model = Model::default();
        model.state().revision = revision;
        model
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Applies a change at `revision` and publishes it, as the store does.
    fn change(&self, hub: &Hub, revision: Revision, patches: Vec<(Topic, Vec<PatchOp>)>) {
        let seq = {
            let mut state = self.state();
            state.seq += 1;
            state.revision = revision;
            state.seq
        };
        hub.publish(Update::new(seq, revision, patches));
    }
}

impl Snapshots for Model {
    fn position(&self) -> (u64, Revision) {
        let state = self.state();
        (state.seq, state.revision)
    }

    fn snapshot(&self, topic: &Topic) -> Result<Snapshot, SnapshotError> {
        let state = self.state();
        let body = state.bodies.get(topic).cloned().unwrap_or_else(|| "{}".to_owned());
        let data = RawValue::from_string(body).map_err(|error| SnapshotError::Serialize(topic.clone(), error))?;
        Ok(Snapshot {
            seq: state.seq,
            revision: state.revision,
            data,
            rest: state.rest.get(topic).cloned().unwrap_or_default(),
        })
    }
}

fn upsert(id: &str, n: usize) -> PatchOp {
    let value = RawValue::from_string(format!(r#"{{"n":{n}}}"#)).unwrap_or_else(|error| panic!("{error}"));
    PatchOp::Upsert {
        id: id.to_owned(),
        value,
    }
}

fn big_upsert(id: &str, bytes: usize) -> PatchOp {
    let value = RawValue::from_string(format!("\"{}\"", "x".repeat(bytes))).unwrap_or_else(|error| panic!("{error}"));
    PatchOp::Upsert {
        id: id.to_owned(),
        value,
    }
}

fn instance(service: &str, n: usize) -> Instance {
    Instance {
        id: format!("/svc/{service}/{n:05}"),
        service: service.to_owned(),
        layout: Layout::Custom,
        key: format!("/svc/{service}/{n:05}"),
        key_base64: None,
        address: Some(format!("10.0.0.{}:80", n % 250)),
        endpoints: Vec::new(),
        version: None,
        metadata: BTreeMap::new(),
        lease: None,
        ttl: None,
        granted_ttl: None,
        create_revision: 1,
        mod_revision: 1,
        value: String::new(),
        value_base64: None,
        error: None,
        declared: None,
    }
}

/// The client's end of a feed.
struct Client {
    to_feed: UnboundedSender<FromClient<String>>,
    batches: mpsc::Receiver<Vec<Frame>>,
    /// Messages of batches read but not yet looked at.
    unread: VecDeque<(bool, Value)>,
    feed: JoinHandle<Ended>,
    metrics: Metrics,
}

fn connect(hub: &Hub, model: &Model, options: Options) -> Client {
    let metrics = Metrics::default();
    let mut feed = Feed::new(hub, model.clone(), metrics.clone(), options);
    let (to_feed, mut from_client) = unbounded();
    let (tx, batches) = mpsc::channel(1);
    let feed = tokio::spawn(async move { feed.run(&mut from_client, &tx).await });
    Client {
        to_feed,
        batches,
        unread: VecDeque::new(),
        feed,
        metrics,
    }
}

fn options() -> Options {
    Options {
        mirrored: Arc::from(Vec::new()),
        gzip: false,
    }
}

impl Client {
    fn send(&self, message: Value) {
        let sent = self.to_feed.unbounded_send(FromClient::Text(message.to_string()));
        assert!(sent.is_ok(), "the feed is gone");
    }

    /// The next batch, each message as (was it gzipped, its JSON).
    async fn batch(&mut self) -> Vec<(bool, Value)> {
        let batch = tokio::time::timeout(LIMIT, self.batches.recv())
            .await
            .unwrap_or_else(|_| panic!("no batch in time"))
            .unwrap_or_else(|| panic!("the feed stopped"));
        batch.into_iter().map(decode).collect()
    }

    /// The next message other than a `status`, as (was it gzipped, its JSON).
    async fn next_frame(&mut self) -> (bool, Value) {
        loop {
            while let Some((gzipped, message)) = self.unread.pop_front() {
                if message["type"] != "status" {
                    return (gzipped, message);
                }
            }
            let batch = self.batch().await;
            self.unread.extend(batch);
        }
    }

    async fn next(&mut self) -> Value {
        self.next_frame().await.1
    }

    /// Waits until the feed has put a batch in the channel's one slot, unread.
    async fn until_the_slot_is_taken(&self) {
        tokio::time::timeout(LIMIT, async {
            while self.batches.is_empty() {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("the feed sent nothing"));
    }

    /// How the feed ended; it must end within [`LIMIT`].
    async fn ended(self) -> Ended {
        tokio::time::timeout(LIMIT, self.feed)
            .await
            .unwrap_or_else(|_| panic!("the feed did not end"))
            .unwrap_or_else(|error| panic!("{error}"))
    }

    fn snapshots_forced(&self) -> bool {
        self.metrics
            .render(0, &crate::metrics::ModelGauges::default())
            .lines()
            .any(|line| line.contains("snapshots_forced") && !line.starts_with('#') && !line.ends_with(" 0"))
    }
}

fn decode(frame: Frame) -> (bool, Value) {
    let (gzipped, text) = match frame {
        Frame::Shared(text) => (false, text.as_str().to_owned()),
        Frame::Text(text) => (false, text),
        Frame::Gzip(gz) => {
            let mut text = String::new();
            flate2::read::GzDecoder::new(&gz[..])
                .read_to_string(&mut text)
                .unwrap_or_else(|error| panic!("a binary frame is gzip: {error}"));
            (true, text)
        }
    };
    let json = serde_json::from_str(&text).unwrap_or_else(|error| panic!("{error}: {text}"));
    (gzipped, json)
}

fn ids(patch: &Value) -> Vec<&str> {
    patch["ops"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|op| op["id"].as_str())
        .collect()
}

fn options_mirroring(prefix: &str) -> Options {
    Options {
        mirrored: Arc::from(vec![prefix.to_owned()]),
        gzip: false,
    }
}
