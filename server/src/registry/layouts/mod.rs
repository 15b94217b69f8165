//! Registry layouts: one file per framework's key and value format.
//!
//! A layout recognises a key (and, where the key alone is ambiguous, the
//! value's shape) and turns it into an [`Instance`]. A value the layout claims
//! but cannot parse still gives an instance, with `address: None` and an
//! `error`: nothing a service wrote is dropped.

mod dubbo;
mod dubbo_app;
mod go_micro;
mod go_zero;
mod grpc;
mod kitex;
mod kratos;
pub mod moleculer;
pub mod patroni;
mod pattern;
mod rpcx;
mod skydns;
mod tooz;

use std::collections::BTreeMap;

use app::model::{Instance, Layout, LeaseId};

pub use dubbo::Dubbo;
pub use dubbo_app::DubboApp;
pub use go_micro::GoMicro;
pub use go_zero::GoZero;
pub use grpc::Grpc;
pub use kitex::Kitex;
pub use kratos::Kratos;
pub use moleculer::{Moleculer, NodeKey};
pub use patroni::Patroni;
pub use pattern::{Pattern, PatternError};
pub use rpcx::Rpcx;
pub use skydns::Skydns;
pub use tooz::Tooz;

use super::mirror::KeyValue;
use super::text::{key_id, text_and_base64};

/// Why a rule did not take a key: not its shape at all, or nearly (the
/// key looked like the rule's and this condition failed), which the key's
/// explanation shows (`Classifier::explain`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Miss {
    No,
    Near(&'static str),
}

/// What a layout read from a key's value.
#[derive(Debug, Default)]
pub struct Parsed {
    pub endpoints: Vec<String>,
    pub address: Option<String>,
    pub version: Option<String>,
    pub metadata: BTreeMap<String, String>,
}

impl Parsed {
    /// One endpoint, which is the address itself (`host:port`).
    pub fn single(address: String, metadata: BTreeMap<String, String>) -> Self {
        Parsed {
            endpoints: vec![address.clone()],
            address: Some(address),
            version: None,
            metadata,
        }
    }
}

/// Builds the instance for `kv`, of `service`, from what its layout parsed.
pub fn instance(kv: &KeyValue, service: String, layout: Layout, parsed: Result<Parsed, String>) -> Instance {
    let (key, key_base64) = text_and_base64(&kv.key);
    let (value, value_base64) = text_and_base64(&kv.value);
    let (parsed, error) = match parsed {
        Ok(parsed) => (parsed, None),
        Err(error) => (Parsed::default(), Some(error)),
    };
    let address = parsed
        .address
        .or_else(|| parsed.endpoints.iter().find_map(|e| super::text::host_port(e)));
    let declared = declared(layout, &parsed.metadata);
    Instance {
        id: key_id(&kv.key),
        service,
        layout,
        key,
        key_base64,
        address,
        endpoints: parsed.endpoints,
        version: parsed.version,
        metadata: parsed.metadata,
        lease: (kv.lease != 0).then_some(LeaseId(kv.lease)),
        ttl: None,
        granted_ttl: None,
        create_revision: kv.create_revision,
        mod_revision: kv.mod_revision,
        value,
        value_base64,
        error,
        declared,
    }
}

/// What an instance's own registry says when it is registered but must not
/// get traffic, read from the fields its layout puts into the metadata:
/// dubbo-go's `Enable`/`Healthy`, rpcx's `state=inactive`, Kitex's weight 0.
pub fn declared(layout: Layout, metadata: &BTreeMap<String, String>) -> Option<String> {
    let is = |name: &str, value: &str| metadata.get(name).is_some_and(|v| v == value);
    match layout {
        Layout::DubboApp if is("healthy", "false") => Some("unhealthy (Healthy=false)".to_owned()),
        Layout::DubboApp if is("enable", "false") => Some("disabled (Enable=false)".to_owned()),
        Layout::Rpcx if is("state", "inactive") => Some("inactive (state=inactive)".to_owned()),
        Layout::Kitex if is("weight", "0") => Some("no traffic (weight=0)".to_owned()),
        Layout::Patroni => match metadata.get("state").map(String::as_str) {
            Some("running") | None => None,
            Some(state) => Some(format!("not running (state={state})")),
        },
        _ => None,
    }
}

/// A JSON object's string-ish values as metadata: strings as they are, other
/// scalars and nested values as their JSON text.
pub fn metadata_of(value: Option<&serde_json::Value>) -> BTreeMap<String, String> {
    let Some(serde_json::Value::Object(map)) = value else {
        return BTreeMap::new();
    };
    map.iter()
        .map(|(k, v)| {
            let text = match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (k.clone(), text)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instances_their_own_registry_takes_out_of_service_say_so() {
        let rpcx = |value: &str| Rpcx.classify(&KeyValue::sample("/rpcx/Arith/tcp@10.0.0.5:8972", value));
        assert_eq!(
            rpcx("group=a&state=inactive").and_then(|i| i.declared).as_deref(),
            Some("inactive (state=inactive)")
        );
        assert_eq!(rpcx("group=a&state=active").and_then(|i| i.declared), None);

        let kitex = |weight: u32| {
            let value = format!(r#"{{"network":"tcp","address":"10.3.0.4:8888","weight":{weight}}}"#);
            Kitex.classify(&KeyValue::sample("kitex/registry-etcd/echo/10.3.0.4:8888", &value))
        };
        assert_eq!(
            kitex(0).and_then(|i| i.declared).as_deref(),
            Some("no traffic (weight=0)")
        );
        assert_eq!(kitex(10).and_then(|i| i.declared), None);

        let dubbo = |enable: bool, healthy: bool| {
            let value = format!(
                r#"{{"ID":"10.2.0.7:20000","ServiceName":"shop","Host":"10.2.0.7","Port":20000,"Enable":{enable},"Healthy":{healthy}}}"#
            );
            DubboApp.classify(&KeyValue::sample("/services/shop/10.2.0.7:20000", &value))
        };
        assert_eq!(
            dubbo(true, false).and_then(|i| i.declared).as_deref(),
            Some("unhealthy (Healthy=false)")
        );
        assert_eq!(
            dubbo(false, true).and_then(|i| i.declared).as_deref(),
            Some("disabled (Enable=false)")
        );
        assert_eq!(dubbo(true, true).and_then(|i| i.declared), None);
    }
}
