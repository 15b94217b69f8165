//! Locks and elections, as etcd's concurrency package writes them.
//!
//! Every contender writes `<name>/<lease id in hex>` under its own lease; the
//! lowest create revision holds the lock (leads the election), the others
//! wait in create-revision order. A lock key's value is empty; an election
//! key's value is the candidate's proposal. [`contender`] reads a key's
//! shape; [`Queues`] keeps every lock's and election's queue in that order.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use app::model::{Candidate, Contender, Election, LeaseId, Lock, Revision};

use super::events::QueueKind;
use super::mirror::KeyValue;

/// `(name, lease)` when `kv` is a lock or election contender: the last path
/// segment is the hex of the key's own lease.
pub fn contender(kv: &KeyValue) -> Option<(String, LeaseId)> {
    if kv.lease == 0 {
        return None;
    }
    let split = kv.key.iter().rposition(|&b| b == b'/')?;
    let (name, suffix) = (&kv.key[..split], &kv.key[split + 1..]);
    if name.is_empty() {
        return None;
    }
    let suffix = std::str::from_utf8(suffix).ok()?;
    // etcd writes the id with %x: lowercase, no leading zeros.
    let lease: LeaseId = suffix.parse().ok()?;
    if lease.0 != kv.lease || lease.to_string() != suffix {
        return None;
    }
    Some((String::from_utf8_lossy(name).into_owned(), lease))
}

/// One contender key, as the index keeps it.
#[derive(Debug, Clone)]
pub struct ContenderEntry {
    /// The lock's or election's name.
    pub name: String,
    /// The candidate's proposal; `None` for a lock.
    pub proposal: Option<String>,
    pub contender: Contender,
}

impl ContenderEntry {
    pub fn queue(&self) -> QueueKind {
        if self.proposal.is_some() {
            QueueKind::Election
        } else {
            QueueKind::Lock
        }
    }
}

/// Every lock's and election's queue, by key id.
#[derive(Debug, Default)]
pub struct Queues {
    contenders: HashMap<String, ContenderEntry>,
    /// name -> (create revision, key id), so iteration is queue order.
    locks: BTreeMap<String, BTreeSet<(Revision, String)>>,
    elections: BTreeMap<String, BTreeSet<(Revision, String)>>,
    /// Each queue's head (key id) and when it became the head.
    heads: HashMap<(QueueKind, String), Head>,
}

/// A queue's head and when this server saw it take the head (`None` when
/// it was the head in what predates the server).
#[derive(Debug, Clone, PartialEq)]
struct Head {
    id: String,
    since: Option<String>,
}

impl Queues {
    fn of(&self, queue: QueueKind) -> &BTreeMap<String, BTreeSet<(Revision, String)>> {
        match queue {
            QueueKind::Lock => &self.locks,
            QueueKind::Election => &self.elections,
        }
    }

    pub fn get(&self, id: &str) -> Option<&ContenderEntry> {
        self.contenders.get(id)
    }

    pub fn get_mut(&mut self, id: &str) -> Option<&mut ContenderEntry> {
        self.contenders.get_mut(id)
    }

    pub fn entries(&self) -> impl Iterator<Item = &ContenderEntry> {
        self.contenders.values()
    }

    /// Puts the key `id` in its queue, behind every key created before it.
    /// The caller then calls [`Queues::note_head`] for its queue.
    pub fn insert(&mut self, id: String, entry: ContenderEntry) {
        let queues = match entry.queue() {
            QueueKind::Lock => &mut self.locks,
            QueueKind::Election => &mut self.elections,
        };
        queues
            .entry(entry.name.clone())
            .or_default()
            .insert((entry.contender.create_revision, id.clone()));
        self.contenders.insert(id, entry);
    }

    /// Takes the key `id` out of its queue; a queue left empty is gone. The
    /// caller then calls [`Queues::note_head`] for its queue.
    pub fn remove(&mut self, id: &str) -> Option<ContenderEntry> {
        let entry = self.contenders.remove(id)?;
        let queues = match entry.queue() {
            QueueKind::Lock => &mut self.locks,
            QueueKind::Election => &mut self.elections,
        };
        if let Some(queue) = queues.get_mut(&entry.name) {
            queue.remove(&(entry.contender.create_revision, id.to_owned()));
            if queue.is_empty() {
                queues.remove(&entry.name);
            }
        }
        Some(entry)
    }

