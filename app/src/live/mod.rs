//! The live model in the browser: one WebSocket per tab, reconnecting with
//! backoff and resubscribing with `since`, and the reactive state its
//! messages feed.
//!
//! Pages declare what they show with [`Live::watch`]; the client subscribes
//! to the topic while any mounted view wants it and unsubscribes when none
//! does. On the server (SSR) there is no socket: the state stays empty and
//! pages render their "connecting" form, which the browser then hydrates.
//!
//! `socket` holds the WebSocket, `state` the collections the topics fill
//! and how patches change them, and `topics` how each topic's snapshots
//! and patches are applied, one file per topic.

pub mod api;
mod state;
mod topics;

use std::collections::BTreeMap;

use leptos::prelude::*;

pub use state::{remaining, ClusterView, Collection, OpsView, Stamped};
use topics::Change;
pub use topics::{dir_entry_id, History};

use crate::model::{
    Election, ErrorCode, EtcdState, Event, Instance, KvDirEntry, Lease, Lock, MeBody, Revision, ServerMsg,
    ServiceSummary, Storm, Topic,
};

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
    /// The server wants a sign-in (no session, or it ended): no retrying
    /// until the user signs in.
    SignedOut,
}

/// Reactive state fed by the socket. `Copy`: every field is a signal.
#[derive(Clone, Copy)]
pub struct Live {
    pub link: RwSignal<LinkState>,
    /// The server's link to etcd, from `status` messages.
    pub etcd: RwSignal<Option<EtcdState>>,
    /// Why the server's link to etcd is down, in etcd's words, while it is.
    pub etcd_error: RwSignal<Option<String>>,
    /// The newest revision any message carried; goes back only when a
    /// status says so (etcd went back in time).
    pub revision: RwSignal<Revision>,
    /// Milliseconds since the epoch, ticking each second in the browser (0 on
    /// the server): what TTL countdowns and "waiting N s" are computed from.
    pub now_ms: RwSignal<f64>,
    pub cluster: RwSignal<Option<ClusterView>>,
    /// The operations console's view of the members (the `ops` topic, which
    /// the status bar keeps for the alarms).
    pub ops: RwSignal<Option<OpsView>>,
    /// The registry's and the cluster's history (the `metrics` topic).
    pub metrics: RwSignal<History>,
    /// Service name and its history (`metrics:<service>`), for the services
    /// someone is looking at (a few: a vector, no map in the first module).
    pub service_metrics: RwSignal<Vec<(String, History)>>,
    /// The eviction storm while one is on (the `storm` topic, which the
    /// banner on every page keeps).
    pub storm: RwSignal<Option<Storm>>,
    pub services: RwSignal<Collection<ServiceSummary>>,
    /// Service name -> its instances, for the services someone is looking at.
    pub instances: RwSignal<BTreeMap<String, Collection<Stamped<Instance>>>>,
    pub leases: RwSignal<Collection<Stamped<Lease>>>,
    pub locks: RwSignal<Collection<Lock>>,
    pub elections: RwSignal<Collection<Election>>,
    /// Oldest first; `None` until the first snapshot.
    pub events: RwSignal<Option<Vec<Event>>>,
    /// Folder prefix -> its entries (`kv-dir:<prefix>`), for the open folders
    /// of the key tree. Ids: the key's id, or the sub-folder's prefix.
    pub kv_dirs: RwSignal<BTreeMap<String, Collection<KvDirEntry>>>,
    /// Folder prefix -> the error code and words with which the server
    /// refused it (`too_large`, `not_served`).
    pub kv_dir_refused: RwSignal<BTreeMap<String, (ErrorCode, String)>>,
    /// The last `error` message from the server, for the status bar.
    pub last_error: RwSignal<Option<String>>,
    /// Who the server takes this tab for (`GET /api/v1/me`); `None` until it
    /// answers, and destructive controls stay hidden until then.
    pub me: RwSignal<Option<MeBody>>,
    /// The server answered 401: the login form replaces the pages.
    pub signed_out: RwSignal<bool>,
    /// Topic -> number of mounted views that want it.
    wanted: RwSignal<BTreeMap<Topic, usize>>,
}

