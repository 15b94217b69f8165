//! The timeline: what happened to instances, leases, locks and elections,
//! derived from each applied revision, kept in a bounded in-memory history.

use std::collections::{BTreeMap, VecDeque};

use app::model::{Event, EventFilter, EventKind, Instance, LeaseId, Revision};
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
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

/// The newest events, in two bounded histories: the registry's own events
/// (`capacity` of them) and operators' actions (`audit`, as many again), so
/// a flood of registrations or lock hand-overs never pushes an operator's
/// action out of reach. A sequence number orders the two as one timeline.
#[derive(Debug)]
pub struct EventLog {
    registry: VecDeque<(u64, Event)>,
    audit: VecDeque<(u64, Event)>,
    capacity: usize,
    next: u64,
    /// The revision of the newest registry event let go to make room (0:
    /// none was): the registry's events after it are all kept.
    dropped_through: Revision,
}

impl Default for EventLog {
    fn default() -> Self {
        EventLog::new(10_000)
    }
}

/// One page of a query: the events oldest first, how many match in all,
/// and the revision to page on from when older ones match.
#[derive(Debug, Clone, PartialEq)]
pub struct EventPage {
    pub events: Vec<Event>,
    pub matched: usize,
    pub next_before: Option<Revision>,
}

impl EventLog {
    pub fn new(capacity: usize) -> Self {
        EventLog {
            registry: VecDeque::new(),
            audit: VecDeque::new(),
            capacity: capacity.max(1),
            next: 0,
            dropped_through: 0,
        }
    }

    pub fn push(&mut self, event: Event) {
        let log = if event.kind == EventKind::Audit {
            &mut self.audit
        } else {
            &mut self.registry
        };
        if log.len() == self.capacity {
            if let Some((_, dropped)) = log.pop_front() {
                if dropped.kind != EventKind::Audit {
                    self.dropped_through = self.dropped_through.max(dropped.revision);
                }
            }
        }
        log.push_back((self.next, event));
        self.next += 1;
    }

    /// Every kept event, newest first.
    fn newest_first(&self) -> impl Iterator<Item = &Event> {
        let mut registry = self.registry.iter().rev().peekable();
        let mut audit = self.audit.iter().rev().peekable();
        std::iter::from_fn(move || {
            let take_audit = match (registry.peek(), audit.peek()) {
                (Some(r), Some(a)) => a.0 > r.0,
                (None, Some(_)) => true,
                _ => false,
            };
            let next = if take_audit { audit.next() } else { registry.next() };
            next.map(|(_, e)| e)
        })
    }

    /// The revision after which every registry event is kept (0: every
    /// event since Leasehold began watching).
    pub fn kept_after(&self) -> Revision {
        self.dropped_through
    }

    /// The kept events of each of `revisions`, newest first, in one pass
    /// over the log: registry events by their revision, operators' actions
    /// by the revision etcd answered their write at (`detail.revision`; an
    /// action is recorded at the model's revision then, which may be behind).
    pub fn at_revisions(
        &self,
        revisions: &std::collections::HashSet<Revision>,
    ) -> std::collections::HashMap<Revision, Vec<&Event>> {
        let mut found: std::collections::HashMap<Revision, Vec<&Event>> = std::collections::HashMap::new();
        for event in self.newest_first() {
            let revision = match event.kind {
                EventKind::Audit => event.detail["revision"].as_i64(),
                _ => Some(event.revision),
            };
            if let Some(revision) = revision.filter(|r| revisions.contains(r)) {
                found.entry(revision).or_default().push(event);
            }
        }
        found
    }

    /// When the oldest kept event happened.
    pub fn oldest(&self) -> Option<&str> {
        let registry = self.registry.front();
        let audit = self.audit.front();
        let oldest = match (registry, audit) {
            (Some(r), Some(a)) => Some(if a.0 < r.0 { a } else { r }),
            (r, a) => r.or(a),
        };
        oldest.map(|(_, e)| e.at.as_str())
    }

    /// Events after revision `since`: the newest `limit` of them, oldest first.
    pub fn since(&self, since: Revision, limit: usize) -> Vec<Event> {
        self.query(&EventFilter::default(), since, None, limit).events
    }

    /// The newest `limit` events after `since` and before revision `before`
    /// that `filter` lets through, oldest first. A page never splits a
    /// revision: the events of its oldest revision are all in it (a page may
    /// be longer than `limit` by the rest of that revision).
    pub fn query(&self, filter: &EventFilter, since: Revision, before: Option<Revision>, limit: usize) -> EventPage {
        let mut page = Vec::new();
        let mut matched = 0;
        let mut next_before = None;
        for event in self.newest_first() {
            if event.revision <= since {
                break;
            }
            if before.is_some_and(|b| event.revision >= b) || !filter.matches(event) {
                continue;
            }
            matched += 1;
            let whole = page.last().is_some_and(|last: &Event| last.revision != event.revision);
            if page.len() < limit || (!whole && !page.is_empty()) {
                page.push(event.clone());
            } else if next_before.is_none() {
                next_before = page.last().map(|last| last.revision);
            }
        }
        page.reverse();
        EventPage {
            events: page,
            matched,
            next_before,
        }
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

    fn audit(revision: Revision, who: &str) -> Event {
        Event {
            kind: EventKind::Audit,
            detail: json!({"who": who, "action": "revoke_lease"}),
            subject: "694d8b0ee8ec6c0a".to_owned(),
            ..event(revision)
        }
    }

    #[test]
    fn operators_actions_outlive_a_flood_of_registry_events() {
        let mut log = EventLog::new(10);
        log.push(audit(1, "alice"));
        for revision in 2..=1_000 {
            log.push(event(revision));
        }
        let page = log.query(&EventFilter::default(), 0, None, 100);
        let revisions: Vec<Revision> = page.events.iter().map(|e| e.revision).collect();
        let mut expected = vec![1];
        expected.extend(991..=1_000);
        assert_eq!(revisions, expected, "the action, then the newest registry events");
        assert_eq!(page.matched, 11);
        let who = EventFilter::from_pairs([("q", "ALICE")]).unwrap_or_default();
        assert_eq!(log.query(&who, 0, None, 10).events.len(), 1);
        assert_eq!(log.oldest(), Some(""), "the action is the oldest kept");
    }

    #[test]
    fn pages_go_back_by_revision_and_never_split_one() {
        let mut log = EventLog::new(100);
        for revision in 1..=5 {
            log.push(event(revision));
            log.push(event(revision));
        }
        let all = EventFilter::default();
        let revisions = |events: &[Event]| events.iter().map(|e| e.revision).collect::<Vec<_>>();
        // Three asked for: the rest of revision 4 comes along.
        let first = log.query(&all, 0, None, 3);
        assert_eq!(revisions(&first.events), [4, 4, 5, 5]);
        assert_eq!((first.matched, first.next_before), (10, Some(4)));
        let second = log.query(&all, 0, first.next_before, 3);
        assert_eq!(revisions(&second.events), [2, 2, 3, 3]);
        let third = log.query(&all, 0, second.next_before, 3);
        assert_eq!(revisions(&third.events), [1, 1]);
        assert_eq!(third.next_before, None);
    }
}
