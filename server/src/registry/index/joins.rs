//! Keys that say something about other keys' instances, and how the index
//! shows it:
//!
//! - a Moleculer node's heartbeat (`<prefix>/beats/<node>/...`) is its
//!   liveness: the node's instances (its INFO key's) take the beat lease's
//!   TTL, name the beat key in `heartbeat`, and say so in `declared` while
//!   there is no beat (other nodes drop such a node);
//! - a Patroni cluster's `leader` and `status` keys: the member the leader
//!   key names is marked `leader`, every other member's lag is measured
//!   from `status`'s optime (or the leader's own position).
//!
//! An instance's shown fields are its layout's, then [`Index::decorate`]'s;
//! whenever one of these keys changes, the instances it speaks of are
//! decorated again and patched if that changed them.

use std::collections::{BTreeMap, HashMap};

use app::model::{Instance, Layout, Revision};

use super::{Index, Touched};
use crate::registry::layouts::moleculer::{key_role, NodeKey, Role};
use crate::registry::layouts::patroni::{self, Part};
use crate::registry::mirror::KeyValue;

/// What a Moleculer instance says while its node has no heartbeat key.
const NO_HEARTBEAT: &str = "no heartbeat (other nodes drop it)";

#[derive(Debug, Default)]
pub(super) struct Joins {
    /// Beat key id -> its node.
    beat_node: HashMap<String, NodeKey>,
    /// Node -> its beat keys by (mod revision, id), with their leases: the
    /// newest is the node's heartbeat (a seq change briefly leaves two).
    beats: HashMap<NodeKey, BTreeMap<(Revision, String), i64>>,
    /// Patroni cluster -> the member its `leader` key names.
    leaders: HashMap<String, String>,
    /// Patroni cluster -> its `status` optime.
    optimes: HashMap<String, u64>,
}

impl Joins {
    /// The beat key and lease of `node`'s newest heartbeat.
    fn beat(&self, node: &NodeKey) -> Option<(&str, i64)> {
        let ((_, id), lease) = self.beats.get(node)?.last_key_value()?;
        Some((id.as_str(), *lease))
    }

    /// The lease of the heartbeat of the node whose INFO key is `info_id`.
    pub(super) fn beat_lease(&self, info_id: &str) -> Option<i64> {
        let (Role::Info, node, _) = key_role(info_id.as_bytes())? else {
            return None;
        };
        self.beat(&node).map(|(_, lease)| lease)
    }

    /// The INFO key id of the node whose heartbeat is the key `id`.
    pub(super) fn info_of_beat(&self, id: &str) -> Option<String> {
        self.beat_node.get(id).map(info_id)
    }

    fn set_beat(&mut self, id: &str, node: NodeKey, now: Option<(Revision, i64)>) {
        if let Some(old) = self.beat_node.remove(id) {
            if let Some(beats) = self.beats.get_mut(&old) {
                beats.retain(|(_, beat), _| beat != id);
                if beats.is_empty() {
                    self.beats.remove(&old);
                }
            }
        }
        if let Some((revision, lease)) = now {
            self.beats
                .entry(node.clone())
                .or_default()
                .insert((revision, id.to_owned()), lease);
            self.beat_node.insert(id.to_owned(), node);
        }
    }
}

/// The INFO key id of a Moleculer node.
fn info_id(node: &NodeKey) -> String {
    format!("{}/info/{}", node.prefix, node.node)
}

/// Patroni's member key id of `name` in `cluster`.
fn member_id(cluster: &str, name: &str) -> String {
    format!("/service/{cluster}/members/{name}")
}

impl Index {
    /// Sets the fields an instance takes from the keys beside it.
    pub(super) fn decorate(&self, instance: &mut Instance) {
        match instance.layout {
            Layout::Moleculer => {
                let Some((Role::Info, node, _)) = key_role(instance.key.as_bytes()) else {
                    return;
                };
                let (ttl, granted_ttl) = self.leases.ttl(instance.lease.map_or(0, |l| l.0));
                match self.joins.beat(&node) {
                    Some((beat, lease)) => {
                        (instance.ttl, instance.granted_ttl) = self.leases.ttl(lease);
                        instance.metadata.insert("heartbeat".to_owned(), beat.to_owned());
                        instance.declared = None;
                    }
                    None => {
                        (instance.ttl, instance.granted_ttl) = (ttl, granted_ttl);
                        instance.metadata.remove("heartbeat");
                        instance.declared = Some(NO_HEARTBEAT.to_owned());
                    }
                }
            }
            Layout::Patroni => {
                let Some((cluster, Part::Member(_))) = patroni::key_part(instance.key.as_bytes()) else {
                    return;
                };
                let leader = self.joins.leaders.get(cluster).map(String::as_str);
                let lsn = self.joins.optimes.get(cluster).copied().or_else(|| {
                    let id = member_id(cluster, leader?);
                    self.instances
                        .get(&id)?
                        .first()
                        .and_then(|l| patroni::position(&l.metadata))
                });
                patroni::derive(&mut instance.metadata, leader, lsn);
            }
            _ => {}
        }
    }

