//! Locks and elections, as the clients that people run write them
//! (server/src/registry/layouts/CLIENTS.md has the record of each).
//!
//! etcd's concurrency package (Go, `etcdctl lock` and `elect`): every
//! contender writes `<name>/<lease id in hex>` under its own lease; the
//! lowest create revision holds the lock (leads the election), the others
//! wait in create-revision order. A lock key's value is empty; an election
//! key's value is the candidate's proposal. The npm `etcd3` client's
//! election is the same queue under `election/<name>/<lease id in decimal>`.
//!
//! Other libraries' locks are one key on one lease, and their waiters only
//! retry, keeping no key ([`held`]): python-etcd3's `/locks/<name>` and
//! tooz's `/tooz/locks<name>`, each holding a 16-byte UUID. Such a lock has a
//! holder and never a visible queue. Patroni's cluster leader is such an
//! election: `/service/<scope>/leader` holds the leader's name on its
//! node's lease, and the other members only try to create it.
//!
//! [`contender`] reads a key's shape; [`Queues`] keeps every lock's and
//! election's queue in create-revision order.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use app::model::{Candidate, Contender, Election, LeaseId, Lock, Revision};

use super::events::QueueKind;
use super::layouts::Miss;
use super::mirror::KeyValue;

/// Where the npm `etcd3` client's elections are (`Election.prefix`, fixed).
pub const NPM_ELECTION_PREFIX: &[u8] = b"election/";

/// `(name, lease)` when `kv` is a lock or election contender: the last path
/// segment is the hex of the key's own lease (etcd's concurrency package),
/// or its decimal under `election/` (the npm `etcd3` client; elsewhere a
/// decimal suffix is go-zero's, whose values are addresses).
pub fn contender(kv: &KeyValue) -> Option<(String, LeaseId)> {
    // Every watched key passes here; most have no lease, and only an
    // explanation wants to know how near they came.
    if kv.lease == 0 {
        return None;
    }
    probe_contender(kv).ok()
}

/// [`contender`], saying why not: a near miss when the last segment looks
/// like a lease id (8 or more hex digits, or decimal under `election/`) that
/// is not the key's own.
pub fn probe_contender(kv: &KeyValue) -> Result<(String, LeaseId), Miss> {
    let split = kv.key.iter().rposition(|&b| b == b'/').ok_or(Miss::No)?;
    let (name, suffix) = (&kv.key[..split], &kv.key[split + 1..]);
    let suffix = std::str::from_utf8(suffix).map_err(|_| Miss::No)?;
    let npm = kv.key.starts_with(NPM_ELECTION_PREFIX);
    let looks = (suffix.len() >= 8 && suffix.bytes().all(|b| b.is_ascii_hexdigit()))
        || (npm && !suffix.is_empty() && suffix.bytes().all(|b| b.is_ascii_digit()));
    let near = |why| if looks { Miss::Near(why) } else { Miss::No };
    if kv.lease == 0 {
        return Err(near(
            "no lease: a contender's key is on the lease its last segment names",
        ));
    }
    if name.is_empty() {
        return Err(near("no name before the lease id"));
    }
    let lease = LeaseId(kv.lease);
    // etcd writes the id with %x: lowercase, no leading zeros.
    let hex = lease.to_string() == suffix;
    let decimal = npm && kv.lease.to_string() == suffix;
    if !(hex || decimal) {
        return Err(near(
            "the last segment is not the key's own lease id (hex, or decimal under election/)",
        ));
    }
    Ok((String::from_utf8_lossy(name).into_owned(), lease))
}

/// python-etcd3's lock keys: `/locks/<name>` (`Lock.lock_prefix`).
const PYTHON_ETCD3_LOCKS: &[u8] = b"/locks/";
/// tooz's lock keys: `/tooz/locks` and the name, with no `/` between.
const TOOZ_LOCKS: &[u8] = b"/tooz/locks";
/// Patroni's keys: `/service/<scope>/...` (its default namespace).
pub const PATRONI_PREFIX: &[u8] = b"/service/";

/// A lock or an election that one key on one lease holds, its waiters or
/// candidates keeping no key ([`held`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    /// The whole key.
    pub name: String,
    pub lease: LeaseId,
    /// The leader's value for an election (Patroni's: the member's name);
    /// `None` for a lock.
    pub proposal: Option<String>,
    pub library: &'static str,
}

