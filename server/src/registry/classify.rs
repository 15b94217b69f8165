//! The classifier chain: the first rule that matches a key decides what it
//! is; keys no rule claims stay plain KV (README.md, "Registry layouts
//! understood").

use app::model::{Instance, LeaseId};

use super::coordination::{contender, held, probe_contender, probe_held, Held};
use super::explain::{explanation, note};
use super::layouts::moleculer::{key_role, Role};
use super::layouts::{
    Dubbo, DubboApp, GoMicro, GoZero, Grpc, Kitex, Kratos, Moleculer, NodeKey, Patroni, Pattern, Rpcx, Skydns, Tooz,
};
use super::mirror::KeyValue;

/// What a key is.
#[derive(Debug)]
pub enum Kind {
    Instance(Box<Instance>),
    /// One key standing for several instances, each of another service
    /// (a Moleculer node's INFO key: one per service the node runs).
    Instances(Vec<Instance>),
    /// A Moleculer node's heartbeat: its liveness, never a service.
    Heartbeat(NodeKey),
    /// A lock contender (empty value) or an election candidate (its proposal).
    Contender {
        name: String,
        lease: LeaseId,
        proposal: Option<String>,
        /// The library of a lock or election whose contenders keep no key
        /// (`python-etcd3`, `tooz`, `patroni`).
        holder_only: Option<&'static str>,
    },
    Plain,
}

#[derive(Debug, Clone, Default)]
pub struct Classifier {
    patterns: Vec<Pattern>,
}

impl Classifier {
    /// The built-in layouts plus the operator's patterns, tried in order after them.
    pub fn new(patterns: Vec<Pattern>) -> Self {
        Classifier { patterns }
    }

    pub fn classify(&self, kv: &KeyValue) -> Kind {
        if let Some((name, lease)) = contender(kv) {
            let proposal = (!kv.value.is_empty()).then(|| String::from_utf8_lossy(&kv.value).into_owned());
            return Kind::Contender {
                name,
                lease,
                proposal,
                holder_only: None,
            };
        }
        if let Some(Held {
            name,
            lease,
            proposal,
            library,
        }) = held(kv)
        {
            return Kind::Contender {
                name,
                lease,
                proposal,
                holder_only: Some(library),
            };
        }
        if let Some((Role::Beat, node, _)) = key_role(&kv.key) {
            return Kind::Heartbeat(node);
        }
        if let Some(instances) = Moleculer.classify(kv) {
            return Kind::Instances(instances);
        }
        // Fixed prefixes first, then layouts known by their value's shape.
        let built_in = Kratos
            .classify(kv)
            .or_else(|| Tooz.classify(kv))
            .or_else(|| Patroni.classify(kv))
            .or_else(|| GoMicro.classify(kv))
            .or_else(|| Kitex.classify(kv))
            .or_else(|| Skydns.classify(kv))
            .or_else(|| Dubbo.classify(kv))
            .or_else(|| DubboApp.classify(kv))
            .or_else(|| Rpcx.classify(kv))
            .or_else(|| Grpc.classify(kv))
            .or_else(|| GoZero.classify(kv));
        if let Some(instance) = built_in {
            return Kind::Instance(Box::new(instance));
        }
        for pattern in &self.patterns {
            if let Some(instance) = pattern.classify(kv) {
                return Kind::Instance(Box::new(instance));
            }
        }
        Kind::Plain
    }
}

impl Classifier {
    /// Why `kv` is what [`Classifier::classify`] makes of it; for a plain
    /// key, the rules it came close to (their own probes' words for what
    /// failed).
    pub fn explain(&self, kv: &KeyValue) -> app::model::Classification {
        let kind = self.classify(kv);
        let mut near = Vec::new();
        if !matches!(kind, Kind::Plain) {
            return explanation(self, kv, kind, near);
        }
        // A plain key: the rules that came close, each in its own words.
        note(&mut near, "etcd-concurrency", probe_contender(kv));
        note(&mut near, "held lock or election", probe_held(kv));
        note(&mut near, "dubbo-app", DubboApp.probe(kv));
        note(&mut near, "grpc", Grpc.probe(kv));
        note(&mut near, "go-zero", GoZero.probe(kv));
        for pattern in &self.patterns {
            note(&mut near, &format!("pattern {}", pattern.as_str()), pattern.probe(kv));
        }
        explanation(self, kv, kind, near)
    }

    /// The operator pattern that takes `kv`, if one does.
    pub fn pattern_of(&self, kv: &KeyValue) -> Option<&str> {
        self.patterns
            .iter()
            .find(|p| p.classify(kv).is_some())
            .map(Pattern::as_str)
    }
}

#[cfg(test)]
mod tests {
    use app::model::Layout;

    use super::*;

    fn layout_of(classifier: &Classifier, key: &str, value: &str) -> Option<Layout> {
        match classifier.classify(&KeyValue::sample(key, value)) {
            Kind::Instance(instance) => Some(instance.layout),
            _ => None,
        }
    }

