//! The membership requests of the operations console: the member list with
//! each member's own status, add a learner, promote it, remove a member,
//! move the leader. Each is one request to etcd; what changed is read back
//! by listing the members again.

use std::time::Duration;

use etcd_client::{Client, MemberAddOptions, StatusResponse};
use futures::future::join_all;

use super::{with_timeout, Console, Error};

/// A member as etcd lists it, with its own `Status` when it answered one.
#[derive(Debug, Clone)]
pub struct Listed {
    pub id: u64,
    /// Empty until the member has started.
    pub name: String,
    pub peer_urls: Vec<String>,
    pub client_urls: Vec<String>,
    pub is_learner: bool,
    pub status: Result<StatusResponse, String>,
}

impl Listed {
    /// The leader this member names, 0 when none (or it did not answer).
    pub fn leader(&self) -> u64 {
        self.status.as_ref().map_or(0, StatusResponse::leader)
    }
}

/// The request never reached a working member: its connection was
/// refused (an endpoint of a member that was removed or is down), or the
/// member answered that it has stopped (one shutting down as it is
/// removed) and so took nothing.
fn unreached(error: &Error) -> bool {
    match error {
        Error::Client(etcd_client::Error::GRpcStatus(status)) => {
            let message = status.message();
            (status.code() == tonic::Code::Unavailable
                && (message.contains("tcp connect error") || message.contains("Connection refused")))
                || message.contains("raft: stopped")
                || message.contains("etcdserver: server stopped")
        }
        Error::Client(etcd_client::Error::TransportError(_)) => true,
        _ => false,
    }
}

/// The connection broke during the request (a member shutting down as it
/// is removed resets it): etcd may or may not have taken it.
pub fn broken(error: &Error) -> bool {
    match error {
        Error::Client(etcd_client::Error::GRpcStatus(status)) => {
            matches!(
                status.code(),
                tonic::Code::Unavailable | tonic::Code::Unknown | tonic::Code::Cancelled
            ) && status.message().contains("transport error")
        }
        Error::Client(etcd_client::Error::TransportError(_)) | Error::Timeout(_) => true,
        _ => false,
    }
}

/// How long a leader transfer is waited for after etcd accepted it.
const MOVE_WAIT: Duration = Duration::from_secs(10);

impl Console {
    /// A read through the balanced client, and when that could not reach a
    /// member (an endpoint of a member that is gone) or lost its
    /// connection, through each of Leasehold's endpoints on its own until
    /// one answers.
    async fn reaching<T, F, Fut>(&self, call: F) -> Result<T, Error>
    where
        F: Fn(Client) -> Fut,
        Fut: std::future::Future<Output = Result<T, Error>>,
    {
        let again = |error: &Error| unreached(error) || broken(error);
        let first = match call(self.client.clone()).await {
            Err(error) if again(&error) => error,
            answer => return answer,
        };
        for endpoint in &self.config.endpoints {
            let Ok(client) = self.member(std::slice::from_ref(endpoint), false).await else {
                continue;
            };
            match call(client).await {
                Err(error) if again(&error) => continue,
                answer => return answer,
            }
        }
        Err(first)
    }

    /// The members as etcd lists them now, by name then id (`status`
    /// not asked: an error).
    pub async fn member_list(&self) -> Result<Vec<Listed>, Error> {
        let limit = self.config.request_timeout;
        let answer = self
            .reaching(|mut client| async move { with_timeout(limit, client.member_list()).await })
            .await?;
        let mut members: Vec<Listed> = answer
            .members()
            .iter()
            .map(|m| Listed {
                id: m.id(),
                name: m.name().to_owned(),
                peer_urls: m.peer_urls().to_vec(),
                client_urls: m.client_urls().to_vec(),
                is_learner: m.is_learner(),
                status: Err("not asked".to_owned()),
            })
            .collect();
        members.sort_by(|a, b| (&a.name, a.id).cmp(&(&b.name, b.id)));
        Ok(members)
    }

    /// The members, each asked its own status at once.
    pub async fn members(&self) -> Result<Vec<Listed>, Error> {
        let mut members = self.member_list().await?;
        let statuses = join_all(members.iter().map(|m| async move {
            if m.client_urls.is_empty() {
                return Err("not started: it has no client URL yet".to_owned());
            }
            self.status(&m.client_urls).await.map_err(|e| e.summary())
        }))
        .await;
        for (member, status) in members.iter_mut().zip(statuses) {
            member.status = status;
        }
        Ok(members)
    }

    /// A change through the leader's own client (`via`, its client URLs),
    /// so that it never lands on a member that is down or shutting down;
    /// through the balanced client when no leader is known, or when the
    /// leader's URLs could not be reached (the request never left).
    async fn change<T, F, Fut>(&self, via: &[String], call: F) -> Result<T, Error>
    where
        F: Fn(Client) -> Fut,
        Fut: std::future::Future<Output = Result<T, Error>>,
    {
        if !via.is_empty() {
            if let Ok(client) = self.member(via, false).await {
                match call(client).await {
                    Err(error) if unreached(&error) => {}
                    answer => return answer,
                }
            }
        }
        call(self.client.clone()).await
    }

    /// Adds a learner at `peer_urls` through `via`; its member id.
    pub async fn add_learner(&self, via: &[String], peer_urls: &[String]) -> Result<u64, Error> {
        let limit = self.config.request_timeout;
        let answer = self
            .change(via, |mut client| async move {
                let options = MemberAddOptions::new().with_is_learner();
                with_timeout(limit, client.member_add(peer_urls, Some(options))).await
            })
            .await?;
        Ok(answer.member().map_or(0, etcd_client::Member::id))
    }

    pub async fn promote(&self, via: &[String], id: u64) -> Result<(), Error> {
        let limit = self.config.request_timeout;
        self.change(via, |mut client| async move {
            with_timeout(limit, client.member_promote(id)).await
        })
        .await?;
        Ok(())
    }

    pub async fn remove(&self, via: &[String], id: u64) -> Result<(), Error> {
        let limit = self.config.request_timeout;
        self.change(via, |mut client| async move {
            with_timeout(limit, client.member_remove(id)).await
        })
        .await?;
        Ok(())
    }

    /// Asks the leader (at `leader_urls`: etcd takes the request only
    /// there) to hand leadership to `to`, then waits until `to` says it
    /// leads. `Ok(false)` when etcd accepted but `to` did not lead within
    /// [`MOVE_WAIT`].
    pub async fn move_leader(&self, leader_urls: &[String], to: u64, to_urls: &[String]) -> Result<bool, Error> {
        let mut client = self.member(leader_urls, false).await?;
        with_timeout(self.config.request_timeout, client.move_leader(to)).await?;
        let deadline = tokio::time::Instant::now() + MOVE_WAIT;
        loop {
            if let Ok(status) = self.status(to_urls).await {
                if status.leader() == to {
                    return Ok(true);
                }
            }
            if tokio::time::Instant::now() >= deadline {
                return Ok(false);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
