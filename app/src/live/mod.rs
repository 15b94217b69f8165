//! The live model in the browser: one WebSocket per tab, reconnecting with
//! backoff and resubscribing with `since`, and the reactive state its
//! messages feed.
//!
//! Pages declare what they show with [`Live::watch`]; the client subscribes
//! to the topic while any page wants it and unsubscribes when none does.
//! On the server (SSR) there is no socket: the state stays empty and pages
//! render their "connecting" form, which the browser then hydrates.

use std::collections::BTreeMap;

use leptos::prelude::*;

use crate::model::{ClusterBody, EtcdState, Member, MemberId, PatchOp, Revision, ServerMsg, Topic};

#[cfg(feature = "hydrate")]
mod socket;

/// The browser's link to the Leasehold server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    Connecting,
    Open,
    /// Lost; the next attempt is `attempt` (1 = first retry).
    Retrying {
        attempt: u32,
    },
}

/// The cluster as the `cluster` topic describes it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ClusterView {
    pub cluster_id: Option<MemberId>,
    pub members: BTreeMap<MemberId, Member>,
}

impl ClusterView {
    /// Members sorted by name, for display.
    pub fn sorted(&self) -> Vec<Member> {
        let mut members: Vec<Member> = self.members.values().cloned().collect();
        members.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
        members
    }

    pub fn leader(&self) -> Option<&Member> {
        self.members.values().find(|m| m.is_leader)
    }
}

/// Reactive state fed by the socket. `Copy`: every field is a signal.
#[derive(Clone, Copy)]
pub struct Live {
    pub link: RwSignal<LinkState>,
    /// The server's link to etcd, from `status` messages.
    pub etcd: RwSignal<Option<EtcdState>>,
    /// The newest revision any message carried; never goes backwards.
    pub revision: RwSignal<Revision>,
    pub cluster: RwSignal<Option<ClusterView>>,
    /// The last `error` message from the server, for the status bar.
    pub last_error: RwSignal<Option<String>>,
    /// Topic -> number of mounted views that want it.
    wanted: RwSignal<BTreeMap<Topic, usize>>,
}

impl Live {
    /// Creates the state and provides it as context.
    pub fn provide() -> Live {
        let live = Live {
            link: RwSignal::new(LinkState::Connecting),
            etcd: RwSignal::new(None),
            revision: RwSignal::new(0),
            cluster: RwSignal::new(None),
            last_error: RwSignal::new(None),
            wanted: RwSignal::new(BTreeMap::new()),
        };
        provide_context(live);
        live
    }

    pub fn get() -> Live {
        expect_context::<Live>()
    }

    /// Opens the socket (browser only; nothing on the server).
    pub fn start(self) {
        #[cfg(feature = "hydrate")]
        socket::start(self);
    }

    /// Keeps `topic` subscribed while the calling view is mounted.
    pub fn watch(self, topic: Topic) {
        let added = topic.clone();
        self.wanted.update(|w| *w.entry(added).or_default() += 1);
        #[cfg(feature = "hydrate")]
        socket::subscribe(std::slice::from_ref(&topic));
        on_cleanup(move || {
            let mut gone = false;
            self.wanted.try_update(|w| {
                if let Some(count) = w.get_mut(&topic) {
                    *count -= 1;
                    if *count == 0 {
                        w.remove(&topic);
                        gone = true;
                    }
                }
            });
            #[cfg(feature = "hydrate")]
            if gone {
                socket::unsubscribe(std::slice::from_ref(&topic));
            }
            let _ = gone;
        });
    }

    /// Topics currently wanted by some view.
    pub fn wanted_topics(self) -> Vec<Topic> {
        self.wanted.with_untracked(|w| w.keys().cloned().collect())
    }

    fn see_revision(self, revision: Revision) {
        if revision > self.revision.get_untracked() {
            self.revision.set(revision);
        }
    }

    /// Applies one message from the server. Malformed content is reported to
    /// the console and skipped, never a panic.
    pub fn apply(self, message: ServerMsg) {
        match message {
            ServerMsg::Snapshot { topic, revision, data } => {
                self.see_revision(revision);
                match topic {
                    Topic::Cluster => match serde_json::from_str::<ClusterBody>(data.get()) {
                        Ok(body) => self.cluster.set(Some(ClusterView {
                            cluster_id: body.cluster_id,
                            members: body.members.into_iter().map(|m| (m.id, m)).collect(),
                        })),
                        Err(error) => warn(&format!("bad cluster snapshot: {error}")),
                    },
                    other => warn(&format!("snapshot of a topic this page does not show: {other}")),
                }
            }
            ServerMsg::Patch { topic, revision, ops } => {
                self.see_revision(revision);
                if topic == Topic::Cluster {
                    self.cluster.update(|cluster| {
                        let cluster = cluster.get_or_insert_with(ClusterView::default);
                        for op in ops {
                            apply_member_op(cluster, op);
                        }
                    });
                }
            }
            ServerMsg::Status { etcd, revision } => {
                self.see_revision(revision);
                self.etcd.set(Some(etcd));
            }
            ServerMsg::Pong { revision } => self.see_revision(revision),
            ServerMsg::Error { code, message } => {
                warn(&format!("server error {code}: {message}"));
                self.last_error.set(Some(message));
            }
        }
    }
}

fn apply_member_op(cluster: &mut ClusterView, op: PatchOp) {
    match op {
        PatchOp::Upsert { id, value } => match serde_json::from_str::<Member>(value.get()) {
            Ok(member) => {
                cluster.members.insert(member.id, member);
            }
            Err(error) => warn(&format!("bad member {id}: {error}")),
        },
        PatchOp::Remove { id } => match id.parse::<MemberId>() {
            Ok(id) => {
                cluster.members.remove(&id);
            }
            Err(error) => warn(&format!("bad member id {id}: {error}")),
        },
        PatchOp::Append { .. } => warn("append op on the cluster topic"),
    }
}

/// A warning in the browser console (and nowhere on the server).
pub(crate) fn warn(text: &str) {
    #[cfg(feature = "hydrate")]
    web_sys::console::warn_1(&text.into());
    #[cfg(not(feature = "hydrate"))]
    let _ = text;
}
