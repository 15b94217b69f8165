//! The cluster poller: `MemberList`, then `Status` of every member, every few
//! seconds, into the model's [`ClusterInfo`].
//!
//! etcd has no watch for membership or raft state, so this is polled. Each
//! member is asked through a client of its own (its advertised client URLs):
//! a balanced client would answer for whichever member it happened to reach.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use app::model::{Member, MemberId, QuotaSource};
use etcd_client::{Client, StatusResponse};
use futures::future::join_all;
use tokio_util::sync::CancellationToken;

use super::{connect_options, with_timeout, Error};
use crate::config::EtcdConfig;
use crate::registry::{ClusterInfo, ClusterStatus, MemberHealth};

/// How often the compaction horizon is read again (Leasehold's own
/// compactions set it at once).
const HORIZON_EVERY: Duration = Duration::from_secs(60);

pub struct ClusterPoller {
    client: Client,
    config: EtcdConfig,
    status: ClusterStatus,
    interval: Duration,
    /// One client per member, re-created when its advertised URLs change.
    member_clients: HashMap<u64, (Vec<String>, Client)>,
    /// Each member's quota from its `/metrics`, read once per member.
    quotas: HashMap<u64, Option<i64>>,
    horizon_read: Option<Instant>,
    last: ClusterInfo,
    /// Polls at once when notified (a membership change).
    wake: Arc<tokio::sync::Notify>,
}

impl ClusterPoller {
    pub fn new(client: Client, config: EtcdConfig, status: ClusterStatus, interval: Duration) -> Self {
        ClusterPoller {
            client,
            config,
            status,
            interval,
            member_clients: HashMap::new(),
            quotas: HashMap::new(),
            horizon_read: None,
            last: ClusterInfo::default(),
            wake: Arc::new(tokio::sync::Notify::new()),
        }
    }

    pub fn with_wake(mut self, wake: Arc<tokio::sync::Notify>) -> Self {
        self.wake = wake;
        self
    }

    pub async fn run(mut self, stop: CancellationToken) -> Result<(), Error> {
        loop {
            tokio::select! {
                () = stop.cancelled() => return Ok(()),
                () = self.poll() => {}
            }
            tokio::select! {
                () = stop.cancelled() => return Ok(()),
                () = tokio::time::sleep(self.interval) => {}
                () = self.wake.notified() => {}
            }
        }
    }

    async fn poll(&mut self) {
        let info = match with_timeout(self.config.request_timeout, self.client.member_list()).await {
            Ok(response) => {
                let cluster_id = response.header().map(|h| MemberId(h.cluster_id()));
                let mut members: Vec<Member> = response.members().iter().map(listed_member).collect();
                self.member_clients
                    .retain(|id, _| members.iter().any(|m| m.id.0 == *id));
                let mut clients = Vec::with_capacity(members.len());
                for member in &members {
                    clients.push(self.member_client(member.id.0, &member.client_urls).await);
                }
                let limit = self.config.request_timeout;
                let answers = join_all(clients.into_iter().map(|client| async move {
                    match client {
                        Some(mut client) => with_timeout(limit, client.status()).await.map(Some),
                        None => Ok(None),
                    }
                }))
                .await;
                let leader = answers
                    .iter()
                    .find_map(|a| a.as_ref().ok().and_then(|s| s.as_ref()).map(StatusResponse::leader))
                    .filter(|&l| l != 0)
                    .map(MemberId);
                let mut health = BTreeMap::new();
                for (member, answer) in members.iter_mut().zip(answers) {
                    member.is_leader = leader == Some(member.id);
                    let mut figures = MemberHealth::default();
                    if let Ok(Some(status)) = &answer {
                        figures.db_size_in_use = Some(status.raft_used_db_size());
                        figures.raft_applied_index = Some(status.raft_applied_index());
                        if status.db_size_quota() > 0 {
                            figures.quota_bytes = status.db_size_quota();
                            figures.quota_source = QuotaSource::Status;
                        }
                    }
                    if figures.quota_source != QuotaSource::Status {
                        self.quota(member, &mut figures).await;
                    }
                    health.insert(member.id, figures);
                    apply_status(member, answer);
                }
                let alarms = match super::console::alarms(&mut self.client, limit).await {
                    Ok(alarms) => alarms,
                    Err(error) => {
                        tracing::debug!(error = %error.summary(), "alarm list failed");
                        self.last.alarms.clone()
                    }
                };
                ClusterInfo {
                    cluster_id,
                    leader,
                    members,
                    health,
                    alarms,
                    compact_revision: self.horizon().await,
                }
            }
            Err(error) => {
                // Keep showing who the members were, but not as healthy.
                self.status.metrics().etcd_error();
                let summary = error.summary();
                tracing::debug!(error = %summary, "member list failed");
                let mut info = self.last.clone();
                for member in &mut info.members {
                    member.healthy = false;
                    member.is_leader = false;
                    member.errors = vec![summary.clone()];
                }
                info.leader = None;
                info
            }
        };
        self.last = info.clone();
        self.status.set(info);
    }