/// The lock or election `kv` holds when it is one key on one lease whose
/// contenders keep no key: python-etcd3's `/locks/<name>` holding a
/// version-1 UUID's 16 bytes, tooz's `/tooz/locks<name>` holding a
/// version-4 UUID's, or Patroni's `/service/<scope>/leader` (with Citus, the
/// group's `/service/<scope>/<group>/leader`) holding the leader's name. An
/// `etcdctl lock /locks/x` contender (`/locks/x/<hex lease>`) is read by
/// [`contender`] first.
pub fn held(kv: &KeyValue) -> Option<Held> {
    // As in `contender`: the lease-less majority leaves at once.
    if kv.lease == 0 {
        return None;
    }
    probe_held(kv).ok()
}

/// [`held`], saying why not: a near miss for a key of one of these shapes
/// without a lease, or whose value is not the library's.
pub fn probe_held(kv: &KeyValue) -> Result<Held, Miss> {
    let under = |prefix: &[u8]| kv.key.len() > prefix.len() && kv.key.starts_with(prefix);
    let (library, proposal) = if under(PYTHON_ETCD3_LOCKS) {
        if !is_uuid(&kv.value, 1) {
            return Err(Miss::Near("a python-etcd3 lock holds a version-1 UUID's 16 bytes"));
        }
        ("python-etcd3", None)
    } else if under(TOOZ_LOCKS) {
        if !is_uuid(&kv.value, 4) {
            return Err(Miss::Near("a tooz lock holds a version-4 UUID's 16 bytes"));
        }
        ("tooz", None)
    } else if is_patroni_leader(&kv.key) {
        if kv.value.is_empty() {
            return Err(Miss::Near("Patroni's leader key holds the leader's name"));
        }
        ("patroni", Some(String::from_utf8_lossy(&kv.value).into_owned()))
    } else {
        return Err(Miss::No);
    };
    if kv.lease == 0 {
        return Err(Miss::Near("no lease: the holder's key is on its lease"));
    }
    Ok(Held {
        name: String::from_utf8_lossy(&kv.key).into_owned(),
        lease: LeaseId(kv.lease),
        proposal,
        library,
    })
}

/// `/service/<scope>/leader` or `/service/<scope>/<group>/leader`.
fn is_patroni_leader(key: &[u8]) -> bool {
    let Some(rest) = key.strip_prefix(PATRONI_PREFIX) else {
        return false;
    };
    let Some(scope) = rest.strip_suffix(b"/leader") else {
        return false;
    };
    let segments = scope.split(|&b| b == b'/').count();
    !scope.is_empty() && segments <= 2 && scope.split(|&b| b == b'/').all(|s| !s.is_empty())
}

/// `bytes` are a UUID of `version` in its 16-byte form (RFC 9562: the
/// version in the high nibble of byte 6, the variant `10` in byte 8).
fn is_uuid(bytes: &[u8], version: u8) -> bool {
    bytes.len() == 16 && bytes[6] >> 4 == version && bytes[8] >> 6 == 0b10
}

