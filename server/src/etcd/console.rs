//! What the operations console asks etcd beyond the cluster poller's
//! `Status`: the alarms, the compaction horizon and a member's quota, and
//! the maintenance itself ([`Console`]: disarm, compact, the history a
//! compaction would drop, a member's status, hash and defragmentation).
//!
//! Each read is one small request: `AlarmGet` answers for the whole
//! cluster, the horizon comes from a read at revision 1 of a key nobody
//! writes and, when that is compacted, a watch of it from revision 1 (etcd
//! answers it with its compaction revision), and the quota from the
//! member's `/metrics`, read once and kept.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use app::model::{Alarm, MemberAlarm, MemberId, Revision};
use etcd_client::{
    AlarmAction, AlarmOptions, AlarmType, Client, CompactionOptions, EventType, GetOptions, StatusResponse,
    WatchOptions,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{blocking_call_options, connect_options, with_timeout, Error};
use crate::config::EtcdConfig;

/// A key no client writes: the horizon's watch sees no event of its own.
const HORIZON_KEY: &[u8] = b"\0leasehold/horizon";
/// Most bytes of a member's `/metrics` read for its quota.
const METRICS_MAX: usize = 4 << 20;

fn alarm_of(kind: AlarmType) -> Option<Alarm> {
    match kind {
        AlarmType::Nospace => Some(Alarm::NoSpace),
        AlarmType::Corrupt => Some(Alarm::Corrupt),
        AlarmType::None => None,
    }
}

fn type_of(alarm: Alarm) -> AlarmType {
    match alarm {
        Alarm::NoSpace => AlarmType::Nospace,
        Alarm::Corrupt => AlarmType::Corrupt,
    }
}

/// The cluster's active alarms.
pub async fn alarms(client: &mut Client, limit: Duration) -> Result<Vec<MemberAlarm>, Error> {
    let answer = with_timeout(limit, client.alarm(AlarmAction::Get, AlarmType::None, None)).await?;
    let mut alarms: Vec<MemberAlarm> = answer
        .alarms()
        .iter()
        .filter_map(|a| {
            alarm_of(a.alarm()).map(|alarm| MemberAlarm {
                member: MemberId(a.member_id()),
                alarm,
            })
        })
        .collect();
    alarms.sort();
    alarms.dedup();
    Ok(alarms)
}

/// Disarms one member's alarm; the alarms etcd reports afterwards.
pub async fn disarm(client: &mut Client, alarm: MemberAlarm, limit: Duration) -> Result<Vec<MemberAlarm>, Error> {
    let mut options = AlarmOptions::new();
    options.with_member(alarm.member.0);
    with_timeout(
        limit,
        client.alarm(AlarmAction::Deactivate, type_of(alarm.alarm), Some(options)),
    )
    .await?;
    alarms(client, limit).await
}

/// The compaction horizon: the oldest revision etcd can still read (0 when
/// nothing was compacted). `None` when etcd said neither within `limit`.
///
/// First a read of a key nobody writes at revision 1: it fails only when
/// etcd compacted past that revision (an index lookup, no history read).
/// Then, and only then, a watch from revision 1, which etcd answers at once
/// with its compaction revision: a watch from before the horizon is
/// refused before any history is read, while one on an uncompacted history
/// would make etcd read all of it.
pub async fn horizon(client: &mut Client, limit: Duration) -> Result<Option<Revision>, Error> {
    let at_one = GetOptions::new().with_revision(1).with_count_only();
    match with_timeout(limit, client.get(HORIZON_KEY, Some(at_one))).await {
        Ok(_) => return Ok(Some(0)),
        Err(Error::Client(etcd_client::Error::GRpcStatus(status)))
            if status.message().contains("required revision has been compacted") => {}
        Err(error) => return Err(error),
    }
    let options = WatchOptions::new().with_start_revision(1).with_progress_notify();
    let mut stream = with_timeout(limit, client.watch(HORIZON_KEY, Some(options))).await?;
    let answer = tokio::time::timeout(limit, async {
        let mut asked = false;
        loop {
            // An unsynced watch ignores progress requests; once it is
            // synced (nothing compacted) etcd answers one.
            let Ok(message) = tokio::time::timeout(Duration::from_millis(200), stream.message()).await else {
                stream.request_progress().await?;
                asked = true;
                continue;
            };
            let Some(message) = message? else {
                return Ok::<_, etcd_client::Error>(None);
            };
            if message.compact_revision() > 0 {
                return Ok(Some(message.compact_revision()));
            }
            if asked && !message.created() && message.events().is_empty() {
                return Ok(Some(0));
            }
        }
    })
    .await;
    // Dropping the stream ends the watch.
    drop(stream);
    match answer {
        Ok(answer) => Ok(answer?),
        Err(_) => Ok(None),
    }
}

/// Longest a member's defragmentation may take: it rewrites the whole
/// database file, and answers nothing else meanwhile.
pub const DEFRAG_LIMIT: Duration = Duration::from_secs(600);

/// Most events read for a compaction's preview, and most distinct keys
/// counted: past either, the figures are a lower bound.
const SCAN_EVENTS: usize = 1_000_000;
const SCAN_KEYS: usize = 200_000;
/// Largest watch message a compaction's preview accepts.
const SCAN_MESSAGE: usize = 64 << 20;
/// Longest a compaction's preview reads history.
const SCAN_TIME: Duration = Duration::from_secs(20);

/// What a compaction at a revision drops from history, per key.
#[derive(Debug, Default)]
pub struct HistoryLoss {
    /// Key -> versions (and deletions) lost, and their values' bytes.
    pub keys: HashMap<Vec<u8>, (u64, u64)>,
    pub versions: u64,
    pub bytes: u64,
    /// False when the scan stopped at one of its bounds.
    pub complete: bool,
}

/// A key's history as the scan has seen it: its events before the
/// compaction revision, all but the last of which are lost for sure.
#[derive(Debug, Default)]
struct Seen {
    versions: u64,
    bytes: u64,
    /// The last event's value size, and whether it was a deletion.
    last: Option<(u64, bool)>,
}

/// The maintenance requests of the operations console: on the cluster
/// (through the balanced client) or on one member (through a client of its
/// own, as the cluster poller asks each member its status).
#[derive(Clone)]
pub struct Console {
    pub(super) client: Client,
    pub(super) config: EtcdConfig,
}

impl Console {
    pub fn new(client: Client, config: EtcdConfig) -> Self {
        Console { client, config }
    }

    pub async fn alarms(&self) -> Result<Vec<MemberAlarm>, Error> {
        alarms(&mut self.client.clone(), self.config.request_timeout).await
    }

    /// Disarms each alarm; the alarms etcd reports afterwards.
    pub async fn disarm(&self, alarms: &[MemberAlarm]) -> Result<Vec<MemberAlarm>, Error> {
        let mut client = self.client.clone();
        for alarm in alarms {
            disarm(&mut client, *alarm, self.config.request_timeout).await?;
        }
        self::alarms(&mut client, self.config.request_timeout).await
    }

    /// etcd's current revision.
    pub async fn revision(&self) -> Result<Revision, Error> {
        let mut client = self.client.clone();
        let options = GetOptions::new().with_count_only();
        let answer = with_timeout(self.config.request_timeout, client.get(HORIZON_KEY, Some(options))).await?;
        Ok(answer.header().map_or(0, |h| h.revision()))
    }

    /// The compaction horizon now (see [`horizon`]).
    pub async fn horizon(&self) -> Result<Option<Revision>, Error> {
        horizon(&mut self.client.clone(), self.config.request_timeout).await
    }

    /// Compacts at `revision`, waiting until the members' backends have
    /// dropped what it frees (`physical`).
    pub async fn compact(&self, revision: Revision) -> Result<(), Error> {
        let mut client = self.client.clone();
        let options = CompactionOptions::new().with_physical();
        // A physical compaction of a long history takes a while.
        with_timeout(DEFRAG_LIMIT, client.compact(revision, Some(options))).await?;
        Ok(())
    }

    /// What a compaction at `at` drops: every event from `from` (the
    /// horizon) to `at`, read by a watch over the whole keyspace, within
    /// [`SCAN_EVENTS`], [`SCAN_KEYS`] and [`SCAN_TIME`].
    ///
    /// A key loses every version older than its newest at or before `at`,
    /// and that one too when it is a deletion before `at` (etcd keeps what
    /// a read at `at` returns). Deletions count as versions.
    pub async fn history_loss(&self, from: Revision, at: Revision) -> Result<HistoryLoss, Error> {
        // etcd cuts its catch-up into fragments of about its largest
        // request; one message may still hold one value that large.
        let mut client = self.client.watch_client().max_decoding_message_size(SCAN_MESSAGE);
        let options = WatchOptions::new()
            .with_start_revision(from.max(1))
            .with_range(vec![0u8])
            .with_fragment()
            .with_progress_notify();
        let limit = self.config.request_timeout;
        let mut stream = with_timeout(limit, client.watch(vec![0u8], Some(options))).await?;
        let mut seen: HashMap<Vec<u8>, Seen> = HashMap::new();
        let mut events = 0usize;
        let started = Instant::now();
        let mut complete = true;
        'read: loop {
            if started.elapsed() > SCAN_TIME {
                complete = false;
                break;
            }
            let message = match tokio::time::timeout(Duration::from_millis(300), stream.message()).await {
                Err(_) => {
                    // Caught up with nothing past `at` yet: etcd's progress
                    // answer says how far the watch has read.
                    stream.request_progress().await?;
                    continue;
                }
                Ok(message) => message?,
            };
            let Some(message) = message else { break };
            if message.compact_revision() > 0 {
                // Compacted meanwhile: the rest is what is left to lose.
                return Err(Error::Compacted(message.compact_revision()));
            }
            if message.events().is_empty() {
                if message.header().is_some_and(|h| h.revision() >= at) && !message.created() {
                    break;
                }
                continue;
            }
            for event in message.events() {
                let Some(kv) = event.kv() else { continue };
                if kv.mod_revision() > at {
                    break 'read;
                }
                events += 1;
                let known = seen.len();
                let entry = match seen.get_mut(kv.key()) {
                    Some(entry) => entry,
                    None if known >= SCAN_KEYS => {
                        complete = false;
                        break 'read;
                    }
                    None => seen.entry(kv.key().to_vec()).or_default(),
                };
                if let Some((bytes, _)) = entry.last {
                    entry.versions += 1;
                    entry.bytes += bytes;
                }
                let deleted = event.event_type() == EventType::Delete;
                let size = if deleted { 0 } else { kv.value().len() as u64 };
                entry.last = Some((size, deleted && kv.mod_revision() < at));
                if events >= SCAN_EVENTS {
                    complete = false;
                    break 'read;
                }
            }
            if message
                .events()
                .last()
                .and_then(|e| e.kv())
                .is_some_and(|kv| kv.mod_revision() >= at)
            {
                break;
            }
        }
        drop(stream);
        let mut loss = HistoryLoss {
            complete,
            ..HistoryLoss::default()
        };
        for (key, mut entry) in seen {
            if let Some((bytes, true)) = entry.last {
                entry.versions += 1;
                entry.bytes += bytes;
            }
            if entry.versions > 0 {
                loss.versions += entry.versions;
                loss.bytes += entry.bytes;
                loss.keys.insert(key, (entry.versions, entry.bytes));
            }
        }
        Ok(loss)
    }

    /// A client of the member at `urls` only, logged in as Leasehold's
    /// etcd user when it has one; `blocking` without the per-request timeout.
    pub(super) async fn member(&self, urls: &[String], blocking: bool) -> Result<Client, Error> {
        let options = if blocking {
            blocking_call_options(&self.config)
        } else {
            connect_options(&self.config)
        };
        let mut client = Client::connect(urls, Some(options)).await?;
        if let Some(user) = &self.config.user {
            let credentials = Some((user.name.clone(), user.password.expose().to_owned()));
            with_timeout(self.config.request_timeout, client.update_user(credentials)).await?;
        }
        Ok(client)
    }

    /// The member's own `Status`.
    pub async fn status(&self, urls: &[String]) -> Result<StatusResponse, Error> {
        let mut client = self.member(urls, false).await?;
        with_timeout(self.config.request_timeout, client.status()).await
    }

    /// Defragments the member at `urls`, within [`DEFRAG_LIMIT`].
    pub async fn defragment(&self, urls: &[String]) -> Result<(), Error> {
        let mut client = self.member(urls, true).await?;
        with_timeout(DEFRAG_LIMIT, client.defragment()).await?;
        Ok(())
    }

    /// The member's `Snapshot` stream (no deadline: it lasts as long as the
    /// database takes to send; the gRPC keepalive notices a dead member).
    pub async fn snapshot(&self, urls: &[String]) -> Result<etcd_client::SnapshotStreaming, Error> {
        let mut client = self.member(urls, true).await?;
        with_timeout(self.config.request_timeout, client.snapshot()).await
    }

    /// The member's `HashKV` up to `revision`: its hash, and the compaction
    /// revision the hash starts from.
    pub async fn hash_kv(&self, urls: &[String], revision: Revision) -> Result<(u32, Revision), Error> {
        let mut client = self.member(urls, false).await?;
        // It reads the member's whole keyspace.
        let answer = with_timeout(self.config.request_timeout * 6, client.hash_kv(revision)).await?;
        Ok((answer.hash(), answer.compact_version()))
    }
}

