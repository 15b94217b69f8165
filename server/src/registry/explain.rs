//! Why a key is what the classifier makes of it (`GET /api/v1/kv/{key}`'s
//! `classification`): the rule that matched with the evidence it rests on,
//! and the rules the key came close to with the condition that failed. The
//! decision is the classifier's own ([`Classifier::classify`]); the near
//! misses are what the same probes said when they refused the key, so an
//! explanation cannot disagree with what the pages show.

use app::model::{Classification, Instance, KvKind, Layout, LeaseId, NearMiss};

use super::classify::{Classifier, Kind};
use super::layouts::Miss;
use super::mirror::KeyValue;

/// The explanation of `kind` (what `classifier` made of `kv`) with `near`,
/// the near misses of the probes tried.
pub fn explanation(
    classifier: &Classifier,
    kv: &KeyValue,
    kind: Kind,
    near: Vec<(String, &'static str)>,
) -> Classification {
    let mut evidence = Vec::new();
    let lease = (kv.lease != 0).then(|| LeaseId(kv.lease).to_string());
    let (kind, rule, of) = match kind {
        Kind::Instance(instance) => instance_rule(classifier, kv, &[*instance], &mut evidence),
        Kind::Instances(instances) => instance_rule(classifier, kv, &instances, &mut evidence),
        Kind::Heartbeat(node) => {
            evidence.push(format!(
                "the key is {}/beats/<node id>/<instance>/<seq>: node {}'s heartbeat, its instances' TTL",
                node.prefix, node.node
            ));
            (KvKind::Kv, Some("moleculer-heartbeat".to_owned()), vec![node.node])
        }
        Kind::Contender {
            name,
            proposal,
            holder_only,
            ..
        } => {
            let kind = if proposal.is_some() {
                KvKind::Election
            } else {
                KvKind::Lock
            };
            let rule = match holder_only {
                Some(library) => {
                    evidence.push(format!(
                        "one key of {library}'s shape on a lease: its contenders keep no key"
                    ));
                    library
                }
                None if kv.key.starts_with(super::coordination::NPM_ELECTION_PREFIX) => {
                    evidence.push("under election/, the last segment is the key's own lease id in decimal".to_owned());
                    "npm-etcd3"
                }
                None => {
                    evidence.push("the last segment is the key's own lease id in hex".to_owned());
                    "etcd-concurrency"
                }
            };
            match &proposal {
                Some(_) => evidence.push("a non-empty value: a candidate's proposal".to_owned()),
                None => evidence.push("an empty value: a lock contender".to_owned()),
            }
            (kind, Some(rule.to_owned()), vec![name])
        }
        Kind::Plain => (KvKind::Kv, None, Vec::new()),
    };
    if let Some(lease) = lease {
        evidence.push(format!("on lease {lease}"));
    }
    Classification {
        kind,
        rule,
        of,
        evidence,
        near_misses: near
            .into_iter()
            .map(|(rule, failed)| NearMiss {
                rule,
                failed: failed.to_owned(),
            })
            .collect(),
    }
}

fn instance_rule(
    classifier: &Classifier,
    kv: &KeyValue,
    instances: &[Instance],
    evidence: &mut Vec<String>,
) -> (KvKind, Option<String>, Vec<String>) {
    let Some(first) = instances.first() else {
        return (KvKind::Instance, None, Vec::new());
    };
    let rule = match first.layout {
        Layout::Custom => classifier
            .pattern_of(kv)
            .map_or_else(|| "custom".to_owned(), |p| format!("pattern {p}")),
        layout => layout.as_str().to_owned(),
    };
    evidence.push(first.layout.evidence().to_owned());
    if let Some(error) = &first.error {
        evidence.push(format!("its value did not parse ({error}); the instance is kept"));
    }
    let of = instances.iter().map(|i| i.service.clone()).collect();
    (KvKind::Instance, Some(rule), of)
}

/// Keeps a probe's near miss, named after its rule.
pub fn note<T>(near: &mut Vec<(String, &'static str)>, rule: &str, probe: Result<T, Miss>) -> Option<T> {
    match probe {
        Ok(found) => Some(found),
        Err(Miss::Near(why)) => {
            near.push((rule.to_owned(), why));
            None
        }
        Err(Miss::No) => None,
    }
}
