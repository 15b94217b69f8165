//! The demo's services and what each framework writes for one instance: the
//! key and value formats of README.md's "Registry layouts understood", with
//! made-up but plausible names, addresses, versions and metadata.
//!
//! Over the usual size: it is a table, one entry per layout, read as data.

use app::model::Layout;
use rand::seq::IndexedRandom;
use rand::Rng;
use serde_json::json;

/// Instances a service starts with are between 1 and this; churn keeps them there.
pub const MAX_INSTANCES: usize = 6;

/// Service names, in an order that covers every layout within the first nine,
/// so that even `--demo-services 9` shows them all.
const CATALOG: &[(&str, Layout)] = &[
    ("payments", Layout::Kratos),
    ("search", Layout::GoMicro),
    ("services/greeter", Layout::Grpc),
    ("user.rpc", Layout::GoZero),
    ("shipping", Layout::Kitex),
    ("billing-app", Layout::DubboApp),
    ("org.apache.dubbo.sample.UserProvider", Layout::Dubbo),
    ("db.cluster.local", Layout::Skydns),
    ("Arith", Layout::Rpcx),
    ("checkout", Layout::Kratos),
    ("notifications", Layout::GoMicro),
    ("services/ledger", Layout::Grpc),
    ("order.rpc", Layout::GoZero),
    ("pricing", Layout::Kitex),
    ("account-app", Layout::DubboApp),
    ("com.example.order.OrderService", Layout::Dubbo),
    ("cache.cluster.local", Layout::Skydns),
    ("inventory", Layout::Kratos),
    ("recommendations", Layout::GoMicro),
    ("services/fraud-detection", Layout::Grpc),
    ("coupon.rpc", Layout::GoZero),
    ("cart", Layout::Kitex),
    ("risk-app", Layout::DubboApp),
    ("com.example.payment.RefundService", Layout::Dubbo),
    ("mq.prod.example.com", Layout::Skydns),
    ("user-profile", Layout::Kratos),
    ("media-transcoder", Layout::GoMicro),
    ("services/geo", Layout::Grpc),
    ("sms.rpc", Layout::GoZero),
    ("reviews", Layout::Kitex),
    ("ldap.corp.example.com", Layout::Skydns),
    ("Geocoder", Layout::Rpcx),
];

/// Availability zones, by region; an instance's address says its zone.
const ZONES: &[(&str, &str)] = &[
    ("eu-west-1", "eu-west-1a"),
    ("eu-west-1", "eu-west-1b"),
    ("eu-west-1", "eu-west-1c"),
    ("us-east-1", "us-east-1a"),
    ("us-east-1", "us-east-1b"),
];

/// A service of the demo: its name as its framework spells it, and the version
/// most of its instances run.
#[derive(Debug, Clone)]
pub struct Service {
    pub name: String,
    pub layout: Layout,
    version: (u32, u32, u32),
}

/// The first `count` services of the catalog; past its end, the names come
/// round again with a number (`payments-2`, `user-2.rpc`, ...).
pub fn services(count: usize) -> Vec<Service> {
    let mut rng = rand::rng();
    (0..count)
        .map(|i| {
            let (base, layout) = CATALOG[i % CATALOG.len()];
            let round = i / CATALOG.len() + 1;
            Service {
                name: numbered(base, layout, round),
                layout,
                version: (
                    rng.random_range(1..=3),
                    rng.random_range(0..=12),
                    rng.random_range(0..=9),
                ),
            }
        })
        .collect()
}

fn numbered(base: &str, layout: Layout, round: usize) -> String {
    if round == 1 {
        return base.to_owned();
    }
    match layout {
        // The number goes on the first label or word, where a person would put it.
        Layout::Skydns | Layout::GoZero => match base.split_once('.') {
            Some((first, rest)) => format!("{first}-{round}.{rest}"),
            None => format!("{base}-{round}"),
        },
        Layout::Dubbo => format!("{base}{round}"),
        _ => format!("{base}-{round}"),
    }
}

