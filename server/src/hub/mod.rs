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

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

use app::model::{EtcdState, PatchOp, Revision, Topic};
use tokio::sync::{broadcast, watch};

/// How many updates a session may fall behind before it is resynced with
/// snapshots instead.
const UPDATE_BUFFER: usize = 4096;
/// How many recent updates are kept for clients resuming with `since`.
const HISTORY: usize = 4096;

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

/// Recent updates, for resuming clients.
#[derive(Debug, Default)]
struct History {
    updates: VecDeque<Arc<Update>>,
    /// Every update with a revision above this is still in `updates`;
    /// `None` until the first full list, before which nothing can be resumed.
    floor: Option<Revision>,
}

#[derive(Clone)]
pub struct Hub {
    updates: broadcast::Sender<Arc<Update>>,
    link: Arc<watch::Sender<Link>>,
    /// A std Mutex: held to push or copy a few Arcs, never across an await.
    history: Arc<Mutex<History>>,
    /// Topic -> sessions subscribed to it: what clients are looking at.
    watched: Arc<Mutex<std::collections::BTreeMap<Topic, usize>>>,
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
            history: Arc::default(),
            watched: Arc::default(),
        }
    }

    /// A session started showing `topic`.
    pub fn watch_topic(&self, topic: &Topic) {
        let mut watched = self.watched.lock().unwrap_or_else(PoisonError::into_inner);
        *watched.entry(topic.clone()).or_default() += 1;
    }

    /// A session stopped showing `topic`.
    pub fn unwatch_topic(&self, topic: &Topic) {
        let mut watched = self.watched.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = watched.get_mut(topic) {
            *count -= 1;
            if *count == 0 {
                watched.remove(topic);
            }
        }
    }

    /// Every topic some session is subscribed to.
    pub fn watched_topics(&self) -> Vec<Topic> {
        let watched = self.watched.lock().unwrap_or_else(PoisonError::into_inner);
        watched.keys().cloned().collect()
    }

    /// The prefixes of the `kv:<prefix>` topics some session is subscribed to.
    pub fn kv_prefixes(&self) -> Vec<String> {
        self.prefixes_of(|topic| match topic {
            Topic::Kv(prefix) => Some(prefix),
            _ => None,
        })
    }

    /// The prefixes of the `kv-dir:<prefix>` topics some session is subscribed to.
    pub fn kv_dir_prefixes(&self) -> Vec<String> {
        self.prefixes_of(|topic| match topic {
            Topic::KvDir(prefix) => Some(prefix),
            _ => None,
        })
    }

    fn prefixes_of(&self, prefix: impl Fn(&Topic) -> Option<&String>) -> Vec<String> {
        let watched = self.watched.lock().unwrap_or_else(PoisonError::into_inner);
        watched.keys().filter_map(prefix).cloned().collect()
    }

    /// Starts the resumable history at `revision`: the state there is the
    /// first full list, and a client older than it must take a snapshot.
    pub fn start_history(&self, revision: Revision) {
        let mut history = self.history.lock().unwrap_or_else(PoisonError::into_inner);
        history.updates.clear();
        history.floor = Some(revision);
    }

    /// The ops of `topic` published after revision `since` and no later than
    /// update `up_to_seq`, in order; `None` when some are no longer known.
    pub fn missed(&self, topic: &Topic, since: Revision, up_to_seq: u64) -> Option<Vec<PatchOp>> {
        let history = self.history.lock().unwrap_or_else(PoisonError::into_inner);
        if history.floor.is_none_or(|floor| since < floor) {
            return None;
        }
        let missed = history
            .updates
            .iter()
            .filter(|u| u.revision > since && u.seq <= up_to_seq)
            .flat_map(|u| u.patches.iter().filter(|(t, _)| t == topic))
            .flat_map(|(_, ops)| ops.iter().cloned())
            .collect();
        Some(missed)
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
        let update = Arc::new(update);
        {
            let mut history = self.history.lock().unwrap_or_else(PoisonError::into_inner);
            history.updates.push_back(update.clone());
            if history.updates.len() > HISTORY {
                if let Some(old) = history.updates.pop_front() {
                    history.floor = history.floor.map(|floor| floor.max(old.revision));
                }
            }
        }
        // An error only means nobody is subscribed.
        let _ = self.updates.send(update);
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
