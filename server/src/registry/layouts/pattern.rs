//! Operator patterns (`--service-pattern '/services/{service}/{instance}'`):
//! a key shape with a `{service}` and an `{instance}` placeholder, each one
//! path segment, except that a final `{instance}` takes the rest of the key.
//! The value is JSON (an address, or host and port, plus optional version,
//! metadata and endpoints) or a bare `host:port`.

use app::model::{Instance, Layout};
use serde_json::Value;

use super::{instance, metadata_of, Miss, Parsed};
use crate::registry::mirror::KeyValue;
use crate::registry::text::host_port;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Service,
    Instance,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    text: String,
    segments: Vec<Segment>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("service pattern {pattern:?}: {why}")]
pub struct PatternError {
    pattern: String,
    why: &'static str,
}

impl std::str::FromStr for Pattern {
    type Err = PatternError;

    fn from_str(text: &str) -> Result<Self, PatternError> {
        let error = |why| PatternError {
            pattern: text.to_owned(),
            why,
        };
        let segments: Vec<Segment> = text
            .split('/')
            .map(|s| match s {
                "{service}" => Ok(Segment::Service),
                "{instance}" => Ok(Segment::Instance),
                s if s.contains(['{', '}']) => Err(error("placeholders are whole segments: {service} or {instance}")),
                s => Ok(Segment::Literal(s.to_owned())),
            })
            .collect::<Result<_, _>>()?;
        let count = |wanted: &Segment| segments.iter().filter(|s| *s == wanted).count();
        if count(&Segment::Service) != 1 || count(&Segment::Instance) != 1 {
            return Err(error("needs exactly one {service} and one {instance}"));
        }
        Ok(Pattern {
            text: text.to_owned(),
            segments,
        })
    }
}

impl Pattern {
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// `(service, instance)` when `key` has this pattern's shape.
    fn matches<'k>(&self, key: &'k str) -> Option<(&'k str, &'k str)> {
        let n = self.segments.len();
        // A final {instance} takes the rest of the key, slashes included.
        let parts: Vec<&str> = if matches!(self.segments.last(), Some(Segment::Instance)) {
            key.splitn(n, '/').collect()
        } else {
            key.split('/').collect()
        };
        if parts.len() != n {
            return None;
        }
        let (mut service, mut instance) = (None, None);
        for (segment, part) in self.segments.iter().zip(parts) {
            match segment {
                Segment::Literal(literal) if literal != part => return None,
                Segment::Literal(_) => {}
                Segment::Service => service = Some(part),
                Segment::Instance => instance = Some(part),
            }
        }
        match (service, instance) {
            (Some(s), Some(i)) if !s.is_empty() && !i.is_empty() => Some((s, i)),
            _ => None,
        }
    }

    pub fn classify(&self, kv: &KeyValue) -> Option<Instance> {
        self.probe(kv).ok()
    }

    /// [`Pattern::classify`], saying why not: a near miss for a key that
    /// begins with the pattern's text before its first placeholder.
    pub fn probe(&self, kv: &KeyValue) -> Result<Instance, Miss> {
        let key = std::str::from_utf8(&kv.key).map_err(|_| Miss::No)?;
        let Some((service, _)) = self.matches(key) else {
            let literal = self.text.split('{').next().unwrap_or_default();
            let near = !literal.is_empty() && key.starts_with(literal);
            return Err(if near {
                Miss::Near("the key's segments do not line up with the pattern's")
            } else {
                Miss::No
            });
        };
        Ok(instance(kv, service.to_owned(), Layout::Custom, parse(&kv.value)))
    }
}

fn first<'v>(object: &'v serde_json::Map<String, Value>, names: &[&str]) -> Option<&'v Value> {
    names.iter().find_map(|n| object.get(*n))
}

fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn parse(value: &[u8]) -> Result<Parsed, String> {
    let text = std::str::from_utf8(value)
        .map_err(|_| "the value is not text".to_owned())?
        .trim();
    if let Some(address) = host_port(text).filter(|_| !text.contains(['{', ' '])) {
        return Ok(Parsed {
            address: Some(address),
            endpoints: vec![text.to_owned()],
            ..Parsed::default()
        });
    }
    let Ok(Value::Object(object)) = serde_json::from_str::<Value>(text) else {
        return Err("expected JSON with an address, or host:port".to_owned());
    };
    let endpoints: Vec<String> = match first(&object, &["endpoints", "Endpoints"]) {
        Some(Value::Array(items)) => items.iter().filter_map(scalar_text).collect(),
        _ => Vec::new(),
    };
    let address = first(&object, &["address", "addr", "Address", "Addr", "endpoint"])
        .and_then(scalar_text)
        .and_then(|a| host_port(&a))
        .or_else(|| {
            let host = first(&object, &["host", "Host", "ip", "IP"]).and_then(scalar_text)?;
            let port = first(&object, &["port", "Port"]).and_then(scalar_text)?;
            host_port(&format!("{host}:{port}"))
        })
        .or_else(|| endpoints.iter().find_map(|e| host_port(e)));
    if address.is_none() {
        return Err("no address: expected address, host and port, or endpoints".to_owned());
    }
    Ok(Parsed {
        address,
        version: first(&object, &["version", "Version"]).and_then(scalar_text),
        metadata: metadata_of(first(&object, &["metadata", "Metadata", "meta", "tags"])),
        endpoints,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(key: &str, value: &str) -> KeyValue {
        KeyValue::sample(key, value)
    }

    fn pattern(text: &str) -> Pattern {
        match text.parse() {
            Ok(p) => p,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn patterns_parse_and_refuse_nonsense() {
        assert!("/services/{service}/{instance}".parse::<Pattern>().is_ok());
        assert!("/services/{service}".parse::<Pattern>().is_err());
        assert!("/s/{service}/{service}/{instance}".parse::<Pattern>().is_err());
        assert!("/s/x{service}/{instance}".parse::<Pattern>().is_err());
    }

    #[test]
    fn keys_match_by_shape() {
        let p = pattern("/services/{service}/{instance}");
        assert_eq!(p.matches("/services/api/10.0.0.1:80"), Some(("api", "10.0.0.1:80")));
        assert_eq!(p.matches("/services/api/a/b"), Some(("api", "a/b")));
        assert_eq!(p.matches("/services/api"), None);
        assert_eq!(p.matches("/other/api/x"), None);
        let inner = pattern("/reg/{instance}/{service}/meta");
        assert_eq!(inner.matches("/reg/i1/api/meta"), Some(("api", "i1")));
        assert_eq!(inner.matches("/reg/i1/api/meta/extra"), None);
    }

    #[test]
    fn values_json_or_host_port() {
        let p = pattern("/services/{service}/{instance}");
        let bare = p.classify(&kv("/services/api/1", "10.0.0.1:8080"));
        assert_eq!(bare.and_then(|i| i.address).as_deref(), Some("10.0.0.1:8080"));

        let json = p.classify(&kv(
            "/services/api/2",
            r#"{"host":"10.0.0.2","port":9000,"version":"2.1","metadata":{"zone":"a"}}"#,
        ));
        let Some(json) = json else { panic!("not recognised") };
        assert_eq!(json.address.as_deref(), Some("10.0.0.2:9000"));
        assert_eq!(json.version.as_deref(), Some("2.1"));
        assert_eq!(json.metadata.get("zone").map(String::as_str), Some("a"));

        let broken = p.classify(&kv("/services/api/3", "hello"));
        let Some(broken) = broken else { panic!("not recognised") };
        assert_eq!(broken.address, None);
        assert!(broken.error.is_some());
        assert_eq!(broken.value, "hello");
    }
}