    /// Records that `name`'s head changed at `now` (`None` while loading what
    /// predates the server), once a key's change is whole: a key put again
    /// is taken out and put back, and must keep the time it took the head.
    pub fn note_head(&mut self, queue: QueueKind, name: &str, now: Option<&str>) {
        let head = self.head(queue, name).map(str::to_owned);
        let key = (queue, name.to_owned());
        match head {
            None => {
                self.heads.remove(&key);
            }
            Some(id) => {
                if self.heads.get(&key).is_none_or(|h| h.id != id) {
                    let since = now.map(str::to_owned);
                    self.heads.insert(key, Head { id, since });
                }
            }
        }
    }

    /// When the head of `name` took it, as [`Lock::holder_since`] says.
    fn head_since(&self, queue: QueueKind, name: &str) -> Option<String> {
        self.heads.get(&(queue, name.to_owned()))?.since.clone()
    }

    /// The key id holding the lock (leading the election) `name`.
    pub fn head(&self, queue: QueueKind, name: &str) -> Option<&str> {
        self.of(queue).get(name)?.first().map(|(_, id)| id.as_str())
    }

    fn in_order<'a>(&'a self, ids: &'a BTreeSet<(Revision, String)>) -> impl Iterator<Item = &'a ContenderEntry> {
        ids.iter().filter_map(|(_, id)| self.contenders.get(id))
    }

    /// The lock `name`: its holder, then its waiters in order.
    pub fn lock(&self, name: &str) -> Option<Lock> {
        let mut queue = self.in_order(self.locks.get(name)?).map(|e| e.contender.clone());
        Some(Lock {
            name: name.to_owned(),
            holder: queue.next(),
            holder_since: self.head_since(QueueKind::Lock, name),
            waiters: queue.collect(),
        })
    }

    pub fn locks(&self) -> Vec<Lock> {
        self.locks.keys().filter_map(|name| self.lock(name)).collect()
    }

    /// The election `name`: its leader, then its candidates in order.
    pub fn election(&self, name: &str) -> Option<Election> {
        let mut queue = self.in_order(self.elections.get(name)?).map(|e| Candidate {
            contender: e.contender.clone(),
            value: e.proposal.clone().unwrap_or_default(),
        });
        Some(Election {
            name: name.to_owned(),
            leader: queue.next(),
            leader_since: self.head_since(QueueKind::Election, name),
            candidates: queue.collect(),
        })
    }

