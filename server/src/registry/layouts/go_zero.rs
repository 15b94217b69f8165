//! go-zero (`core/discov`): key `<key>/<lease id in decimal>` under that very
//! lease, value a bare `host:port`. No fixed prefix: recognised by the
//! decimal lease suffix and the value's shape.

use app::model::{Instance, Layout};

use super::{instance, Parsed};
use crate::registry::mirror::KeyValue;
use crate::registry::text::host_port;

#[derive(Debug, Clone, Copy, Default)]
pub struct GoZero;

impl GoZero {
    pub fn classify(&self, kv: &KeyValue) -> Option<Instance> {
        if kv.lease == 0 {
            return None;
        }
        let key = std::str::from_utf8(&kv.key).ok()?;
        let (service, suffix) = key.rsplit_once('/')?;
        if service.is_empty() || suffix != kv.lease.to_string() {
            return None;
        }
        let value = std::str::from_utf8(&kv.value).ok()?.trim();
        let address = host_port(value).filter(|_| !value.contains(['{', ' ', '/']))?;
        let parsed = Parsed::single(address, Default::default());
        Some(instance(kv, service.to_owned(), Layout::GoZero, Ok(parsed)))
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
