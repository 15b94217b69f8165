//! dubbo-go application-level service discovery (`registry/servicediscovery`
//! over etcd): key `/services/<application>/<instance id>` (the id is
//! `host:port`), value the JSON of a `DefaultServiceInstance`:
//! `{"ID","ServiceName","Host","Port","Enable","Healthy","Metadata":{..}}`, where
//! `Metadata["dubbo.endpoints"]` is itself JSON text, `[{"port":N,"protocol":"dubbo"}]`.
//!
//! The key shape is shared with operator patterns such as
//! `/services/{service}/{instance}`, so the value decides: only JSON with
//! `ServiceName`, `Host` and `Port` is dubbo-go's; anything else is left to the
//! patterns (README.md, "Registry layouts understood").

use app::model::{Instance, Layout};
use serde::Deserialize;

use super::{instance, metadata_of, Miss, Parsed};
use crate::registry::mirror::KeyValue;
use crate::registry::text::join_host_port;

const PREFIX: &[u8] = b"/services/";

#[derive(Deserialize)]
struct ServiceInstance {
    #[serde(rename = "ServiceName")]
    service_name: String,
    #[serde(rename = "Host")]
    host: String,
    #[serde(rename = "Port")]
    port: u16,
    #[serde(rename = "Enable", default)]
    enable: Option<bool>,
    #[serde(rename = "Healthy", default)]
    healthy: Option<bool>,
    #[serde(rename = "Metadata", default)]
    metadata: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct Endpoint {
    port: u16,
    #[serde(default)]
    protocol: String,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct DubboApp;

impl DubboApp {
    pub fn classify(&self, kv: &KeyValue) -> Option<Instance> {
        self.probe(kv).ok()
    }

    pub fn probe(&self, kv: &KeyValue) -> Result<Instance, Miss> {
        let rest = kv.key.strip_prefix(PREFIX).ok_or(Miss::No)?;
        if !kv.value.windows(13).any(|w| w == b"\"ServiceName\"") {
            return Err(Miss::Near(
                "the value is not dubbo-go's instance JSON (no \"ServiceName\")",
            ));
        }
        let split = rest.iter().position(|&b| b == b'/');
        let (app, id) = split.map_or((rest, &b""[..]), |at| (&rest[..at], &rest[at + 1..]));
        if app.is_empty() || id.is_empty() || id.contains(&b'/') {
            return Err(Miss::Near("the key is not /services/<app>/<host:port>"));
        }
        let found: ServiceInstance =
            serde_json::from_slice(&kv.value).map_err(|_| Miss::Near("the value is not dubbo-go's instance JSON"))?;
        if found.host.is_empty() || found.service_name.is_empty() {
            return Err(Miss::Near("an empty Host or ServiceName"));
        }
        let app = String::from_utf8_lossy(app).into_owned();
        Ok(instance(kv, app, Layout::DubboApp, Ok(parse(found))))
    }
}

fn parse(found: ServiceInstance) -> Parsed {
    let address = join_host_port(&found.host, found.port);
    let mut metadata = metadata_of(found.metadata.as_ref());
    // Every protocol the instance serves, from the endpoints it announces.
    let mut endpoints: Vec<String> = metadata
        .get("dubbo.endpoints")
        .and_then(|text| serde_json::from_str::<Vec<Endpoint>>(text).ok())
        .unwrap_or_default()
        .into_iter()
        .map(|e| {
            let protocol = if e.protocol.is_empty() { "dubbo" } else { &e.protocol };
            format!("{protocol}://{}", join_host_port(&found.host, e.port))
        })
        .collect();
    if endpoints.is_empty() {
        endpoints.push(address.clone());
    }
    for (name, flag) in [("enable", found.enable), ("healthy", found.healthy)] {
        if let Some(flag) = flag {
            metadata.insert(name.to_owned(), flag.to_string());
        }
    }
    Parsed {
        endpoints,
        address: Some(address),
        version: None,
        metadata,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `DefaultServiceInstance` as dubbo-go marshals it.
    const VALUE: &str = r#"{"ID":"10.2.0.7:20000","ServiceName":"shop-app","Host":"10.2.0.7","Port":20000,"Enable":true,"Healthy":true,"Metadata":{"dubbo.endpoints":"[{\"port\":20000,\"protocol\":\"dubbo\"},{\"port\":50052,\"protocol\":\"tri\"}]","dubbo.metadata.revision":"a3f1c0de","dubbo.metadata.storage-type":"local"}}"#;

    #[test]
    fn reads_a_service_instance() {
        let Some(i) = DubboApp.classify(&KeyValue::sample("/services/shop-app/10.2.0.7:20000", VALUE)) else {
            panic!("not recognised")
        };
        assert_eq!(i.service, "shop-app");
        assert_eq!(i.layout, Layout::DubboApp);
        assert_eq!(i.address.as_deref(), Some("10.2.0.7:20000"));
        assert_eq!(i.endpoints, ["dubbo://10.2.0.7:20000", "tri://10.2.0.7:50052"]);
        assert_eq!(
            i.metadata.get("dubbo.metadata.revision").map(String::as_str),
            Some("a3f1c0de")
        );
        assert_eq!(i.metadata.get("healthy").map(String::as_str), Some("true"));
        assert!(i.error.is_none());
    }

    #[test]
    fn minimal_and_ipv6_instances() {
        let value = r#"{"ID":"x","ServiceName":"a","Host":"fd00::7","Port":1,"Metadata":null}"#;
        let i = DubboApp.classify(&KeyValue::sample("/services/a/x", value));
        assert_eq!(i.as_ref().and_then(|i| i.address.as_deref()), Some("[fd00::7]:1"));
        assert_eq!(i.map(|i| i.endpoints), Some(vec!["[fd00::7]:1".to_owned()]));
    }

    #[test]
    fn other_values_under_services_are_left_to_patterns() {
        for value in [
            "10.0.0.1:80",
            r#"{"address":"10.0.0.1:80"}"#,
            r#"{"ServiceName":"a","Host":"10.0.0.1"}"#,
            r#"{"ServiceName":"a","Host":"10.0.0.1","Port":"80"}"#,
            r#"{"ServiceName":"a","Host":"10.0.0.1","Port":80"#,
        ] {
            assert!(
                DubboApp.classify(&KeyValue::sample("/services/a/1", value)).is_none(),
                "{value}"
            );
        }
        assert!(DubboApp.classify(&KeyValue::sample("/other/a/1", VALUE)).is_none());
        assert!(DubboApp.classify(&KeyValue::sample("/services/a", VALUE)).is_none());
    }
}