    pub fn elections(&self) -> Vec<Election> {
        self.elections.keys().filter_map(|name| self.election(name)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(key: &str, lease: i64) -> KeyValue {
        KeyValue::sample(key, "").with_lease(lease)
    }

    #[test]
    fn contenders_are_keys_named_after_their_own_lease() {
        let lease = 0x694d8b0ee8ec6c0a;
        assert_eq!(
            contender(&kv("jobs/694d8b0ee8ec6c0a", lease)),
            Some(("jobs".to_owned(), LeaseId(lease)))
        );
        assert_eq!(
            contender(&kv("/locks/db/694d8b0ee8ec6c0a", lease)),
            Some(("/locks/db".to_owned(), LeaseId(lease)))
        );
        // Another lease's id, no lease, upper case or no name: not a contender.
        assert_eq!(contender(&kv("jobs/694d8b0ee8ec6c0b", lease)), None);
        assert_eq!(contender(&kv("jobs/694d8b0ee8ec6c0a", 0)), None);
        assert_eq!(contender(&kv("jobs/694D8B0EE8EC6C0A", lease)), None);
        assert_eq!(contender(&kv("/694d8b0ee8ec6c0a", lease)), None);
    }

    fn entry(name: &str, lease: i64, create_revision: Revision, proposal: Option<&str>) -> ContenderEntry {
        ContenderEntry {
            name: name.to_owned(),
            proposal: proposal.map(str::to_owned),
            contender: Contender {
                key: format!("{name}/{lease:x}"),
                lease: LeaseId(lease),
                create_revision,
                ttl: None,
                since: None,
            },
        }
    }

    #[test]
    fn queues_are_in_create_revision_order_whatever_the_order_keys_arrive() {
        let mut queues = Queues::default();
        // Arriving out of order (a relist's diff is in key order, not revision order).
        queues.insert("jobs/c".into(), entry("jobs", 0xc, 30, None));
        queues.insert("jobs/a".into(), entry("jobs", 0xa, 10, None));
        queues.insert("jobs/b".into(), entry("jobs", 0xb, 20, None));
        queues.insert("leader/d".into(), entry("leader", 0xd, 5, Some("me")));
        let holders = |q: &Queues| {
            q.lock("jobs").map(|lock| {
                let mut leases: Vec<i64> = lock.holder.iter().map(|c| c.lease.0).collect();
                leases.extend(lock.waiters.iter().map(|c| c.lease.0));
                leases
            })
        };
        assert_eq!(holders(&queues), Some(vec![0xa, 0xb, 0xc]));
        assert_eq!(queues.head(QueueKind::Lock, "jobs"), Some("jobs/a"));
        // Locks and elections are apart, even for one name.
        assert_eq!(queues.head(QueueKind::Election, "jobs"), None);
        let election = queues.election("leader");
        assert_eq!(election.and_then(|e| e.leader).map(|c| c.value), Some("me".to_owned()));

        // The holder goes: the first waiter holds; the last goes: no lock.
        assert_eq!(queues.remove("jobs/a").map(|e| e.contender.lease.0), Some(0xa));
        assert_eq!(holders(&queues), Some(vec![0xb, 0xc]));
        queues.remove("jobs/b");
        queues.remove("jobs/c");
        assert!(queues.lock("jobs").is_none());
        assert_eq!(queues.locks().len(), 0);
        assert!(queues.remove("jobs/c").is_none());
        assert_eq!(queues.elections().len(), 1);
    }

    #[test]
    fn the_holder_counts_from_the_hand_over_not_from_its_key() {
        let mut queues = Queues::default();
        let put = |q: &mut Queues, id: &str, lease: i64, rev: Revision, now: Option<&str>| {
            q.remove(id);
            q.insert(id.to_owned(), entry("jobs", lease, rev, None));
            q.note_head(QueueKind::Lock, "jobs", now);
        };
        let del = |q: &mut Queues, id: &str, now: Option<&str>| {
            q.remove(id);
            q.note_head(QueueKind::Lock, "jobs", now);
        };
        let since = |q: &Queues| q.lock("jobs").and_then(|l| l.holder_since);
        // Held before the server started: nobody knows since when.
        put(&mut queues, "jobs/a", 0xa, 10, None);
        assert_eq!(since(&queues), None);
        // A waiter queues at 10:00; its time in the queue is not holding time.
        put(&mut queues, "jobs/b", 0xb, 20, Some("10:00"));
        assert_eq!(since(&queues), None, "a new waiter changes nothing of the holder");
        // The holder leaves at 10:05: the waiter holds from then.
        del(&mut queues, "jobs/a", Some("10:05"));
        assert_eq!(since(&queues).as_deref(), Some("10:05"));
        // The holder's key put again (out and back in): it keeps its time.
        put(&mut queues, "jobs/b", 0xb, 20, Some("10:06"));
        put(&mut queues, "jobs/c", 0xc, 30, Some("10:06"));
        assert_eq!(since(&queues).as_deref(), Some("10:05"));
        // The last goes: the lock and its record are gone; a new lock starts afresh.
        del(&mut queues, "jobs/b", Some("10:07"));
        del(&mut queues, "jobs/c", Some("10:08"));
        assert!(queues.heads.is_empty());
        put(&mut queues, "jobs/d", 0xd, 40, Some("10:09"));
        assert_eq!(since(&queues).as_deref(), Some("10:09"));
    }
}
