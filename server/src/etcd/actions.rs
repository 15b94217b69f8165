//! The narrow set of things the HTTP layer may ask etcd to do or tell
//! directly. Their effects reach the model through the watch, never by local
//! mutation.

use std::time::Duration;

use app::model::Revision;
use etcd_client::{Client, LeaseTimeToLiveOptions};

use super::{with_timeout, Error};

#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    #[error("etcd does not know this lease")]
    NotFound,
    #[error("{0}")]
    Unavailable(String),
}

impl From<Error> for ActionError {
    fn from(error: Error) -> Self {
        match &error {
            Error::Client(etcd_client::Error::GRpcStatus(status)) if status.code() == tonic::Code::NotFound => {
                ActionError::NotFound
            }
            _ => ActionError::Unavailable(error.summary()),
        }
    }
}

/// A lease as etcd answers `TimeToLive` for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseNow {
    pub ttl: i64,
    pub granted_ttl: i64,
    pub keys: usize,
}

/// What a revoke did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revoked {
    pub revision: Revision,
    /// Keys the lease held just before it was revoked.
    pub deleted_keys: usize,
}

#[derive(Clone)]
pub struct Actions {
    pub(super) client: Client,
    pub(super) timeout: Duration,
}

impl Actions {
    pub fn new(client: Client, timeout: Duration) -> Self {
        Actions { client, timeout }
    }

    /// The lease as etcd sees it now; `NotFound` when it does not exist.
    pub async fn lease(&self, lease: i64) -> Result<LeaseNow, ActionError> {
        let mut client = self.client.clone();
        let options = LeaseTimeToLiveOptions::new().with_keys();
        let answer = with_timeout(self.timeout, client.lease_time_to_live(lease, Some(options))).await?;
        if answer.ttl() < 0 {
            return Err(ActionError::NotFound);
        }
        Ok(LeaseNow {
            ttl: answer.ttl(),
            granted_ttl: answer.granted_ttl(),
            keys: answer.keys().len(),
        })
    }

    /// Revokes `lease`: etcd deletes every key attached to it.
    pub async fn revoke_lease(&self, lease: i64) -> Result<Revoked, ActionError> {
        let before = self.lease(lease).await?;
        let mut client = self.client.clone();
        let response = with_timeout(self.timeout, client.lease_revoke(lease)).await?;
        Ok(Revoked {
            revision: response.header().map_or(0, |h| h.revision()),
            deleted_keys: before.keys,
        })
    }
}
