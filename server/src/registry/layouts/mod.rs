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
mod pattern;
mod rpcx;
mod skydns;

use std::collections::BTreeMap;

use app::model::{Instance, Layout, LeaseId};

pub use dubbo::Dubbo;
pub use dubbo_app::DubboApp;
pub use go_micro::GoMicro;
pub use go_zero::GoZero;
pub use grpc::Grpc;
pub use kitex::Kitex;
pub use kratos::Kratos;
pub use pattern::{Pattern, PatternError};
pub use rpcx::Rpcx;
pub use skydns::Skydns;

use super::mirror::KeyValue;
use super::text::{key_id, text_and_base64};

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
