//! What a client asks of its feed: `subscribe` (with `since` to resume),
//! `unsubscribe` and `ping`, each held to the feed's limits; and what it is
//! told when it asks wrong.

use std::ops::Deref;

use app::model::{within_prefixes, ClientMsg, Revision, Topic};

use super::pending::Pending;
use super::replies::{Flooded, Refusal};
use super::{
    Close, Feed, FromClient, Snapshots, BAD_MESSAGE_LIMIT, BAD_MESSAGE_WINDOW, CLOSE_POLICY, MAX_KV_TOPICS, MAX_TOPICS,
};

impl<S: Snapshots> Feed<S> {
    pub(super) fn on_client<T: Deref<Target = str>>(&mut self, message: FromClient<T>) {
        match message {
            FromClient::Text(text) => self.on_text(&text),
            FromClient::Binary => self.bad_message("messages must be JSON text frames".to_owned()),
        }
    }

    fn on_text(&mut self, text: &str) {
        match serde_json::from_str::<ClientMsg>(text) {
            Ok(ClientMsg::Subscribe { topics, since }) => {
                for topic in topics {
                    if self.close.is_some() {
                        break;
                    }
                    self.subscribe(topic, since);
                }
                // A resume may bring more than a busy client may hold.
                self.bound_pending_bytes();
            }
            Ok(ClientMsg::Unsubscribe { topics }) => {
                for topic in topics {
                    if self.topics.remove(&topic).is_some() {
                        self.hub.unwatch_topic(&topic);
                    }
                }
            }
            Ok(ClientMsg::Ping) => self.replies.ping(),
            Err(error) => self.bad_message(format!("malformed message: {error}")),
        }
    }

    fn subscribe(&mut self, topic: Topic, since: Option<Revision>) {
        if let Topic::Kv(prefix) | Topic::KvDir(prefix) = &topic {
            if !self.mirrors(prefix) {
                let message = format!(
                    "{topic}: this Leasehold mirrors only keys under {:?}; subscribe to a prefix inside them",
                    self.options.mirrored
                );
                return self.refuse(Refusal::NotServed, message, Some(topic));
            }
        }
        if let Some(message) = self.over_topic_limits(&topic) {
            return self.refuse(Refusal::TooManyTopics, message, Some(topic));
        }
        let resumed = since.and_then(|since| self.resume(&topic, since));
        if !self.topics.contains_key(&topic) {
            self.hub.watch_topic(&topic);
        }
        let state = self.topics.entry(topic).or_default();
        match resumed {
            Some((floor, pending)) => {
                state.floor = floor;
                state.needs_snapshot = false;
                state.pending = Some(pending);
            }
            None => {
                state.needs_snapshot = true;
                state.pending = None;
            }
        }
    }

    /// Whether keys under `prefix` are in what this server mirrors (all of
    /// them when it mirrors every key), by the rule the configuration routes
    /// also keep ([`within_prefixes`]).
    fn mirrors(&self, prefix: &str) -> bool {
        within_prefixes(&self.options.mirrored, prefix.as_bytes())
    }

    /// What a client that had `topic` at revision `since` missed, as one
    /// pending patch, if the hub still knows all of it. Topics that also
    /// change between revisions (the cluster and its console, the history and
    /// the storm, whose buckets close on the clock, the lease list, and the
    /// timeline, where an operator's action is recorded at the revision the
    /// registry is at: the client cannot tell whether it saw every event of
    /// `since`) always get a snapshot, and so do `kv:<prefix>` and `kv-dir:<prefix>` topics: their
    /// patches are made only while some client watches the prefix, so the
    /// history may lack them.
    fn resume(&self, topic: &Topic, since: Revision) -> Option<(u64, Pending)> {
        if matches!(
            topic,
            Topic::Cluster
                | Topic::Ops
                | Topic::Metrics
                | Topic::ServiceMetrics(_)
                | Topic::Storm
                | Topic::Leases
                | Topic::Events
                | Topic::Kv(_)
                | Topic::KvDir(_)
        ) {
            return None;
        }
        let watermark = self.watermark();
        if since > watermark {
            return None;
        }
        let up_to = self.received.0;
        let mut pending = Pending::new();
        for (update, index) in self.hub.missed(topic, since, up_to)? {
            pending.push(update, index);
        }
        // After these ops the topic is as the model was at `up_to`.
        pending.revision = watermark;
        pending.seq = up_to;
        Some((up_to, pending))
    }

    /// Why subscribing to `topic` (not yet subscribed) would go over this
    /// feed's limits, if it would.
    fn over_topic_limits(&self, topic: &Topic) -> Option<String> {
        if self.topics.contains_key(topic) {
            return None;
        }
        if self.topics.len() >= MAX_TOPICS {
            return Some(format!(
                "{topic}: a socket holds at most {MAX_TOPICS} topics; unsubscribe from one first"
            ));
        }
        let is_kv = |t: &Topic| matches!(t, Topic::Kv(_) | Topic::KvDir(_));
        if is_kv(topic) && self.topics.keys().filter(|t| is_kv(t)).count() >= MAX_KV_TOPICS {
            return Some(format!(
                "{topic}: a socket holds at most {MAX_KV_TOPICS} kv: and kv-dir: topics; unsubscribe from one first (close a folder)"
            ));
        }
        None
    }

    /// Answers a request with an error; closes the client when errors pile
    /// up unread.
    fn refuse(&mut self, why: Refusal, message: String, topic: Option<Topic>) {
        if self.replies.refuse(why, message, topic) == Err(Flooded) && self.close.is_none() {
            self.close = Some(Close {
                code: CLOSE_POLICY,
                reason: "too many unread errors: read the socket",
            });
        }
    }

    fn bad_message(&mut self, message: String) {
        if self.bad_window.elapsed() > BAD_MESSAGE_WINDOW {
            self.bad_window = tokio::time::Instant::now();
            self.bad_messages = 0;
        }
        self.bad_messages += 1;
        if self.bad_messages > BAD_MESSAGE_LIMIT {
            self.close = Some(Close {
                code: CLOSE_POLICY,
                reason: "too many malformed messages",
            });
            return;
        }
        self.refuse(Refusal::BadRequest, message, None);
    }
}
