//! P2 and P3: paced puts (each a new service, so every one is one `services`
//! patch), timed from the put being sent to its arrival at WebSocket clients,
//! next to a raw etcd watch receiving the same puts.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

use crate::load;
use crate::report::{quantile, Report};
use crate::server::{etcd_client, start_etcd, EtcdProcess, Leasehold};

/// Puts per second, both benchmarks.
const RATE: u64 = 1000;
/// WebSocket clients of P3.
const FAN_OUT: usize = 1000;
/// Latencies kept per P3 client: every how many-th put.
const P3_SAMPLE_EVERY: usize = 10;

type Arrivals = Vec<Option<Instant>>;

pub async fn run(report: &mut Report, length: Duration, p2: bool, p3: bool) -> anyhow::Result<()> {
    let etcd = start_etcd().await?;
    let server = Leasehold::start(&etcd, &[]).await?;
    if p2 {
        latency(report, &etcd, &server, length).await?;
    }
    if p3 {
        fan_out(report, &etcd, &server, length).await?;
    }
    Ok(())
}

async fn latency(report: &mut Report, etcd: &EtcdProcess, server: &Leasehold, length: Duration) -> anyhow::Result<()> {
    println!(
        "P2 latency: {RATE} puts/s for {} s, one WebSocket client and one raw watch",
        length.as_secs()
    );
    let count = (RATE * length.as_secs()) as usize;
    let tag = "lat";
    let raw = raw_watch(etcd, tag, count).await?;
    let socket = ws_client(server, tag, count, 1).await?;
    let sent = paced(etcd, tag, count).await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let raw = std::mem::take(&mut *raw.lock().unwrap_or_else(PoisonError::into_inner));
    let ws = std::mem::take(&mut *socket.arrivals.lock().unwrap_or_else(PoisonError::into_inner));
    socket.task.abort();
    let patch_bytes = socket.patch_bytes.load(Ordering::Relaxed);

    let (mut raw_ms, raw_missing) = latencies(&sent, &raw, 1);
    let (mut ws_ms, ws_missing) = latencies(&sent, &ws, 1);
    let raw_p99 = quantile(&mut raw_ms, 0.99);
    let ws_p99 = quantile(&mut ws_ms, 0.99);
    report.figure(
        "P2",
        "raw etcd watch: p50 / p99",
        format!(
            "{:.1} / {raw_p99:.1} ms{}",
            quantile(&mut raw_ms, 0.5),
            missing(raw_missing)
        ),
    );
    report.goal(
        "P2",
        "WebSocket patch: p50 / p99",
        format!(
            "{:.1} / {ws_p99:.1} ms{}",
            quantile(&mut ws_ms, 0.5),
            missing(ws_missing)
        ),
        "p99 <= raw p99 + 5 ms",
        ws_missing == 0 && ws_p99 <= raw_p99 + 5.0,
    );
    report.figure(
        "P2",
        "WebSocket bytes per event (`services` patches, after coalescing)",
        format!("{:.0} B", patch_bytes as f64 / count.max(1) as f64),
    );
    Ok(())
}

async fn fan_out(report: &mut Report, etcd: &EtcdProcess, server: &Leasehold, length: Duration) -> anyhow::Result<()> {
    println!(
        "P3 fan-out: {FAN_OUT} WebSocket clients on `services`, {RATE} puts/s for {} s",
        length.as_secs()
    );
    let count = (RATE * length.as_secs()) as usize;
    let tag = "fan";
    let mut clients = Vec::with_capacity(FAN_OUT);
    for _ in 0..FAN_OUT {
        clients.push(ws_client(server, tag, count, P3_SAMPLE_EVERY).await?);
    }
    let cpu_before = server.cpu();
    let began = Instant::now();
    let sent = paced(etcd, tag, count).await?;
    let cpu = server.cpu().saturating_sub(cpu_before);
    let elapsed = began.elapsed();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let mut all = Vec::new();
    let mut missed = 0;
    for client in clients {
        client.task.abort();
        let arrivals = std::mem::take(&mut *client.arrivals.lock().unwrap_or_else(PoisonError::into_inner));
        let (mut ms, missing) = latencies(&sent, &arrivals, P3_SAMPLE_EVERY);
        all.append(&mut ms);
        missed += missing;
    }
    let cores = cpu.as_secs_f64() / elapsed.as_secs_f64();
    report.goal("P3", "server CPU", format!("{cores:.2} cores"), "< 1 core", cores < 1.0);
    let p99 = quantile(&mut all, 0.99);
    report.goal(
        "P3",
        "client p50 / p99",
        format!("{:.1} / {p99:.1} ms{}", quantile(&mut all, 0.5), missing(missed)),
        "p99 < 250 ms",
        missed == 0 && p99 < 250.0,
    );
    Ok(())
}

fn missing(count: usize) -> String {
    if count == 0 {
        String::new()
    } else {
        format!(" ({count} never arrived)")
    }
}