impl Live {
    /// Creates the state and provides it as context.
    pub fn provide() -> Live {
        let live = Live {
            link: RwSignal::new(LinkState::Connecting),
            etcd: RwSignal::new(None),
            etcd_error: RwSignal::new(None),
            revision: RwSignal::new(0),
            now_ms: RwSignal::new(0.0),
            cluster: RwSignal::new(None),
            ops: RwSignal::new(None),
            metrics: RwSignal::new(History::default()),
            service_metrics: RwSignal::new(Vec::new()),
            storm: RwSignal::new(None),
            services: RwSignal::new(Collection::default()),
            instances: RwSignal::new(BTreeMap::new()),
            leases: RwSignal::new(Collection::default()),
            locks: RwSignal::new(Collection::default()),
            elections: RwSignal::new(Collection::default()),
            events: RwSignal::new(None),
            kv_dirs: RwSignal::new(BTreeMap::new()),
            kv_dir_refused: RwSignal::new(BTreeMap::new()),
            last_error: RwSignal::new(None),
            me: RwSignal::new(None),
            signed_out: RwSignal::new(false),
            wanted: RwSignal::new(BTreeMap::new()),
        };
        provide_context(live);
        live
    }

    pub fn get() -> Live {
        expect_context::<Live>()
    }

    /// Asks who this is while opening the socket, and starts the clock.
    /// Browser only; nothing on the server.
    pub fn start(self) {
        #[cfg(feature = "hydrate")]
        {
            self.now_ms.set(js_sys::Date::now());
            let tick = move || self.now_ms.set(js_sys::Date::now());
            if let Err(error) = set_interval_with_handle(tick, std::time::Duration::from_secs(1)) {
                warn(&format!("no clock: {error:?}"));
            }
            // Both at once: the socket does not wait for the answer. Without a
            // session the server refuses the socket too, and once `/me` has
            // said 401 it is not tried again.
            leptos::task::spawn_local(async move {
                self.ask_who().await;
            });
            socket::start(self);
        }
    }

    /// `GET /api/v1/me`: records who this is, or that a sign-in is needed.
    /// Returns whether the server may be talked to (false only on 401).
    pub async fn ask_who(self) -> bool {
        match api::get_json::<MeBody>("/api/v1/me").await {
            Ok(me) => {
                self.me.set(Some(me));
                true
            }
            Err(failure) if failure.is_unauthenticated() => {
                self.signed_out.set(true);
                self.link.set(LinkState::SignedOut);
                false
            }
            Err(failure) => {
                warn(&format!("who am I: {failure}"));
                true
            }
        }
    }

    /// Signs out (`POST /api/v1/logout`) and starts afresh on the login form.
    pub async fn sign_out(self) -> Result<(), api::ApiFailure> {
        api::post_json::<serde_json::Value>("/api/v1/logout", &serde_json::json!({})).await?;
        reload();
        Ok(())
    }

    /// Whether destructive controls (revoke, break lock) may be offered:
    /// only once the server said so.
    pub fn may_revoke(self) -> bool {
        self.me.with(|me| me.as_ref().is_some_and(MeBody::may_revoke))
    }