/// One contender key, as the index keeps it.
#[derive(Debug, Clone)]
pub struct ContenderEntry {
    /// The lock's or election's name.
    pub name: String,
    /// The candidate's proposal; `None` for a lock.
    pub proposal: Option<String>,
    /// The library of a lock or election whose contenders keep no key ([`held`]).
    pub holder_only: Option<&'static str>,
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
        let ids = self.locks.get(name)?;
        let holder_only = self.in_order(ids).find_map(|e| e.holder_only).map(str::to_owned);
        let mut queue = self.in_order(ids).map(|e| e.contender.clone());
        Some(Lock {
            name: name.to_owned(),
            holder: queue.next(),
            holder_since: self.head_since(QueueKind::Lock, name),
            waiters: queue.collect(),
            holder_only,
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
        let ids = self.elections.get(name)?;
        let holder_only = self.in_order(ids).find_map(|e| e.holder_only).map(str::to_owned);
        Some(Election {
            name: name.to_owned(),
            leader: queue.next(),
            leader_since: self.head_since(QueueKind::Election, name),
            candidates: queue.collect(),
            holder_only,
        })
    }

    pub fn elections(&self) -> Vec<Election> {
        self.elections.keys().filter_map(|name| self.election(name)).collect()
    }

    /// How many locks and elections there are.
    pub fn counts(&self) -> (usize, usize) {
        (self.locks.len(), self.elections.len())
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

    #[test]
    fn npm_elections_name_the_lease_in_decimal_under_their_prefix_only() {
        // As the npm etcd3 client 1.1.2 wrote it (CLIENTS.md, npm etcd3).
        let lease = 0x7af9a2382c830207;
        assert_eq!(
            contender(&kv("election/e1/8861292103976813063", lease)),
            Some(("election/e1".to_owned(), LeaseId(lease)))
        );
        // The same shape elsewhere is go-zero's (`<service>/<decimal lease>`).
        assert_eq!(contender(&kv("user.rpc/8861292103976813063", lease)), None);
        assert_eq!(contender(&kv("election/e1/8861292103976813064", lease)), None);
    }

    #[test]
    fn single_key_locks_are_told_by_prefix_and_uuid() {
        // uuid1 (python-etcd3) and uuid4 (tooz) bytes, as the libraries wrote them.
        let uuid1 = [
            0x4d, 0x10, 0x88, 0x22, 0xee, 0x84, 0x11, 0xf1, 0x86, 0xee, 0x02, 0xfc, 0, 0, 0, 1,
        ];
        let uuid4 = [
            0x1b, 0x2c, 0x3d, 0x4e, 0x5f, 0x60, 0x41, 0x72, 0x93, 0xa4, 0xb5, 0xc6, 0xd7, 0xe8, 0xf9, 0x0a,
        ];
        let with = |key: &str, value: &[u8], lease: i64| KeyValue {
            value: value.to_vec(),
            ..kv(key, lease)
        };
        let lock = |name: &str, lease: i64, library| Held {
            name: name.to_owned(),
            lease: LeaseId(lease),
            proposal: None,
            library,
        };
        assert_eq!(
            held(&with("/locks/jobs", &uuid1, 7)),
            Some(lock("/locks/jobs", 7, "python-etcd3"))
        );
        assert_eq!(
            held(&with("/tooz/locksmylock", &uuid4, 8)),
            Some(lock("/tooz/locksmylock", 8, "tooz"))
        );
        // Another UUID version, no lease, a text value or no name: not a lock.
        assert_eq!(held(&with("/locks/jobs", &uuid4, 7)), None);
        assert_eq!(held(&with("/tooz/locksmylock", &uuid1, 8)), None);
        assert_eq!(held(&with("/locks/jobs", &uuid1, 0)), None);
        assert_eq!(held(&with("/locks/jobs", b"0123456789abcdef", 7)), None);
        assert_eq!(held(&with("/locks/", &uuid1, 7)), None);
    }

    #[test]
    fn patroni_leaders_are_elections_held_by_one_key() {
        // As Patroni 4.1.5's etcd3 DCS wrote it (CLIENTS.md, Patroni).
        let leader = |key: &str, value: &str, lease: i64| held(&KeyValue::sample(key, value).with_lease(lease));
        assert_eq!(
            leader("/service/demo/leader", "pg1", 9),
            Some(Held {
                name: "/service/demo/leader".to_owned(),
                lease: LeaseId(9),
                proposal: Some("pg1".to_owned()),
                library: "patroni",
            })
        );
        // A Citus group's leader.
        assert!(leader("/service/demo/1/leader", "pg1", 9).is_some());
        // No lease (a stale copy), no name, nothing between, or deeper: not Patroni's.
        assert_eq!(leader("/service/demo/leader", "pg1", 0), None);
        assert_eq!(leader("/service/demo/leader", "", 9), None);
        assert_eq!(leader("/service//leader", "pg1", 9), None);
        assert_eq!(leader("/service/leader", "pg1", 9), None);
        assert_eq!(leader("/service/a/b/c/leader", "pg1", 9), None);
    }

    fn entry(name: &str, lease: i64, create_revision: Revision, proposal: Option<&str>) -> ContenderEntry {
        ContenderEntry {
            name: name.to_owned(),
            proposal: proposal.map(str::to_owned),
            holder_only: None,
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
