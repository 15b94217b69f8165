//! The timeline: what happened to instances, leases, locks and elections,
//! derived from each applied revision, kept in a bounded in-memory history.

use std::collections::{BTreeMap, VecDeque};

use app::model::{Event, EventKind, Instance, LeaseId, Revision};
use serde_json::json;

/// How a lease that lost all its keys in one revision ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseEnd {
    /// Its TTL ran out: the holder stopped sending keep-alives.
    Expired,
    /// Leasehold revoked it on an operator's request.
    Revoked,
}

/// Which kind of queue a name is: a lock or an election.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum QueueKind {
    Lock,
    Election,
}

/// An instance that appeared, changed or went.
#[derive(Debug, Clone)]
pub enum InstanceChange {
    Registered(Instance),
    Updated(Instance),
    Deregistered(Instance),
}

/// Facts gathered while applying one revision, turned into events afterwards.
#[derive(Debug, Default)]
pub struct Happenings {
    pub instances: Vec<InstanceChange>,
    /// Queue -> its head (holder or leader key) before this revision.
    pub heads_before: BTreeMap<(QueueKind, String), Option<String>>,
    /// (queue, key) of contenders that joined / left.
    pub joined: Vec<(QueueKind, String, String)>,
    pub left: Vec<(QueueKind, String, String)>,
    /// Lease -> keys deleted from it in this revision.
    pub deleted_by_lease: BTreeMap<i64, Vec<String>>,
}

/// What the events need to know of a queue now.
pub struct QueueNow {
    pub head: Option<String>,
    /// The head's proposal, for elections.
    pub proposal: Option<String>,
}

/// Turns what one revision did into events, in a stable order: lease ends,
/// instances, then locks and elections.
pub fn events_of(
    happenings: &Happenings,
    ended: &BTreeMap<i64, LeaseEnd>,
    queue_now: impl Fn(QueueKind, &str) -> QueueNow,
    revision: Revision,
    at: &str,
) -> Vec<Event> {
    let mut out = Vec::new();
    let event = |kind: EventKind, subject: &str, detail: serde_json::Value| Event {
        revision,
        at: at.to_owned(),
        kind,
        subject: subject.to_owned(),
        detail,
    };

    for (lease, end) in ended {
        let keys = happenings.deleted_by_lease.get(lease).cloned().unwrap_or_default();
        let services: Vec<&str> = happenings
            .instances
            .iter()
            .filter_map(|change| match change {
                InstanceChange::Deregistered(i) if i.lease == Some(LeaseId(*lease)) => Some(i.service.as_str()),
                _ => None,
            })
            .collect();
        let kind = match end {
            LeaseEnd::Expired => EventKind::LeaseExpired,
            LeaseEnd::Revoked => EventKind::LeaseRevoked,
        };
        let hex = LeaseId(*lease).to_string();
        out.push(event(
            kind,
            &hex,
            json!({ "lease": hex, "keys": keys, "services": services }),
        ));
    }

    for change in &happenings.instances {
        let (kind, instance) = match change {
            InstanceChange::Registered(i) => (EventKind::InstanceRegistered, i),
            InstanceChange::Updated(i) => (EventKind::InstanceUpdated, i),
            InstanceChange::Deregistered(i) => {
                if i.lease.is_some_and(|l| ended.contains_key(&l.0)) {
                    continue; // told by the lease's own event
                }
                (EventKind::InstanceDeregistered, i)
            }
        };
        let detail = json!({
            "service": instance.service,
            "key": instance.key,
            "address": instance.address,
            "lease": instance.lease,
        });
        out.push(event(kind, &instance.id, detail));
    }

    for ((queue, name), before) in &happenings.heads_before {
        let now = queue_now(*queue, name);
        let head = now.head.as_deref();
        let head_changed = before.as_deref() != head;
        let joined = happenings.joined.iter().filter(|(q, n, _)| q == queue && n == name);
        let left = happenings.left.iter().filter(|(q, n, _)| q == queue && n == name);
        match queue {
            QueueKind::Lock => {
                for (_, _, key) in left {
                    let was_holder = before.as_deref() == Some(key.as_str());
                    out.push(event(
                        EventKind::LockReleased,
                        name,
                        json!({ "key": key, "was_holder": was_holder }),
                    ));
                }
                if let (true, Some(holder)) = (head_changed, head) {
                    out.push(event(EventKind::LockAcquired, name, json!({ "key": holder })));
                }
                for (_, _, key) in joined.filter(|(_, _, key)| Some(key.as_str()) != head) {
                    out.push(event(EventKind::LockWaiting, name, json!({ "key": key })));
                }
            }
            QueueKind::Election => {
                for (_, _, key) in left {
                    out.push(event(EventKind::CandidateLeft, name, json!({ "key": key })));
                }
                for (_, _, key) in joined.filter(|(_, _, key)| Some(key.as_str()) != head) {
                    out.push(event(EventKind::CandidateJoined, name, json!({ "key": key })));
                }
                if let (true, Some(leader)) = (head_changed, head) {
                    out.push(event(
                        EventKind::LeaderElected,
                        name,
                        json!({ "key": leader, "value": now.proposal }),
                    ));
                }
            }
        }
    }
    out
}

/// The newest events, oldest first, at most `capacity`.
#[derive(Debug)]
pub struct EventLog {
    events: VecDeque<Event>,
    capacity: usize,
}

impl Default for EventLog {
    fn default() -> Self {
        EventLog::new(10_000)
    }
}

impl EventLog {
    pub fn new(capacity: usize) -> Self {
        EventLog {
            events: VecDeque::new(),
            capacity: capacity.max(1),
        }
    }

    pub fn push(&mut self, event: Event) {
        if self.events.len() == self.capacity {
            self.events.pop_front();
        }
        self.events.push_back(event);
    }

    /// Events after revision `since`: the newest `limit` of them, oldest first.
    pub fn since(&self, since: Revision, limit: usize) -> Vec<Event> {
        let newer = self.events.iter().rev().take_while(|e| e.revision > since).take(limit);
        let mut out: Vec<Event> = newer.cloned().collect();
        out.reverse();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(revision: Revision) -> Event {
        Event {
            revision,
            at: String::new(),
            kind: EventKind::InstanceRegistered,
            subject: format!("/k{revision}"),
            detail: json!({}),
        }
    }

    #[test]
    fn the_log_is_bounded_and_answers_the_newest_after_a_revision() {
        let mut log = EventLog::new(3);
        for revision in 1..=5 {
            log.push(event(revision));
        }
        let revisions = |events: Vec<Event>| events.iter().map(|e| e.revision).collect::<Vec<_>>();
        assert_eq!(revisions(log.since(0, 10)), [3, 4, 5]);
        assert_eq!(revisions(log.since(3, 10)), [4, 5]);
        assert_eq!(revisions(log.since(0, 2)), [4, 5]);
        assert_eq!(revisions(log.since(5, 10)), Vec::<Revision>::new());
    }
}
