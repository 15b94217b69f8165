//! Load on etcd: registry-shaped puts, as fast as etcd takes them or paced.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use etcd_client::{Client, Txn, TxnOp};

/// A Kratos registration padded to about 256 bytes.
pub fn value(service: &str, id: u64) -> String {
    let mut text = format!(
        r#"{{"id":"{id}","name":"{service}","version":"v1.4.2","metadata":{{"zone":"eu-1","pad":""}},"endpoints":["grpc://10.1.{}.{}:9000"]}}"#,
        (id / 250) % 250,
        id % 250 + 1
    );
    let pad = 256usize.saturating_sub(text.len());
    if let Some(at) = text.find(r#""pad":""#) {
        text.insert_str(at + r#""pad":""#.len(), &"x".repeat(pad));
    }
    text
}

/// What a flood writes: registrations of about 256 bytes, or
/// configuration-centre values of this many bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    Registry,
    Config(usize),
}

impl Shape {
    /// Instances (or configuration keys) each writer goes round.
    fn keys(self) -> u64 {
        match self {
            Shape::Registry => 200,
            // Bounded so the model holds at most 32 x 20 x 64 KiB = 40 MiB.
            Shape::Config(_) => 20,
        }
    }

    fn put(self, writer: usize, id: u64, n: u64) -> (String, Vec<u8>) {
        match self {
            Shape::Registry => {
                let service = format!("ingest-{writer:02}");
                let value = value(&service, id).into_bytes();
                (format!("/microservices/{service}/{id}"), value)
            }
            Shape::Config(size) => {
                let head = format!("# app-{writer:02} setting {id}, version {n}\n");
                let value: Vec<u8> = head
                    .bytes()
                    .chain(b"key = \"value\"\n".iter().copied().cycle())
                    .take(size)
                    .collect();
                (format!("/config/app-{writer:02}/setting-{id:02}"), value)
            }
        }
    }
}

/// Puts `entries` in transactions of 128; returns the revision of the last.
pub async fn put_all(client: &mut Client, entries: &[(String, String)]) -> anyhow::Result<i64> {
    let mut revision = 0;
    for chunk in entries.chunks(128) {
        let ops: Vec<TxnOp> = chunk
            .iter()
            .map(|(k, v)| TxnOp::put(k.as_str(), v.as_str(), None))
            .collect();
        let response = client.txn(Txn::new().and_then(ops)).await?;
        revision = response.header().map_or(revision, |h| h.revision());
    }
    Ok(revision)
}

/// What a flood of puts achieved.
pub struct Flood {
    pub puts: u64,
    pub elapsed: Duration,
    /// Bytes of keys and values put.
    pub bytes: u64,
    /// The revision of the last put acknowledged.
    pub last_revision: i64,
}

impl Flood {
    pub fn rate(&self) -> f64 {
        self.puts as f64 / self.elapsed.as_secs_f64()
    }
}

/// `writers` tasks over `connections` clients put as fast as etcd answers for
/// `length`; each writer updates its own keys (200 instances, or 20
/// configuration keys) round and round. `last` follows the newest revision
/// acknowledged, for samplers.
pub async fn flood(
    endpoint: &str,
    connections: usize,
    writers: usize,
    length: Duration,
    shape: Shape,
    last: Arc<AtomicI64>,
) -> anyhow::Result<Flood> {
    let mut clients = Vec::with_capacity(connections);
    for _ in 0..connections.max(1) {
        clients.push(Client::connect([endpoint], None).await?);
    }
    let puts = Arc::new(AtomicU64::new(0));
    let bytes = Arc::new(AtomicU64::new(0));
    let began = Instant::now();
    let deadline = began + length;
    let mut tasks = Vec::with_capacity(writers);
    for writer in 0..writers {
        let mut client = clients[writer % clients.len()].clone();
        let (puts, bytes, last) = (puts.clone(), bytes.clone(), last.clone());
        tasks.push(tokio::spawn(async move {
            let mut n: u64 = 0;
            while Instant::now() < deadline {
                let (key, value) = shape.put(writer, n % shape.keys(), n);
                let size = (key.len() + value.len()) as u64;
                let response = client.put(key, value, None).await?;
                bytes.fetch_add(size, Ordering::Relaxed);
                if let Some(header) = response.header() {
                    last.fetch_max(header.revision(), Ordering::Relaxed);
                }
                puts.fetch_add(1, Ordering::Relaxed);
                n += 1;
            }
            Ok::<(), etcd_client::Error>(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok(Flood {
        puts: puts.load(Ordering::Relaxed),
        elapsed: began.elapsed(),
        bytes: bytes.load(Ordering::Relaxed),
        last_revision: last.load(Ordering::Relaxed),
    })
}
