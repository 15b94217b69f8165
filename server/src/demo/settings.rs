//! Configuration the demo's services would read at start and watch: a few
//! keys in each format the configuration centre highlights (JSON, YAML, TOML,
//! plain text, binary), two of them rewritten every few leader terms so that
//! key histories and the prefix comparison have something to show. They
//! carry no lease, as configuration does not; the demo deletes them when it
//! stops.

use std::collections::BTreeMap;

use etcd_client::DeleteOptions;

use super::Ctx;

/// Where the demo's configuration lives.
pub const SETTINGS_PREFIX: &str = "/config/demo/";

/// The demo's configuration after `round` rewrites.
fn documents(round: u64) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut put = |key: &str, value: Vec<u8>| {
        out.insert(format!("{SETTINGS_PREFIX}{key}"), value);
    };
    put(
        "checkout/service.json",
        format!(
            r#"{{"replicas":{},"timeout_ms":{},"upstreams":["payments:9000","inventory:9100"],"retry":{{"attempts":3,"backoff":"exponential"}}}}"#,
            3 + round % 3,
            800 + (round % 4) * 100
        )
        .into_bytes(),
    );
    put(
        "checkout/flags.yaml",
        format!(
            "# feature flags, read by checkout at start\nnew_checkout: {}\ngift_cards: true\nrollout_percent: {}\n",
            round % 2 == 1,
            (round * 10) % 100
        )
        .into_bytes(),
    );
    put(
        "payments/limits.toml",
        b"[limits]\nmax_amount = 10000\ncurrency = \"EUR\"\n\n[fraud]\nthreshold = 0.82\nenabled = true\n".to_vec(),
    );
    put(
        "edge/banner",
        "Scheduled maintenance: Sunday 02:00-04:00 UTC".as_bytes().to_vec(),
    );
    // The first bytes of a DER certificate: not UTF-8, shown as hex.
    put(
        "edge/tls-cert.der",
        vec![
            0x30, 0x82, 0x03, 0x1f, 0x30, 0x82, 0x02, 0x07, 0xa0, 0x03, 0x02, 0x01, 0x02, 0xff,
        ],
    );
    out
}

/// Writes the configuration, rewrites part of it every two leader terms
/// until the demo stops, then deletes it. A write etcd refused is tried
/// again in the next round.
pub async fn run(ctx: Ctx) {
    let mut written: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut round = 0;
    loop {
        for (key, value) in documents(round) {
            if written.get(&key) == Some(&value) {
                continue;
            }
            let mut kv = ctx.client.kv_client();
            if ctx
                .call("write demo configuration", kv.put(key.as_str(), value.clone(), None))
                .await
                .is_ok()
            {
                written.insert(key, value);
            }
        }
        tokio::select! {
            () = ctx.stop.cancelled() => break,
            () = tokio::time::sleep(ctx.config.leader_term * 2) => {}
        }
        round += 1;
    }
    let mut kv = ctx.client.kv_client();
    let options = DeleteOptions::new().with_prefix();
    if let Err(error) = ctx
        .call("delete demo configuration", kv.delete(SETTINGS_PREFIX, Some(options)))
        .await
    {
        tracing::warn!(error = %error.summary(), "demo: its configuration under {SETTINGS_PREFIX} stays in etcd");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrites_change_two_documents_and_keep_the_others() {
        let (first, next) = (documents(0), documents(1));
        let changed: Vec<&String> = first.keys().filter(|k| first.get(*k) != next.get(*k)).collect();
        assert_eq!(
            changed,
            ["/config/demo/checkout/flags.yaml", "/config/demo/checkout/service.json"]
        );
        assert!(first.keys().all(|k| k.starts_with(SETTINGS_PREFIX)));
    }
}
