//! The classifier chain: the first rule that matches a key decides what it
//! is; keys no rule claims stay plain KV (README.md, "Registry layouts
//! understood").

use app::model::{Instance, LeaseId};

use super::coordination::{contender, held, Held};
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
}
