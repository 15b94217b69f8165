//! The hub: fan-out of model changes and of the etcd link state to every
//! WebSocket session.
//!
//! The hub knows nothing of etcd. The [`Store`](crate::registry::Store)
//! publishes an [`Update`] per applied change, already cut into per-topic patch
//! ops and serialized once; sessions receive them through a bounded broadcast
//! channel. A session that falls behind by more than the channel holds is told
//! so (`Lagged`) and answers with fresh snapshots, so the server never buffers
//! without limit for a slow client (DESIGN.md, rule 6). Coalescing of patches
//! while a socket is busy happens per session, see [`crate::http::ws`].

use std::sync::Arc;

use app::model::{EtcdState, PatchOp, Revision, Topic};
use tokio::sync::{broadcast, watch};

/// How many updates a session may fall behind before it is resynced with
/// snapshots instead.
const UPDATE_BUFFER: usize = 4096;

/// One change of the model, as every topic it touches sees it.
#[derive(Debug)]
pub struct Update {
    /// Position in the store's total order of changes; a session drops updates
    /// it already has through a snapshot taken at or after this point.
    pub seq: u64,
    /// The etcd revision the model reflects after this change.
    pub revision: Revision,
    pub patches: Vec<(Topic, Vec<PatchOp>)>,
}

/// The state of the link to etcd, as health and `status` messages report it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub state: EtcdState,
    /// The model matches etcd at `revision` and the watch is live.
    pub synced: bool,
    /// The last error seen on the link while it is not connected.
    pub error: Option<String>,
}

impl Default for Link {
    fn default() -> Self {
        Link {
            state: EtcdState::Reconnecting,
            synced: false,
            error: None,
        }
    }
}

#[derive(Clone)]
pub struct Hub {
    updates: broadcast::Sender<Arc<Update>>,
    link: Arc<watch::Sender<Link>>,
}

impl Default for Hub {
    fn default() -> Self {
        Self::new()
    }
}

impl Hub {
    pub fn new() -> Self {
        let (updates, _) = broadcast::channel(UPDATE_BUFFER);
        let (link, _) = watch::channel(Link::default());
        Hub {
            updates,
            link: Arc::new(link),
        }
    }

    /// Updates published from now on. Subscribe before taking a snapshot, so
    /// that nothing falls between the two.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Update>> {
        self.updates.subscribe()
    }

    /// Sends an update to every session. Never blocks; with no session it is
    /// simply dropped.
    pub fn publish(&self, update: Update) {
        if update.patches.is_empty() {
            return;
        }
        // An error only means nobody is subscribed.
        let _ = self.updates.send(Arc::new(update));
    }

    pub fn link(&self) -> Link {
        self.link.borrow().clone()
    }

    pub fn watch_link(&self) -> watch::Receiver<Link> {
        self.link.subscribe()
    }

    /// Sets the link state; sessions are woken only when it really changed.
    pub fn set_link(&self, link: Link) {
        self.link.send_if_modified(|current| {
            if *current == link {
                false
            } else {
                *current = link;
                true
            }
        });
    }
}