    /// Decorates the instances of the key `id` again: their lease's TTL, then
    /// what the keys beside them say; patches those that changed.
    pub(super) fn refresh(&mut self, id: &str, touched: &mut Touched) {
        let Some(mut instances) = self.instances.remove(id) else {
            return;
        };
        for instance in &mut instances {
            let before = (instance.ttl, instance.declared.clone(), instance.metadata.clone());
            if let Some(lease) = instance.lease {
                (instance.ttl, instance.granted_ttl) = self.leases.ttl(lease.0);
            }
            self.decorate(instance);
            if before == (instance.ttl, instance.declared.clone(), instance.metadata.clone()) {
                continue;
            }
            if let Some(agg) = self.services.get_mut(&instance.service) {
                agg.uncount_ttl(before.0);
                agg.count_ttl(instance.ttl);
            }
            touched.services.insert(instance.service.clone());
            touched.instances.insert((instance.service.clone(), id.to_owned()));
        }
        self.instances.insert(id.to_owned(), instances);
    }

    /// After the key `id` changed (`after`: its value now, `None` when
    /// deleted), the instances it speaks of are decorated again.
    pub(super) fn follow(&mut self, id: &str, key: &[u8], after: Option<&KeyValue>, touched: &mut Touched) {
        if let Some((role, node, _)) = key_role(key) {
            if role == Role::Beat {
                let now = after.map(|kv| (kv.mod_revision, kv.lease));
                self.joins.set_beat(id, node.clone(), now);
                self.refresh(&info_id(&node), touched);
            }
            return;
        }
        let Some((cluster, part)) = patroni::key_part(key) else {
            return;
        };
        let cluster = cluster.to_owned();
        match part {
            Part::Leader => match after.filter(|kv| kv.lease != 0 && !kv.value.is_empty()) {
                Some(kv) => {
                    let name = String::from_utf8_lossy(&kv.value).into_owned();
                    self.joins.leaders.insert(cluster.clone(), name);
                }
                None => {
                    self.joins.leaders.remove(&cluster);
                }
            },
            Part::Status => match after.and_then(|kv| patroni::optime(&kv.value)) {
                Some(optime) => {
                    self.joins.optimes.insert(cluster.clone(), optime);
                }
                None => {
                    self.joins.optimes.remove(&cluster);
                }
            },
            Part::Member(_) => {}
        }
        let members: Vec<String> = match self.services.get(&cluster) {
            Some(agg) => agg.ids.iter().cloned().collect(),
            None => Vec::new(),
        };
        for member in members {
            let is_patroni = self
                .instances
                .get(&member)
                .is_some_and(|list| list.iter().any(|i| i.layout == Layout::Patroni));
            if is_patroni && member != id {
                self.refresh(&member, touched);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::leases::Sample;
    use crate::registry::mirror::ChangeRef;
    use crate::registry::Classifier;

    fn put(index: &mut Index, kv: KeyValue) -> Touched {
        let mut touched = Touched::default();
        let change = ChangeRef::Upserted {
            before: None,
            after: &kv,
        };
        index.apply(change, Some("now"), &mut touched);
        touched
    }

    fn delete(index: &mut Index, key: &str) -> Touched {
        let mut touched = Touched::default();
        index.apply(
            ChangeRef::Removed(&KeyValue::sample(key, "")),
            Some("now"),
            &mut touched,
        );
        touched
    }

    fn sample(index: &mut Index, lease: i64, ttl: i64, granted_ttl: i64) {
        let sample = Sample {
            ttl,
            granted_ttl,
            at: String::new(),
        };
        index.apply_sample(lease, sample, &mut Touched::default());
    }

    const INFO: &str = r#"{"ipList":["192.0.2.2"],"port":null,"services":[{"name":"$node","fullName":"$node"},{"name":"greeter","version":2,"fullName":"v2.greeter"}]}"#;
    const INFO_ID: &str = "moleculer/discovery/info/node-a";
    const BEAT: &str = "moleculer/discovery/beats/node-a/866c8d10/2";

    fn greeter(index: &Index) -> Option<Instance> {
        index.instance(INFO_ID, "v2.greeter").cloned()
    }

    #[test]
    fn a_moleculer_node_lives_by_its_heartbeat() {
        let mut index = Index::new(Classifier::default());
        let touched = put(&mut index, KeyValue::sample(INFO_ID, INFO).with_lease(60));
        assert_eq!(touched.happenings.instances.len(), 2, "one per service");
        sample(&mut index, 60, 58, 60);
        let alone = greeter(&index);
        assert_eq!(alone.as_ref().and_then(|i| i.declared.as_deref()), Some(NO_HEARTBEAT));
        assert_eq!(alone.and_then(|i| i.ttl), Some(58), "no beat: the INFO lease's TTL");

        // The beat arrives: the node's instances take its TTL, never a service of its own.
        let touched = put(&mut index, KeyValue::sample(BEAT, "{}").with_lease(30).at(5));
        assert!(touched
            .instances
            .contains(&("v2.greeter".to_owned(), INFO_ID.to_owned())));
        assert!(touched.happenings.instances.is_empty(), "a beat is no registration");
        sample(&mut index, 30, 27, 30);
        let live = greeter(&index);
        assert_eq!(live.as_ref().and_then(|i| i.declared.as_deref()), None);
        assert_eq!(live.as_ref().and_then(|i| i.ttl), Some(27));
        assert_eq!(live.as_ref().and_then(|i| i.granted_ttl), Some(30));
        assert_eq!(
            live.as_ref()
                .and_then(|i| i.metadata.get("heartbeat"))
                .map(String::as_str),
            Some(BEAT)
        );
        assert_eq!(
            live.and_then(|i| i.lease).map(|l| l.0),
            Some(60),
            "the lease is the key's own"
        );
        assert_eq!(index.service_summary("v2.greeter").and_then(|s| s.min_ttl), Some(27));
        assert_eq!(index.service_summaries(None).len(), 2, "$node and v2.greeter only");
        // A sample of the INFO lease does not take the heartbeat's place.
        sample(&mut index, 60, 50, 60);
        assert_eq!(greeter(&index).and_then(|i| i.ttl), Some(27));

        // The beat expires: the node is declared gone while its INFO lives on.
        let touched = delete(&mut index, BEAT);
        assert!(touched.instances.contains(&("$node".to_owned(), INFO_ID.to_owned())));
        assert_eq!(greeter(&index).and_then(|i| i.declared).as_deref(), Some(NO_HEARTBEAT));
        assert_eq!(index.service_summary("v2.greeter").and_then(|s| s.min_ttl), Some(50));

        // The node stops listing greeter: that instance alone is deregistered.
        let only_node = r#"{"services":[{"name":"$node","fullName":"$node"}]}"#;
        let touched = put(&mut index, KeyValue::sample(INFO_ID, only_node).with_lease(61));
        let gone: Vec<&str> = touched
            .happenings
            .instances
            .iter()
            .filter_map(|c| match c {
                crate::registry::events::InstanceChange::Deregistered(i) => Some(i.service.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(gone, ["v2.greeter"]);
        assert!(index.service_summary("v2.greeter").is_none());
        assert_eq!(index.service_summary("$node").map(|s| s.instances), Some(1));
    }

    const PG1: &str =
        r#"{"conn_url":"postgres://127.0.0.1:5433/postgres","state":"running","role":"primary","xlog_location":1000}"#;
    const PG2: &str = r#"{"conn_url":"postgres://127.0.0.1:5434/postgres","state":"running","role":"replica","xlog_location":900,"replay_lsn":800}"#;

    fn field(index: &Index, member: &str, name: &str) -> Option<String> {
        let id = format!("/service/demo/members/{member}");
        index.instance(&id, "demo")?.metadata.get(name).cloned()
    }

    #[test]
    fn patroni_members_show_the_leader_and_their_lag() {
        let mut index = Index::new(Classifier::default());
        put(
            &mut index,
            KeyValue::sample("/service/demo/members/pg1", PG1).with_lease(1),
        );
        put(
            &mut index,
            KeyValue::sample("/service/demo/members/pg2", PG2).with_lease(2),
        );
        assert_eq!(field(&index, "pg2", "lag"), None, "no leader, no status: no lag");

        let touched = put(
            &mut index,
            KeyValue::sample("/service/demo/leader", "pg1").with_lease(1),
        );
        assert!(touched
            .instances
            .contains(&("demo".to_owned(), "/service/demo/members/pg2".to_owned())));
        assert_eq!(field(&index, "pg1", "leader").as_deref(), Some("true"));
        assert_eq!(
            field(&index, "pg2", "lag").as_deref(),
            Some("100"),
            "from the leader's position"
        );
        assert_eq!(field(&index, "pg2", "replay_lag").as_deref(), Some("200"));
        assert_eq!(
            index.elections().first().and_then(|e| e.holder_only.clone()).as_deref(),
            Some("patroni")
        );

        // The status key is the cluster's position once written.
        put(
            &mut index,
            KeyValue::sample("/service/demo/status", r#"{"optime":1500}"#),
        );
        assert_eq!(field(&index, "pg2", "lag").as_deref(), Some("600"));
        // The leader's key goes (its lease expired): nobody is the leader.
        delete(&mut index, "/service/demo/leader");
        assert_eq!(field(&index, "pg1", "leader"), None);
        assert_eq!(field(&index, "pg1", "lag").as_deref(), Some("500"));
        // pg2 takes over on its own lease.
        put(
            &mut index,
            KeyValue::sample("/service/demo/leader", "pg2").with_lease(2),
        );
        assert_eq!(field(&index, "pg2", "leader").as_deref(), Some("true"));
        assert_eq!(field(&index, "pg2", "lag"), None);
        // A member that stopped says so.
        let stopped = r#"{"state":"stopped","role":"primary"}"#;
        put(
            &mut index,
            KeyValue::sample("/service/demo/members/pg1", stopped).with_lease(1),
        );
        let pg1 = index
            .instance("/service/demo/members/pg1", "demo")
            .and_then(|i| i.declared.clone());
        assert_eq!(pg1.as_deref(), Some("not running (state=stopped)"));
    }
}