/// Milliseconds from sending each sampled put to its arrival, and how many never arrived.
fn latencies(sent: &[Option<Instant>], arrived: &[Option<Instant>], every: usize) -> (Vec<f64>, usize) {
    let mut out = Vec::new();
    let mut missing = 0;
    for (seq, sent_at) in sent.iter().enumerate().step_by(every) {
        let Some(sent_at) = sent_at else { continue };
        match arrived.get(seq).copied().flatten() {
            Some(at) => out.push(at.saturating_duration_since(*sent_at).as_secs_f64() * 1000.0),
            None => missing += 1,
        }
    }
    (out, missing)
}

/// Puts `count` new services at [`RATE`] per second; returns when each was sent.
async fn paced(etcd: &EtcdProcess, tag: &'static str, count: usize) -> anyhow::Result<Arrivals> {
    let client = etcd_client(etcd).await?;
    let sent: Arc<Mutex<Arrivals>> = Arc::new(Mutex::new(vec![None; count]));
    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / RATE));
    let mut puts = Vec::with_capacity(count);
    for seq in 0..count {
        tick.tick().await;
        let (mut client, sent) = (client.clone(), sent.clone());
        puts.push(tokio::spawn(async move {
            let service = format!("{tag}-{seq}");
            let key = format!("/microservices/{service}/1");
            let value = load::value(&service, seq as u64);
            sent.lock().unwrap_or_else(PoisonError::into_inner)[seq] = Some(Instant::now());
            client.put(key, value, None).await
        }));
    }
    for put in puts {
        put.await??;
    }
    let sent = std::mem::take(&mut *sent.lock().unwrap_or_else(PoisonError::into_inner));
    Ok(sent)
}

/// The sequence number in `text` after each `prefix`.
fn numbers_after<'a>(text: &'a str, prefix: &'a str) -> impl Iterator<Item = usize> + 'a {
    text.match_indices(prefix).filter_map(move |(at, _)| {
        let digits: String = text[at + prefix.len()..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        digits.parse().ok()
    })
}

async fn raw_watch(etcd: &EtcdProcess, tag: &str, count: usize) -> anyhow::Result<Arc<Mutex<Arrivals>>> {
    let mut client = etcd_client(etcd).await?;
    let prefix = format!("/microservices/{tag}-");
    let mut stream = client
        .watch(prefix.as_str(), Some(etcd_client::WatchOptions::new().with_prefix()))
        .await?;
    let arrivals = Arc::new(Mutex::new(vec![None; count]));
    let seen = arrivals.clone();
    tokio::spawn(async move {
        // The client lives as long as the stream.
        let _client = client;
        while let Ok(Some(response)) = stream.message().await {
            let now = Instant::now();
            let mut arrivals = seen.lock().unwrap_or_else(PoisonError::into_inner);
            for event in response.events() {
                let key = event
                    .kv()
                    .map(|kv| String::from_utf8_lossy(kv.key()).into_owned())
                    .unwrap_or_default();
                for seq in numbers_after(&key, &prefix) {
                    if let Some(slot @ None) = arrivals.get_mut(seq) {
                        *slot = Some(now);
                    }
                }
            }
        }
    });
    Ok(arrivals)
}

struct WsClient {
    arrivals: Arc<Mutex<Arrivals>>,
    /// Bytes of the messages after the first (the snapshot).
    patch_bytes: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

/// A WebSocket client subscribed to `services`, noting when each sampled put arrives.
async fn ws_client(server: &Leasehold, tag: &str, count: usize, every: usize) -> anyhow::Result<WsClient> {
    // Reads of 4 KiB, as a browser's: the library's default zeroes 128 KiB
    // before every read, which with 1,000 clients on these two cores made the
    // load generator itself the bottleneck.
    let config = WebSocketConfig::default().read_buffer_size(4 * 1024);
    let (mut socket, _) =
        tokio_tungstenite::connect_async_with_config(format!("ws://{}/api/v1/ws", server.addr), Some(config), false)
            .await?;
    socket
        .send(Message::Text(r#"{"type":"subscribe","topics":["services"]}"#.into()))
        .await?;
    let arrivals = Arc::new(Mutex::new(vec![None; count]));
    let seen = arrivals.clone();
    let patch_bytes = Arc::new(AtomicU64::new(0));
    let bytes = patch_bytes.clone();
    let pattern = format!(r#""id":"{tag}-"#);
    let task = tokio::spawn(async move {
        while let Some(Ok(message)) = socket.next().await {
            let Message::Text(text) = message else { continue };
            let now = Instant::now();
            if text.as_str().starts_with(r#"{"type":"patch""#) {
                bytes.fetch_add(text.len() as u64, Ordering::Relaxed);
            }
            let mut arrivals = seen.lock().unwrap_or_else(PoisonError::into_inner);
            for seq in numbers_after(text.as_str(), &pattern).filter(|seq| seq % every == 0) {
                if let Some(slot @ None) = arrivals.get_mut(seq) {
                    *slot = Some(now);
                }
            }
        }
    });
    Ok(WsClient {
        arrivals,
        patch_bytes,
        task,
    })
}
