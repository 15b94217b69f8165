//! The narrow set of things the HTTP layer may ask etcd to do or tell
//! directly. Their effects reach the model through the watch, never by local
//! mutation.

use std::time::Duration;

use app::model::Revision;
use etcd_client::{Client, Compare, CompareOp, LeaseTimeToLiveOptions, Txn, TxnOp, TxnOpResponse};

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

/// The keys etcd has on a lease, and the revision it answered at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseKeys {
    pub now: LeaseNow,
    pub keys: Vec<Vec<u8>>,
    pub revision: Revision,
}

/// How a guarded release of a lock holder's key ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Release {
    /// The key was still the holder, and was deleted at this revision.
    Done(Revision),
    /// The key was gone or another key (another create revision or lease):
    /// nothing was changed; etcd answered at this revision.
    Changed(Revision),
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

    /// The lease as etcd sees it now, with the keys attached to it.
    pub async fn lease_keys(&self, lease: i64) -> Result<LeaseKeys, ActionError> {
        let mut client = self.client.clone();
        let options = LeaseTimeToLiveOptions::new().with_keys();
        let answer = with_timeout(self.timeout, client.lease_time_to_live(lease, Some(options))).await?;
        if answer.ttl() < 0 {
            return Err(ActionError::NotFound);
        }
        Ok(LeaseKeys {
            now: LeaseNow {
                ttl: answer.ttl(),
                granted_ttl: answer.granted_ttl(),
                keys: answer.keys().len(),
            },
            keys: answer.keys().to_vec(),
            revision: answer.header().map_or(0, |h| h.revision()),
        })
    }

    /// Deletes a lock holder's `key` in one transaction, only while it is the
    /// key that held the lock: created at `create_revision` and on `lease`.
    /// A key with the lowest create revision of its queue stays the holder
    /// for as long as it exists, so the comparison is the whole rule.
    pub async fn release_holder(
        &self,
        key: &[u8],
        create_revision: Revision,
        lease: i64,
    ) -> Result<Release, ActionError> {
        let txn = Txn::new()
            .when([
                Compare::create_revision(key.to_vec(), CompareOp::Equal, create_revision),
                Compare::lease(key.to_vec(), CompareOp::Equal, lease),
            ])
            .and_then([TxnOp::delete(key.to_vec(), None)]);
        let mut client = self.client.clone();
        let response = with_timeout(self.timeout, client.txn(txn)).await?;
        let revision = response.header().map_or(0, |h| h.revision());
        let deleted = response
            .op_responses()
            .iter()
            .any(|a| matches!(a, TxnOpResponse::Delete(d) if d.deleted() > 0));
        Ok(if response.succeeded() && deleted {
            Release::Done(revision)
        } else {
            Release::Changed(revision)
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