/// The member's `--quota-backend-bytes`, from `etcd_server_quota_backend_bytes`
/// in its `/metrics` (plain http client URLs only; `None` otherwise).
pub async fn quota_from_metrics(url: &str, limit: Duration) -> Option<i64> {
    let rest = url.strip_prefix("http://")?;
    let host = rest.split('/').next().filter(|h| !h.is_empty())?;
    let read = async {
        let mut stream = tokio::net::TcpStream::connect(host).await.ok()?;
        let request = format!("GET /metrics HTTP/1.0\r\nHost: {host}\r\nAccept: text/plain\r\n\r\n");
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut body = Vec::new();
        stream.take(METRICS_MAX as u64).read_to_end(&mut body).await.ok()?;
        Some(body)
    };
    let body = tokio::time::timeout(limit, read).await.ok()??;
    quota_in(&String::from_utf8_lossy(&body))
}

/// The quota gauge's value in a Prometheus text exposition.
fn quota_in(text: &str) -> Option<i64> {
    text.lines().filter(|line| !line.starts_with('#')).find_map(|line| {
        let rest = line.strip_prefix("etcd_server_quota_backend_bytes")?;
        if !rest.starts_with([' ', '{']) {
            return None; // another metric of that prefix
        }
        let value = rest.rsplit(' ').next()?.trim();
        let bytes = value.parse::<f64>().ok()?;
        (bytes.is_finite() && bytes > 0.0 && bytes < 9.0e18).then_some(bytes as i64)
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_quota_is_read_from_the_gauge() {
        let text = "# HELP etcd_server_quota_backend_bytes Current backend storage quota size in bytes.\n\
                    # TYPE etcd_server_quota_backend_bytes gauge\n\
                    etcd_server_quota_backend_bytes 1.6777216e+07\n\
                    etcd_server_quota_backend_bytes_total 1\n";
        assert_eq!(super::quota_in(text), Some(16 << 20));
        assert_eq!(super::quota_in("etcd_server_has_leader 1\n"), None);
    }
}
