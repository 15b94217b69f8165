//! How Leasehold talks to etcd: endpoints, timeouts, and the user and TLS
//! identity it shows etcd, with the secrets among them kept out of logs.

use std::time::Duration;

/// A secret that never prints: `Debug` and logs show `<hidden>`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(text: String) -> Self {
        Secret(text)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<hidden>")
    }
}

/// TLS to etcd: the CA to trust and, for `--client-cert-auth`, a client
/// certificate. `Debug` hides the key.
#[derive(Clone)]
pub struct EtcdTls {
    pub ca_pem: String,
    /// Certificate and key, PEM.
    pub identity: Option<(String, Secret)>,
}

impl std::fmt::Debug for EtcdTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdTls")
            .field("client_certificate", &self.identity.is_some())
            .finish_non_exhaustive()
    }
}

/// An etcd user Leasehold authenticates as.
#[derive(Debug, Clone)]
pub struct EtcdUser {
    pub name: String,
    pub password: Secret,
}

/// How Leasehold talks to etcd.
#[derive(Debug, Clone)]
pub struct EtcdConfig {
    pub endpoints: Vec<String>,
    /// Authenticate as this user (etcd with `auth enable`).
    pub user: Option<EtcdUser>,
    /// TLS (and client-certificate auth); `None` for plain http.
    pub tls: Option<EtcdTls>,
    /// Limit for establishing a connection to one endpoint.
    pub connect_timeout: Duration,
    /// Limit for one unary request (not for watch streams).
    pub request_timeout: Duration,
    /// HTTP/2 keepalive ping interval and its answer's deadline: how a frozen
    /// etcd (or a dead network path) is noticed on otherwise idle streams.
    pub keepalive_interval: Duration,
    pub keepalive_timeout: Duration,
    /// `--etcd-quota`: the members' quota when they do not say it.
    pub quota_bytes: Option<i64>,
}

impl EtcdConfig {
    pub fn new(endpoints: Vec<String>) -> Self {
        EtcdConfig {
            endpoints,
            user: None,
            tls: None,
            connect_timeout: Duration::from_secs(3),
            request_timeout: Duration::from_secs(5),
            keepalive_interval: Duration::from_secs(3),
            keepalive_timeout: Duration::from_secs(3),
            quota_bytes: None,
        }
    }
}
