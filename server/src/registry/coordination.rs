//! Locks and elections, as etcd's concurrency package writes them.
//!
//! Every contender writes `<name>/<lease id in hex>` under its own lease; the
//! lowest create revision holds the lock (leads the election), the others
//! wait in create-revision order. A lock key's value is empty; an election
//! key's value is the candidate's proposal.

use app::model::LeaseId;

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
}