    #[test]
    fn the_value_decides_between_dubbo_and_an_operator_pattern() {
        let Ok(pattern) = "/services/{service}/{instance}".parse::<Pattern>() else {
            panic!("pattern")
        };
        let classifier = Classifier::new(vec![pattern]);
        let dubbo = r#"{"ID":"10.0.0.1:20000","ServiceName":"shop","Host":"10.0.0.1","Port":20000}"#;
        assert_eq!(
            layout_of(&classifier, "/services/shop/10.0.0.1:20000", dubbo),
            Some(Layout::DubboApp)
        );
        assert_eq!(
            layout_of(&classifier, "/services/shop/1", r#"{"address":"10.0.0.1:80"}"#),
            Some(Layout::Custom)
        );
        assert_eq!(
            layout_of(&classifier, "/services/shop/1", "10.0.0.1:80"),
            Some(Layout::Custom)
        );
        // Without the pattern, only dubbo-go's JSON makes an instance there.
        let bare = Classifier::default();
        assert_eq!(
            layout_of(&bare, "/services/shop/10.0.0.1:20000", dubbo),
            Some(Layout::DubboApp)
        );
        assert_eq!(layout_of(&bare, "/services/shop/1", "10.0.0.1:80"), None);
    }

    fn near(classifier: &Classifier, kv: &KeyValue) -> Vec<(String, String)> {
        let explained = classifier.explain(kv);
        assert_eq!(explained.kind, app::model::KvKind::Kv, "{explained:?}");
        explained.near_misses.into_iter().map(|n| (n.rule, n.failed)).collect()
    }

    #[test]
    fn a_match_says_on_what_evidence() {
        let bare = Classifier::default();
        let value = r#"{"id":"p1","name":"pay","endpoints":["grpc://10.0.0.1:9000"]}"#;
        let kratos = bare.explain(&KeyValue::sample("/microservices/pay/p1", value).with_lease(0x1f));
        assert_eq!(kratos.rule.as_deref(), Some("kratos"));
        assert_eq!(kratos.of, ["pay"]);
        assert!(
            kratos.evidence[0].contains("/microservices/<service>/<id>"),
            "{kratos:?}"
        );
        assert!(kratos.evidence.iter().any(|e| e == "on lease 1f"), "{kratos:?}");
        assert!(kratos.near_misses.is_empty());
        let broken = bare.explain(&KeyValue::sample("/microservices/pay/p2", "{oops"));
        assert!(
            broken.evidence.iter().any(|e| e.contains("did not parse")),
            "{broken:?}"
        );

        let lock = bare.explain(&KeyValue::sample("jobs/694d8b0ee8ec6c0a", "").with_lease(0x694d8b0ee8ec6c0a));
        assert_eq!(lock.kind, app::model::KvKind::Lock);
        assert_eq!(lock.rule.as_deref(), Some("etcd-concurrency"));
        assert_eq!(lock.of, ["jobs"]);
        let Ok(pattern) = "/svc/{service}/{instance}".parse::<Pattern>() else {
            panic!("pattern")
        };
        let custom = Classifier::new(vec![pattern]).explain(&KeyValue::sample("/svc/a/1", "10.0.0.1:80"));
        assert_eq!(custom.rule.as_deref(), Some("pattern /svc/{service}/{instance}"));
    }

    #[test]
    fn a_plain_key_names_the_rules_it_nearly_matched() {
        let bare = Classifier::default();
        // Under /services/, but not dubbo-go's JSON.
        let services = near(
            &bare,
            &KeyValue::sample("/services/shop/1", r#"{"address":"10.0.0.1:80"}"#),
        );
        assert_eq!(services.len(), 1, "{services:?}");
        assert_eq!(services[0].0, "dubbo-app");
        assert!(services[0].1.contains("ServiceName"), "{services:?}");
        // A lease id in the key that is not the key's lease.
        let other = near(
            &bare,
            &KeyValue::sample("jobs/694d8b0ee8ec6c0b", "").with_lease(0x694d8b0ee8ec6c0a),
        );
        assert!(
            other
                .iter()
                .any(|(rule, failed)| rule == "etcd-concurrency" && failed.contains("not the key's own lease")),
            "{other:?}"
        );
        // gRPC naming JSON whose key does not end in its Addr.
        let grpc = near(&bare, &KeyValue::sample("svc/x", r#"{"Op":0,"Addr":"10.0.0.5:1"}"#));
        assert_eq!(
            grpc,
            [("grpc".to_owned(), "the key does not end in /<Addr>".to_owned())]
        );
        // A python-etcd3 lock key holding something else.
        let held = near(&bare, &KeyValue::sample("/locks/jobs", "not a uuid").with_lease(7));
        assert!(held[0].1.contains("version-1 UUID"), "{held:?}");
        // An operator pattern whose segments do not line up.
        let Ok(pattern) = "/svc/{service}/{instance}/meta".parse::<Pattern>() else {
            panic!("pattern")
        };
        let patterned = near(&Classifier::new(vec![pattern]), &KeyValue::sample("/svc/a", "x"));
        assert_eq!(patterned[0].0, "pattern /svc/{service}/{instance}/meta");
        // Nothing near: no near misses.
        assert!(near(&bare, &KeyValue::sample("/config/app.json", "{}")).is_empty());
    }
}