/// One instance: where it listens and what it says about itself. It keeps
/// these when it registers again under a new lease.
#[derive(Debug, Clone)]
pub struct Instance {
    pub service: Service,
    host: String,
    port: u16,
    /// A pod-like name (`payments-7f9c4d8b6-x2kqp`), for ids and labels; for
    /// go-micro, the node id.
    pod: String,
    version: String,
    region: &'static str,
    zone: &'static str,
    weight: u32,
}

impl Service {
    /// A new instance of this service, on a random 10.x.y.z address.
    pub fn instance(&self) -> Instance {
        let mut rng = rand::rng();
        let zone_index = rng.random_range(0..ZONES.len());
        let (region, zone) = ZONES[zone_index];
        let host = format!(
            "10.{}.{}.{}",
            20 + zone_index,
            rng.random_range(0..=255),
            rng.random_range(1..=254)
        );
        let port = match self.layout {
            Layout::Kratos => 9000,
            Layout::GoMicro => rng.random_range(30000..45000),
            Layout::Grpc => 50051,
            Layout::GoZero => 8080,
            Layout::Kitex => 8888,
            Layout::Dubbo | Layout::DubboApp => 20000,
            Layout::Skydns => dns_port(&self.name),
            Layout::Rpcx => 8972,
            Layout::Custom | Layout::Unknown | Layout::Moleculer | Layout::Tooz | Layout::Patroni => 8080,
        };
        let (major, minor, patch) = self.version;
        // Now and then a canary runs the next patch release.
        let patch = if rng.random_bool(0.15) { patch + 1 } else { patch };
        Instance {
            service: self.clone(),
            host,
            port,
            pod: match self.layout {
                // go-micro names a node after its service and a UUID.
                Layout::GoMicro => format!("{}-{}", self.name, uuid(&mut rng)),
                _ => pod_name(self.short_name(), &mut rng),
            },
            version: format!("v{major}.{minor}.{patch}"),
            region,
            zone,
            weight: *[10, 10, 10, 20, 50].choose(&mut rng).unwrap_or(&10),
        }
    }
}

/// The port a DNS-announced service listens on, by what its name says it is.
fn dns_port(name: &str) -> u16 {
    match name.split(['.', '-']).next().unwrap_or_default() {
        "db" => 5432,
        "cache" => 6379,
        "mq" => 5672,
        "ldap" => 389,
        _ => 8080,
    }
}

impl Service {
    /// The one word a person would call the service by: `services/greeter` ->
    /// `greeter`, `org.apache.dubbo.sample.UserProvider` -> `userprovider`,
    /// `user.rpc` -> `user`, `db.cluster.local` -> `db`.
    fn short_name(&self) -> String {
        let name = self.name.as_str();
        let word = match self.layout {
            Layout::Grpc => name.rsplit('/').next().unwrap_or(name),
            Layout::Dubbo => name.rsplit('.').next().unwrap_or(name),
            Layout::GoZero | Layout::Skydns => name.split('.').next().unwrap_or(name),
            _ => name,
        };
        word.to_ascii_lowercase()
    }
}

/// `<name>-<replica set hash>-<5 characters>`, as Kubernetes names pods.
fn pod_name(name: String, rng: &mut impl Rng) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let hash: String = (0..9)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect();
    let suffix: String = (0..5)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect();
    format!("{name}-{hash}-{suffix}")
}

