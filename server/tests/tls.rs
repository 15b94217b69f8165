//! TLS, with certificates made inside the test (rcgen): Leasehold syncs an
//! etcd that serves TLS and demands client certificates; a CA that did not
//! sign etcd's certificate fails with a message that says so; and the
//! dashboard serves HTTPS, with the session cookie marked Secure.

#![allow(
    clippy::expect_used,
    reason = "test helpers panic with a message when the setup fails"
)]

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use common::{config, spawn_app_with};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair};
use serde_json::{json, Value};
use server::config::{EtcdConfig, EtcdTls, Secret};
use server::dev::{EtcdProcess, EtcdServerTls};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

const LIMIT: Duration = Duration::from_secs(30);

/// A CA, and PEM files of certificates it signed.
struct Pki {
    ca: CertifiedIssuer<'static, KeyPair>,
    dir: tempfile::TempDir,
}

impl Pki {
    fn new(name: &str) -> Pki {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let key = KeyPair::generate().expect("CA key");
        let ca = CertifiedIssuer::self_signed(params, key).expect("CA certificate");
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("ca.pem"), ca.pem()).expect("write CA");
        Pki { ca, dir }
    }

    fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// Writes `<name>.pem` and `<name>-key.pem`; returns their paths.
    fn issue(&self, name: &str, usage: ExtendedKeyUsagePurpose) -> (PathBuf, PathBuf) {
        let mut params = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).expect("params");
        params.distinguished_name.push(DnType::CommonName, name);
        params.extended_key_usages = vec![usage];
        let key = KeyPair::generate().expect("key");
        let cert = params.signed_by(&key, &self.ca).expect("sign");
        let (cert_file, key_file) = (self.path(&format!("{name}.pem")), self.path(&format!("{name}-key.pem")));
        std::fs::write(&cert_file, cert.pem()).expect("write cert");
        std::fs::write(&key_file, key.serialize_pem()).expect("write key");
        (cert_file, key_file)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).expect("read PEM")
}

/// How Leasehold reaches `endpoint` with `tls`.
fn etcd_config(endpoint: String, tls: &EtcdTls) -> EtcdConfig {
    EtcdConfig {
        tls: Some(tls.clone()),
        ..EtcdConfig::new(vec![endpoint])
    }
}

/// etcd over TLS that demands a client certificate from `pki`'s CA.
async fn tls_etcd(pki: &Pki) -> (EtcdProcess, EtcdTls) {
    let (cert_file, key_file) = pki.issue("etcd", ExtendedKeyUsagePurpose::ServerAuth);
    let (client_cert, client_key) = pki.issue("leasehold", ExtendedKeyUsagePurpose::ClientAuth);
    let tls = EtcdTls {
        ca_pem: read(&pki.ca_file()),
        identity: Some((read(&client_cert), Secret::new(read(&client_key)))),
    };
    // The readiness check connects as Leasehold would.
    let server = EtcdServerTls {
        cert_file,
        key_file,
        ca_file: pki.ca_file(),
        client_cert_auth: true,
        client: server::etcd::connect_options(&etcd_config(String::new(), &tls)),
    };
    let binary = std::env::var("LEASEHOLD_ETCD_BIN").unwrap_or_else(|_| "etcd".to_owned());
    let etcd = EtcdProcess::start_tls(binary, server)
        .await
        .expect("etcd with TLS starts");
    (etcd, tls)
}

/// A WebSocket over TLS to the dashboard, trusting `ca`, sending `cookie`.
async fn wss(addr: std::net::SocketAddr, ca: &Path, cookie: &str) -> common::WsClient<TlsStream<TcpStream>> {
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
    use tokio_rustls::rustls::{ClientConfig, RootCertStore};
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;

    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).expect("CA file") {
        roots.add(cert.expect("CA certificate")).expect("trust the CA");
    }
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let name = ServerName::try_from("127.0.0.1").expect("server name");
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .expect("TLS handshake with the dashboard");
    let mut request = format!("wss://{addr}/api/v1/ws")
        .into_client_request()
        .expect("request");
    request
        .headers_mut()
        .insert("cookie", cookie.parse().expect("cookie header"));
    let (stream, _) = tokio_tungstenite::client_async(request, tls)
        .await
        .expect("WebSocket over TLS");
    common::WsClient { stream }
}

#[tokio::test]
async fn syncs_an_etcd_that_demands_client_certificates() {
    let pki = Pki::new("leasehold test CA");
    let (etcd, tls) = tls_etcd(&pki).await;
    assert!(etcd.endpoint().starts_with("https://"));
    let mut client = server::etcd::connect(&etcd_config(etcd.endpoint(), &tls))
        .await
        .expect("client");
    client
        .put(
            "/microservices/orders/1",
            r#"{"id":"1","name":"orders","endpoints":["grpc://10.0.0.1:9000"]}"#,
            None,
        )
        .await
        .expect("put over TLS");

    let mut settings = config(etcd.endpoint());
    settings.etcd.tls = Some(tls);
    let app = spawn_app_with(settings).await;
    app.wait_for_health(200, LIMIT).await;
    let (status, body) = app.get("/api/v1/services").await;
    assert_eq!(status, 200);
    assert_eq!(body["services"][0]["name"], "orders", "{body}");
    app.shutdown().await;
}

