//! dubbo-go interface-level registration (`registry/etcdv3`, the classic Dubbo
//! registry model): one key per provider,
//! `/dubbo/<interface>/providers/<provider URL, percent-encoded whole>`, with an
//! empty value; everything is in the URL, e.g.
//! `dubbo://10.0.0.5:20000/org.example.UserProvider?application=user&methods=GetUser,ListUsers&version=1.0.0`.
//! The root is `/dubbo` unless the registry has a group (`/<group>/...`), so a
//! key under another root is claimed only when its last segment decodes to a URL.
//! `consumers/`, `configurators/` and `routers/` siblings are not instances.

use std::collections::BTreeMap;

use app::model::{Instance, Layout};

use super::{instance, Parsed};
use crate::registry::mirror::KeyValue;
use crate::registry::text::{host_port, percent_decode, query_pairs};

const DEFAULT_ROOT: &str = "dubbo";

#[derive(Debug, Clone, Copy, Default)]
pub struct Dubbo;

impl Dubbo {
    pub fn classify(&self, kv: &KeyValue) -> Option<Instance> {
        // Cheap shape check first: most keys never mention providers.
        if !kv.key.windows(11).any(|w| w == b"/providers/") {
            return None;
        }
        let key = std::str::from_utf8(&kv.key).ok()?;
        let mut segments = key.strip_prefix('/')?.splitn(4, '/');
        let (root, interface, kind, url) = (segments.next()?, segments.next()?, segments.next()?, segments.next()?);
        if kind != "providers" || root.is_empty() || interface.is_empty() || url.is_empty() || url.contains('/') {
            return None;
        }
        let parsed = parse(url);
        if parsed.is_err() && root != DEFAULT_ROOT {
            return None;
        }
        let interface = percent_decode(interface).unwrap_or_else(|_| interface.to_owned());
        Some(instance(kv, interface, Layout::Dubbo, parsed))
    }
}

/// The provider URL: `protocol://host:port/path?params`.
fn parse(encoded: &str) -> Result<Parsed, String> {
    let url = percent_decode(encoded).map_err(|e| format!("provider URL is not percent-encoded text: {e}"))?;
    let (base, query) = url.split_once('?').unwrap_or((url.as_str(), ""));
    let (scheme, rest) = base
        .split_once("://")
        .ok_or_else(|| format!("provider URL {url:?} has no protocol"))?;
    let authority = rest.split('/').next().unwrap_or_default();
    let address = host_port(authority).ok_or_else(|| format!("provider URL {url:?} has no host:port"))?;
    let mut metadata = BTreeMap::new();
    for (name, value) in query_pairs(query) {
        // Parameter values may be encoded once more inside the URL.
        let value = percent_decode(value).unwrap_or_else(|_| value.to_owned());
        metadata.insert(name.to_owned(), value);
    }
    metadata.insert("protocol".to_owned(), scheme.to_owned());
    Ok(Parsed {
        endpoints: vec![format!("{scheme}://{address}")],
        address: Some(address),
        version: metadata.get("version").filter(|v| !v.is_empty()).cloned(),
        metadata,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What dubbo-go writes for a provider: the URL encoded as a whole.
    const KEY: &str = "/dubbo/org.apache.dubbo.sample.UserProvider/providers/\
        dubbo%3A%2F%2F192.168.1.5%3A20000%2Forg.apache.dubbo.sample.UserProvider%3Fanyhost%3Dtrue\
        %26application%3Duser-app%26interface%3Dorg.apache.dubbo.sample.UserProvider\
        %26methods%3DGetUser%2CQueryUsers%26side%3Dprovider%26version%3D1.0.0%26group%3D%26timestamp%3D1700000000";

    #[test]
    fn reads_a_provider_url() {
        let Some(i) = Dubbo.classify(&KeyValue::sample(KEY, "")) else {
            panic!("not recognised")
        };
        assert_eq!(i.service, "org.apache.dubbo.sample.UserProvider");
        assert_eq!(i.layout, Layout::Dubbo);
        assert_eq!(i.address.as_deref(), Some("192.168.1.5:20000"));
        assert_eq!(i.endpoints, ["dubbo://192.168.1.5:20000"]);
        assert_eq!(i.version.as_deref(), Some("1.0.0"));
        assert_eq!(
            i.metadata.get("methods").map(String::as_str),
            Some("GetUser,QueryUsers")
        );
        assert_eq!(i.metadata.get("application").map(String::as_str), Some("user-app"));
        assert_eq!(i.metadata.get("group").map(String::as_str), Some(""));
        assert_eq!(i.metadata.get("protocol").map(String::as_str), Some("dubbo"));
        assert!(i.error.is_none());
        assert_eq!(i.value, "");
    }

    #[test]
    fn parameters_encoded_twice_are_decoded() {
        // tri://[::1]:50051/svc?methods=A%2CB (the comma escaped inside the URL, then the URL escaped).
        let kv = KeyValue::sample(
            "/dubbo/svc/providers/tri%3A%2F%2F%5B%3A%3A1%5D%3A50051%2Fsvc%3Fmethods%3DA%252CB",
            "",
        );
        let i = Dubbo.classify(&kv);
        assert_eq!(i.as_ref().and_then(|i| i.address.as_deref()), Some("[::1]:50051"));
        assert_eq!(
            i.as_ref().and_then(|i| i.metadata.get("methods")).map(String::as_str),
            Some("A,B")
        );
    }

    #[test]
    fn a_broken_url_under_the_dubbo_root_is_kept() {
        let i = Dubbo.classify(&KeyValue::sample("/dubbo/svc/providers/not-a-url%zz", ""));
        assert!(i.is_some_and(|i| i.error.is_some() && i.address.is_none()));
        // Under another root only a real provider URL is claimed.
        assert!(Dubbo
            .classify(&KeyValue::sample("/team/svc/providers/not-a-url", ""))
            .is_none());
        assert!(Dubbo
            .classify(&KeyValue::sample(
                "/team/svc/providers/dubbo%3A%2F%2F10.0.0.1%3A1%2Fsvc",
                ""
            ))
            .is_some_and(|i| i.address.as_deref() == Some("10.0.0.1:1")));
    }

    #[test]
    fn consumers_and_routers_are_not_providers() {
        for key in [
            "/dubbo/svc/consumers/consumer%3A%2F%2F10.0.0.1%2Fsvc",
            "/dubbo/svc/routers/condition%3A%2F%2F0.0.0.0%2Fsvc",
            "/dubbo/svc/providers/",
            "/dubbo/svc/providers",
        ] {
            assert!(Dubbo.classify(&KeyValue::sample(key, "")).is_none(), "{key}");
        }
    }
}