/// A random (version 4) UUID in its usual text form.
fn uuid(rng: &mut impl Rng) -> String {
    let bits: u128 = rng.random();
    let bits = (bits & !(0xf << 76) & !(0x3 << 62)) | (0x4 << 76) | (0x2 << 62);
    let hex = format!("{bits:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

impl Instance {
    pub fn address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// The key and value this instance's framework writes, under `lease`.
    pub fn entry(&self, lease: i64) -> (String, String) {
        let name = &self.service.name;
        let address = self.address();
        match self.service.layout {
            Layout::Kratos => {
                let value = json!({
                    "id": self.pod,
                    "name": name,
                    "version": self.version,
                    "metadata": {
                        "region": self.region,
                        "zone": self.zone,
                        "weight": self.weight.to_string(),
                    },
                    "endpoints": [
                        format!("grpc://{address}?isSecure=false"),
                        format!("http://{}:8000?isSecure=false", self.host),
                    ],
                });
                (format!("/microservices/{name}/{}", self.pod), value.to_string())
            }
            Layout::GoMicro => {
                let node = &self.pod;
                let value = json!({
                    "name": name,
                    "version": self.version,
                    "metadata": null,
                    "endpoints": [],
                    "nodes": [{
                        "id": node,
                        "address": address,
                        "metadata": {
                            "broker": "http",
                            "protocol": "grpc",
                            "registry": "etcd",
                            "server": "grpc",
                            "transport": "grpc",
                            "region": self.region,
                            "zone": self.zone,
                        },
                    }],
                });
                (format!("/micro/registry/{name}/{node}"), value.to_string())
            }
            Layout::Grpc => {
                let value = json!({ "Op": 0, "Addr": address, "Metadata": null });
                (format!("{name}/{address}"), value.to_string())
            }
            Layout::GoZero => (format!("{name}/{lease}"), address),
            Layout::Kitex => {
                let value = json!({
                    "network": "tcp",
                    "address": address,
                    "weight": self.weight,
                    "tags": { "cluster": "default", "env": "prod", "zone": self.zone },
                });
                (format!("kitex/registry-etcd/{name}/{address}"), value.to_string())
            }
            Layout::DubboApp => {
                let value = json!({
                    "ID": address,
                    "ServiceName": name,
                    "Host": self.host,
                    "Port": self.port,
                    "Enable": true,
                    "Healthy": true,
                    "Metadata": {
                        "dubbo.metadata.revision": revision(name, &self.version),
                        "dubbo.metadata.storage-type": "local",
                        "dubbo.endpoints": format!(r#"[{{"port":{},"protocol":"dubbo"}}]"#, self.port),
                    },
                });
                (format!("/services/{name}/{address}"), value.to_string())
            }
            Layout::Dubbo => {
                let short = self.service.short_name();
                let methods = match short.as_str() {
                    "userprovider" => "GetUser,QueryUsers",
                    "orderservice" => "CreateOrder,GetOrder,CancelOrder",
                    "refundservice" => "Refund,QueryRefund",
                    _ => "Invoke",
                };
                let application = format!("{}-app", short.trim_end_matches("service").trim_end_matches("provider"));
                let url = format!(
                    "dubbo://{address}/{name}?anyhost=true&application={application}&interface={name}\
                     &methods={methods}&side=provider&version=1.0.0"
                );
                (format!("/dubbo/{name}/providers/{}", query_escape(&url)), String::new())
            }
            Layout::Rpcx => (
                format!("/rpcx/{name}/tcp@{address}"),
                format!("group=prod&state=active&zone={}&version={}", self.zone, self.version),
            ),
            // Custom (the operator's own) and Unknown are never in the catalog,
            // nor are the clients the demo runs for real (Moleculer, tooz, Patroni).
            Layout::Skydns | Layout::Custom | Layout::Unknown | Layout::Moleculer | Layout::Tooz | Layout::Patroni => {
                let labels: Vec<&str> = name.split('.').rev().collect();
                let value = json!({
                    "host": self.host,
                    "port": self.port,
                    "priority": 10,
                    "weight": 100,
                    "ttl": 30,
                });
                // The instance label: the pod name's random tail, unique enough.
                let label = self.pod.rsplit('-').next().unwrap_or("x1");
                (format!("/skydns/{}/{label}", labels.join("/")), value.to_string())
            }
        }
    }
}

/// A stable hex digest standing in for dubbo's metadata revision.
fn revision(name: &str, version: &str) -> String {
    // FNV-1a: the value only has to look like a revision and change with the version.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in name.bytes().chain(version.bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}

/// Percent-encodes `text` as Go's `url.QueryEscape` does, which is how
/// dubbo-go puts a provider URL into one key segment.
pub fn query_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3 / 2);
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(char::from(byte)),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{Classifier, KeyValue, Kind};
    use std::collections::BTreeSet;

    #[test]
    fn the_first_nine_services_cover_every_layout() {
        let layouts: BTreeSet<&str> = services(9).iter().map(|s| s.layout.as_str()).collect();
        assert_eq!(layouts.len(), 9, "{layouts:?}");
        assert!(!layouts.contains(Layout::Custom.as_str()));
    }

    #[test]
    fn names_stay_unique_past_the_catalog() {
        let all = services(CATALOG.len() * 3);
        let names: BTreeSet<&str> = all.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names.len(), all.len());
        assert!(names.contains("user-2.rpc"));
        assert!(names.contains("db-3.cluster.local"));
        assert!(names.contains("payments-2"));
    }

    #[test]
    fn query_escape_is_gos() {
        assert_eq!(
            query_escape("dubbo://10.0.0.1:20000/a.B?x=1&m=Get,Put y~_-."),
            "dubbo%3A%2F%2F10.0.0.1%3A20000%2Fa.B%3Fx%3D1%26m%3DGet%2CPut+y~_-."
        );
    }

    #[test]
    fn entries_have_each_frameworks_shape() {
        let lease = 7_587_869_876_543_210;
        for service in services(9) {
            let instance = service.instance();
            let address = instance.address();
            let (key, value) = instance.entry(lease);
            let ok = match service.layout {
                Layout::Kratos => key.starts_with("/microservices/payments/payments-"),
                Layout::GoMicro => key.starts_with("/micro/registry/search/search-") && value.contains(&address),
                Layout::Grpc => key == format!("services/greeter/{address}") && value.contains("\"Addr\""),
                Layout::GoZero => key == format!("user.rpc/{lease}") && value == address,
                Layout::Kitex => key == format!("kitex/registry-etcd/shipping/{address}"),
                Layout::DubboApp => key == format!("/services/billing-app/{address}") && value.contains("\"Healthy\""),
                Layout::Dubbo => {
                    key.starts_with("/dubbo/org.apache.dubbo.sample.UserProvider/providers/dubbo%3A%2F%2F10.")
                        && key.contains("%26methods%3DGetUser%2CQueryUsers%26")
                        && value.is_empty()
                }
                Layout::Skydns => key.starts_with("/skydns/local/cluster/db/") && value.contains("\"port\":5432"),
                Layout::Rpcx => key == format!("/rpcx/Arith/tcp@{address}") && value.contains("state=active"),
                Layout::Custom | Layout::Unknown | Layout::Moleculer | Layout::Tooz | Layout::Patroni => false,
            };
            assert!(ok, "{:?}: {key} = {value}", service.layout);
            assert!(address.starts_with("10."), "{address}");
        }
    }

    /// The server's classifier reads every demo entry as the layout the demo
    /// meant, with the service and address it announced.
    #[test]
    fn the_classifier_reads_demo_entries_as_meant() {
        let classifier = Classifier::new(Vec::new());
        let lease = 0x694d_8b0e_e8ec_6c0a;
        let mut recognised = BTreeSet::new();
        for service in services(CATALOG.len()) {
            let instance = service.instance();
            let (key, value) = instance.entry(lease);
            match classifier.classify(&KeyValue::sample(&key, &value).with_lease(lease)) {
                Kind::Instance(found) => {
                    assert_eq!(found.layout, service.layout, "{key}");
                    assert_eq!(found.service, service.name, "{key}");
                    assert_eq!(found.address, Some(instance.address()), "{key}");
                    assert_eq!(found.error, None, "{key}");
                    recognised.insert(found.layout.as_str());
                }
                Kind::Contender { .. } => panic!("{key} read as a lock or election contender"),
                Kind::Instances(_) | Kind::Heartbeat(_) => panic!("{key} read as a Moleculer node's"),
                Kind::Plain => panic!("{key} not recognised"),
            }
        }
        let every: BTreeSet<&str> = services(CATALOG.len()).iter().map(|s| s.layout.as_str()).collect();
        assert_eq!(recognised, every);
    }
}
