//! go-zero (`core/discov`): key `<key>/<lease id in decimal>` under that very
//! lease, value a bare `host:port`. No fixed prefix: recognised by the
//! decimal lease suffix and the value's shape.

use app::model::{Instance, Layout};

use super::{instance, Miss, Parsed};
use crate::registry::mirror::KeyValue;
use crate::registry::text::host_port;

#[derive(Debug, Clone, Copy, Default)]
pub struct GoZero;

impl GoZero {
    pub fn classify(&self, kv: &KeyValue) -> Option<Instance> {
        // The lease-less majority of keys leaves before the near-miss analysis.
        if kv.lease == 0 {
            return None;
        }
        self.probe(kv).ok()
    }

    pub fn probe(&self, kv: &KeyValue) -> Result<Instance, Miss> {
        let key = std::str::from_utf8(&kv.key).map_err(|_| Miss::No)?;
        let (service, suffix) = key.rsplit_once('/').ok_or(Miss::No)?;
        // A long decimal last segment is what go-zero writes: a near miss from here on.
        let decimal = suffix.len() >= 10 && suffix.bytes().all(|b| b.is_ascii_digit());
        let near = |why| if decimal { Miss::Near(why) } else { Miss::No };
        if kv.lease == 0 {
            return Err(near("no lease: go-zero's key ends in its own lease id"));
        }
        if service.is_empty() || suffix != kv.lease.to_string() {
            return Err(near("the last segment is not the key's own lease id in decimal"));
        }
        let value = std::str::from_utf8(&kv.value).map(str::trim).unwrap_or_default();
        let address = host_port(value)
            .filter(|_| !value.contains(['{', ' ', '/']))
            .ok_or(Miss::Near("the value is not a bare host:port"))?;
        let parsed = Parsed::single(address, Default::default());
        Ok(instance(kv, service.to_owned(), Layout::GoZero, Ok(parsed)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_go_zero_writes() {
        let lease = 7587862173640236036_i64;
        let kv = KeyValue::sample(&format!("user.rpc/{lease}"), "10.0.0.9:8080").with_lease(lease);
        let Some(i) = GoZero.classify(&kv) else {
            panic!("not recognised")
        };
        assert_eq!(i.service, "user.rpc");
        assert_eq!(i.layout, Layout::GoZero);
        assert_eq!(i.address.as_deref(), Some("10.0.0.9:8080"));
    }

    #[test]
    fn the_suffix_must_be_the_keys_own_lease_in_decimal() {
        let kv = KeyValue::sample("user.rpc/12345", "10.0.0.9:8080");
        assert!(GoZero.classify(&kv.clone().with_lease(999)).is_none());
        assert!(GoZero.classify(&kv.clone()).is_none(), "no lease");
        assert!(GoZero
            .classify(&KeyValue::sample("user.rpc/12345", "not an address").with_lease(12345))
            .is_none());
    }
}