    /// Why destructive controls are not offered, once the server has said who
    /// this is; `None` while it may, or while the answer is pending.
    pub fn revoke_refusal(self) -> Option<&'static str> {
        self.me.with(|me| match me {
            Some(me) if me.read_only => Some("This Leasehold runs read-only: nothing can be revoked through it."),
            Some(me) if !me.may_revoke() => Some("Your role may look but not revoke; an operator can."),
            _ => None,
        })
    }

    /// Why keys cannot be written from this tab, once the server has said
    /// who this is (and while it has not); `None` when they can.
    pub fn write_refusal(self) -> Option<&'static str> {
        self.me.with(|me| match me {
            None => Some("Checking whether you may change keys…"),
            Some(me) if me.read_only => Some("This Leasehold runs read-only: keys cannot be changed through it."),
            Some(me) if !me.may_revoke() => Some("Your role may look but not change keys; an operator can."),
            Some(_) => None,
        })
    }

    /// Keeps `topic` subscribed while the calling view is mounted.
    /// Only the first view to want a topic subscribes: the others share
    /// what its snapshot and patches keep current.
    pub fn watch(self, topic: Topic) {
        let added = topic.clone();
        let mut first = false;
        self.wanted.update(|w| {
            let count = w.entry(added).or_default();
            *count += 1;
            first = *count == 1;
        });
        #[cfg(feature = "hydrate")]
        if first {
            socket::subscribe(std::slice::from_ref(&topic), None);
        }
        let _ = first;
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
                match &topic {
                    Topic::Service(name) => {
                        self.instances.try_update(|all| all.remove(name));
                    }
                    Topic::ServiceMetrics(name) => {
                        self.service_metrics.try_update(|all| all.retain(|(n, _)| n != name));
                    }
                    Topic::Metrics => {
                        self.metrics.try_set(History::default());
                    }
                    Topic::KvDir(prefix) => {
                        self.kv_dirs.try_update(|all| all.remove(prefix));
                        self.kv_dir_refused.try_update(|all| all.remove(prefix));
                    }
                    _ => {}
                }
            }
            let _ = gone;
        });
    }

    /// Topics currently wanted by some view.
    pub fn wanted_topics(self) -> Vec<Topic> {
        self.wanted.with_untracked(|w| w.keys().cloned().collect())
    }

    /// Whether the topic's snapshot is still arriving in parts.
    pub fn is_partial(self, topic: &Topic) -> bool {
        match topic {
            Topic::Service(name) => self
                .instances
                .with_untracked(|all| all.get(name).is_some_and(|c| c.partial)),
            Topic::Services => self.services.with_untracked(|c| c.partial),
            Topic::Leases => self.leases.with_untracked(|c| c.partial),
            Topic::Locks => self.locks.with_untracked(|c| c.partial),
            Topic::Elections => self.elections.with_untracked(|c| c.partial),
            Topic::KvDir(prefix) => self
                .kv_dirs
                .with_untracked(|all| all.get(prefix).is_some_and(|c| c.partial)),
            Topic::Cluster
            | Topic::Ops
            | Topic::Metrics
            | Topic::ServiceMetrics(_)
            | Topic::Storm
            | Topic::Events
            | Topic::Kv(_) => false,
        }
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
            ServerMsg::Snapshot {
                topic,
                revision,
                data,
                more,
            } => {
                self.see_revision(revision);
                topics::apply(self, topic, Change::Snapshot { data: data.get(), more });
            }
            ServerMsg::Patch {
                topic,
                revision,
                ops,
                more,
            } => {
                self.see_revision(revision);
                topics::apply(self, topic, Change::Patch { ops, more });
            }
            ServerMsg::Status { etcd, revision, error } => {
                // The status is the server's own revision, sent after
                // everything before it: it may go back (etcd restored from a
                // backup, and the server listed it again).
                self.revision.set(revision);
                self.etcd.set(Some(etcd));
                self.etcd_error.set(error);
            }
            ServerMsg::Pong { revision } => self.see_revision(revision),
            ServerMsg::Error { code, message, topic } => {
                warn(&format!("server error {code}: {message}"));
                match topic {
                    // A folder the tree asked for: it says why in place.
                    Some(Topic::KvDir(prefix)) => self.kv_dir_refused.update(|all| {
                        all.insert(prefix, (code, message));
                    }),
                    _ => self.last_error.set(Some(message)),
                }
            }
        }
    }
}

fn decode<T: serde::de::DeserializeOwned>(raw: &str, what: &str) -> Option<T> {
    match serde_json::from_str(raw) {
        Ok(value) => Some(value),
        Err(error) => {
            warn(&format!("malformed {what} from the server ignored: {error}"));
            None
        }
    }
}

/// Loads the page again: after signing in or out, everything starts afresh
/// with the new session.
pub fn reload() {
    #[cfg(feature = "hydrate")]
    if let Some(window) = web_sys::window() {
        if let Err(error) = window.location().reload() {
            warn(&format!("cannot reload: {error:?}"));
        }
    }
}

/// A warning in the browser console (and nowhere on the server).
pub(crate) fn warn(text: &str) {
    #[cfg(feature = "hydrate")]
    web_sys::console::warn_1(&text.into());
    #[cfg(not(feature = "hydrate"))]
    let _ = text;
}
