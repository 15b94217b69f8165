//! The hub: fan-out of model changes and of the etcd link state to every
//! WebSocket session.
//!
//! The hub knows nothing of etcd, nor of sockets. The [`Store`](crate::registry::Store)
//! publishes an [`Update`] per applied change, already cut into per-topic patch
//! ops and serialized once; sessions receive them through a bounded broadcast
//! channel. A session that falls behind by more than the channel holds is told
//! so (`Lagged`) and answers with fresh snapshots, so the server never buffers
//! without limit for a slow client (ARCHITECTURE.md, rule 5;
//! docs/websocket.md, "Busy clients").
//!
//! What one client sees is its [`Feed`]: its subscriptions,
//! snapshots, resume with `since`, the coalescing of patches while its socket
//! is busy and the limits it is held to, as frames ready to write. The feed
//! knows no transport; [`crate::http::ws`] upgrades the request and pumps a
//! socket through it.

use std::collections::VecDeque;
use std::ops::Range;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use app::model::{EtcdState, PatchOp, Revision, Topic};
use tokio::sync::{broadcast, watch};

pub mod feed;
mod snapshot;
mod text;
pub use feed::Feed;
pub use snapshot::{patch_op, Snapshot, SnapshotError, Snapshots};
pub use text::Text;

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
    /// Each of `patches` as a `patch` message, written by the first session
    /// that needs it and shared by every other: with many clients on a topic
    /// the ops are serialized once, not once per socket.
    encoded: Box<[OnceLock<Option<Encoded>>]>,
}

/// One topic's patch of an update, serialized.
#[derive(Debug)]
pub struct Encoded {
    /// The whole `patch` message.
    pub text: Text,
    /// Where each op's JSON lies in `text`, in order, so patches merged from
    /// several updates are assembled from the pieces instead of serialized again.
    pub ops: Vec<Range<usize>>,
}

impl Update {
    pub fn new(seq: u64, revision: Revision, patches: Vec<(Topic, Vec<PatchOp>)>) -> Self {
        let encoded = patches.iter().map(|_| OnceLock::new()).collect();
        Update {
            seq,
            revision,
            patches,
            encoded,
        }
    }

    /// `patches[index]` serialized; `None` if it cannot be (logged once).
    pub fn encoded(&self, index: usize) -> Option<&Encoded> {
        let (topic, ops) = self.patches.get(index)?;
        self.encoded
            .get(index)?
            .get_or_init(|| match encode(topic, self.revision, ops) {
                Ok(encoded) => Some(encoded),
                Err(error) => {
                    tracing::error!(%error, "cannot serialize a patch");
                    None
                }
            })
            .as_ref()
    }
}

/// Writes a `patch` message from already serialized ops (each a JSON object),
/// the same message `ServerMsg::Patch` serializes to. Returns the text and
/// where each op lies in it.
pub fn patch_text<'a>(
    topic: &Topic,
    revision: Revision,
    ops: impl IntoIterator<Item = &'a str>,
) -> serde_json::Result<(String, Vec<Range<usize>>)> {
    let mut text = format!(
        r#"{{"type":"patch","topic":{},"revision":{revision},"ops":["#,
        serde_json::to_string(topic)?
    );
    let mut ranges = Vec::new();
    for (n, op) in ops.into_iter().enumerate() {
        if n > 0 {
            text.push(',');
        }
        let start = text.len();
        text.push_str(op);
        ranges.push(start..text.len());
    }
    text.push_str("]}");
    Ok((text, ranges))
}

fn encode(topic: &Topic, revision: Revision, ops: &[PatchOp]) -> serde_json::Result<Encoded> {
    let ops = ops
        .iter()
        .map(serde_json::to_string)
        .collect::<serde_json::Result<Vec<String>>>()?;
    let (text, ops) = patch_text(topic, revision, ops.iter().map(String::as_str))?;
    Ok(Encoded { text: text.into(), ops })
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
struct Backlog {
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
    history: Arc<Mutex<Backlog>>,
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

    /// The patches of `topic` published after revision `since` and no later
    /// than update `up_to_seq`, in order, each as (update, index in its
    /// `patches`); `None` when some are no longer known.
    pub fn missed(&self, topic: &Topic, since: Revision, up_to_seq: u64) -> Option<Vec<(Arc<Update>, usize)>> {
        let history = self.history.lock().unwrap_or_else(PoisonError::into_inner);
        if history.floor.is_none_or(|floor| since < floor) {
            return None;
        }
        let missed = history
            .updates
            .iter()
            .filter(|u| u.revision > since && u.seq <= up_to_seq)
            .flat_map(|u| {
                u.patches
                    .iter()
                    .enumerate()
                    .filter(|(_, (t, _))| t == topic)
                    .map(|(index, _)| (u.clone(), index))
            })
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