#[tokio::test]
async fn a_ca_that_did_not_sign_etcd_fails_with_a_clear_message() {
    let pki = Pki::new("the real CA");
    let (etcd, tls) = tls_etcd(&pki).await;
    let stranger = Pki::new("some other CA");
    let mut settings = config(etcd.endpoint());
    settings.etcd.tls = Some(EtcdTls {
        ca_pem: read(&stranger.ca_file()),
        ..tls.clone()
    });
    let app = spawn_app_with(settings).await;
    let health = app.wait_for_health(503, LIMIT).await;
    // Wait for the watcher's first failure to reach health.
    let deadline = tokio::time::Instant::now() + LIMIT;
    let mut health = health;
    while health["etcd"]["error"].is_null() {
        assert!(tokio::time::Instant::now() < deadline, "no error in {health}");
        tokio::time::sleep(Duration::from_millis(200)).await;
        health = app.get("/api/v1/health").await.1;
    }
    let error = health["etcd"]["error"].as_str().unwrap_or_default().to_lowercase();
    assert!(
        error.contains("unknownissuer") && error.contains("--etcd-ca"),
        "{health}"
    );
    assert_eq!(health["synced"], false);

    // Without a client certificate, etcd refuses the handshake.
    let mut settings = config(etcd.endpoint());
    settings.etcd.tls = Some(EtcdTls { identity: None, ..tls });
    let anonymous = spawn_app_with(settings).await;
    let mut health = anonymous.wait_for_health(503, LIMIT).await;
    while health["etcd"]["error"].is_null() {
        assert!(tokio::time::Instant::now() < deadline, "no error in {health}");
        tokio::time::sleep(Duration::from_millis(200)).await;
        health = anonymous.get("/api/v1/health").await.1;
    }
    assert_eq!(health["synced"], false, "{health}");
    let error = health["etcd"]["error"].as_str().unwrap_or_default();
    assert!(error.contains("--etcd-cert"), "{health}");
    app.shutdown().await;
    anonymous.shutdown().await;
}

#[tokio::test]
async fn the_dashboard_serves_https_with_secure_cookies() {
    let etcd = common::start_etcd().await;
    let pki = Pki::new("dashboard CA");
    let (cert, key) = pki.issue("leasehold", ExtendedKeyUsagePurpose::ServerAuth);
    let password = "https-Pa55";
    let hash = server::auth::hash_password(password).expect("hash");
    let users = server::auth::Users::parse(&format!(
        "[[users]]\nname = \"otto\"\nrole = \"operator\"\npassword_hash = \"{hash}\"\n"
    ))
    .expect("users");
    let mut settings = config(etcd.endpoint());
    settings.tls = Some(server::http::tls::server_config(&cert, &key).expect("TLS settings"));
    settings.auth = server::auth::AuthMode::Users(Arc::new(users));
    let app = spawn_app_with(settings).await;

    let ca = reqwest::Certificate::from_pem(read(&pki.ca_file()).as_bytes()).expect("CA for reqwest");
    let https = reqwest::Client::builder()
        .add_root_certificate(ca)
        .build()
        .expect("https client");
    let base = format!("https://127.0.0.1:{}", app.addr.port());
    let deadline = tokio::time::Instant::now() + LIMIT;
    let health = loop {
        if let Ok(response) = https.get(format!("{base}/api/v1/health")).send().await {
            if response.status().as_u16() == 200 {
                break response.json::<Value>().await.expect("health JSON");
            }
        }
        assert!(tokio::time::Instant::now() < deadline, "no healthy answer over HTTPS");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(health["synced"], true);

    let response = https
        .post(format!("{base}/api/v1/login"))
        .json(&json!({"username": "otto", "password": password}))
        .send()
        .await
        .expect("login over HTTPS");
    assert_eq!(response.status().as_u16(), 200);
    let cookie = response
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(cookie.ends_with("; Secure") && cookie.contains("HttpOnly"), "{cookie}");

    // The live view over wss://, with the session.
    let mut socket = wss(app.addr, &pki.ca_file(), cookie.split(';').next().unwrap_or_default()).await;
    socket
        .send_json(json!({"type": "subscribe", "topics": ["services"]}))
        .await;
    let snapshot = socket.wait_for(LIMIT, |m| m["type"] == "snapshot").await;
    assert_eq!(snapshot["topic"], "services", "{snapshot}");

    // Plain HTTP on the HTTPS port gets no answer from the app.
    let plain = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{}/api/v1/health", app.addr.port()))
        .timeout(Duration::from_secs(5))
        .send()
        .await;
    assert!(plain.is_err() || plain.is_ok_and(|r| r.status().as_u16() != 200));
    app.shutdown().await;
}
