//! The cluster poller: `MemberList`, then `Status` of every member, every few
//! seconds, into the model's [`ClusterInfo`].
//!
//! etcd has no watch for membership or raft state, so this is polled. Each
//! member is asked through a client of its own (its advertised client URLs):
//! a balanced client would answer for whichever member it happened to reach.

use std::collections::HashMap;
use std::time::Duration;

use app::model::{Member, MemberId};
use etcd_client::{Client, StatusResponse};
use futures::future::join_all;
use tokio_util::sync::CancellationToken;

use super::{connect_options, with_timeout, Error};
use crate::config::EtcdConfig;
use crate::registry::{ClusterInfo, ClusterStatus};

pub struct ClusterPoller {
    client: Client,
    config: EtcdConfig,
    status: ClusterStatus,
    interval: Duration,
    /// One client per member, re-created when its advertised URLs change.
    member_clients: HashMap<u64, (Vec<String>, Client)>,
    last: ClusterInfo,
}

impl ClusterPoller {
    pub fn new(client: Client, config: EtcdConfig, status: ClusterStatus, interval: Duration) -> Self {
        ClusterPoller {
            client,
            config,
            status,
            interval,
            member_clients: HashMap::new(),
            last: ClusterInfo::default(),
        }
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
                for (member, answer) in members.iter_mut().zip(answers) {
                    member.is_leader = leader == Some(member.id);
                    apply_status(member, answer);
                }
                ClusterInfo {
                    cluster_id,
                    leader,
                    members,
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