    /// A member's quota when its status does not say it: its `/metrics`
    /// (read once), else `--etcd-quota`, else etcd's default.
    async fn quota(&mut self, member: &Member, figures: &mut MemberHealth) {
        let known = match self.quotas.get(&member.id.0) {
            Some(known) => *known,
            None => {
                let mut read = None;
                for url in &member.client_urls {
                    read = super::console::quota_from_metrics(url, self.config.request_timeout).await;
                    if read.is_some() {
                        break;
                    }
                }
                // A member that did not answer is asked again next time.
                if read.is_some() || member.healthy {
                    self.quotas.insert(member.id.0, read);
                }
                read
            }
        };
        match (known, self.config.quota_bytes) {
            (Some(bytes), _) => (figures.quota_bytes, figures.quota_source) = (bytes, QuotaSource::Metrics),
            (None, Some(bytes)) => (figures.quota_bytes, figures.quota_source) = (bytes, QuotaSource::Flag),
            (None, None) => {}
        }
    }

    /// The compaction horizon, read every [`HORIZON_EVERY`]; `None` between
    /// reads (the model keeps the last one).
    async fn horizon(&mut self) -> Option<app::model::Revision> {
        if self.horizon_read.is_some_and(|at| at.elapsed() < HORIZON_EVERY) {
            return None;
        }
        match super::console::horizon(&mut self.client, self.config.request_timeout).await {
            Ok(Some(horizon)) => {
                self.horizon_read = Some(Instant::now());
                Some(horizon)
            }
            Ok(None) => None,
            Err(error) => {
                tracing::debug!(error = %error.summary(), "horizon read failed");
                None
            }
        }
    }

    async fn member_client(&mut self, id: u64, urls: &[String]) -> Option<Client> {
        if urls.is_empty() {
            return None;
        }
        if let Some((known, client)) = self.member_clients.get(&id) {
            if known == urls {
                return Some(client.clone());
            }
        }
        match Client::connect(urls, Some(connect_options(&self.config))).await {
            Ok(client) => {
                self.member_clients.insert(id, (urls.to_vec(), client.clone()));
                Some(client)
            }
            Err(error) => {
                tracing::warn!(member = %MemberId(id), %error, "cannot create a client for member");
                None
            }
        }
    }
}

/// A member as `MemberList` describes it, before its status is known.
fn listed_member(m: &etcd_client::Member) -> Member {
    Member {
        id: MemberId(m.id()),
        name: m.name().to_owned(),
        client_urls: m.client_urls().to_vec(),
        peer_urls: m.peer_urls().to_vec(),
        is_leader: false,
        is_learner: m.is_learner(),
        healthy: false,
        version: None,
        db_size: None,
        raft_term: None,
        raft_index: None,
        errors: Vec::new(),
    }
}

/// Fills in what the member's own `Status` answer says.
fn apply_status(member: &mut Member, answer: Result<Option<StatusResponse>, Error>) {
    match answer {
        Ok(Some(status)) => {
            member.healthy = status.errors().is_empty();
            member.version = Some(status.version().to_owned());
            member.db_size = Some(status.db_size());
            member.raft_term = Some(status.raft_term());
            member.raft_index = Some(status.raft_index());
            member.errors = status.errors().to_vec();
        }
        Ok(None) => member.errors = vec!["the member has not started: no client URL".to_owned()],
        Err(error) => member.errors = vec![error.summary()],
    }
}
