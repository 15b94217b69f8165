//! The lease sampler: etcd has no watch for leases, so their list is polled
//! (`LeaseLeases`) and their TTLs are sampled (`TimeToLive`) within a budget
//! of requests per second, oldest sample first. The browser counts TTLs down
//! between samples.

use std::collections::BTreeSet;
use std::time::Duration;

use etcd_client::Client;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{with_timeout, Error};
use crate::registry::LeaseSamples;

/// A lease sampled this recently is not sampled again yet.
const FRESH_FOR: Duration = Duration::from_secs(2);

pub struct LeaseSampler {
    client: Client,
    samples: LeaseSamples,
    /// Pause between two `TimeToLive` requests (the budget).
    pause: Duration,
    poll_every: Duration,
    timeout: Duration,
}

impl LeaseSampler {
    pub fn new(client: Client, samples: LeaseSamples, rate: f64, poll_every: Duration, timeout: Duration) -> Self {
        LeaseSampler {
            client,
            samples,
            pause: Duration::from_secs_f64(1.0 / rate.max(0.1)),
            poll_every,
            timeout,
        }
    }

    pub async fn run(mut self, stop: CancellationToken) -> Result<(), Error> {
        let mut next_poll = Instant::now();
        loop {
            if Instant::now() >= next_poll {
                self.poll().await;
                next_poll = Instant::now() + self.poll_every;
            }
            if let Some(lease) = self.samples.sampling_order(1, FRESH_FOR).first() {
                self.sample(*lease).await;
            }
            tokio::select! {
                () = stop.cancelled() => return Ok(()),
                () = tokio::time::sleep(self.pause) => {}
            }
        }
    }

    async fn poll(&mut self) {
        match with_timeout(self.timeout, self.client.leases()).await {
            Ok(response) => {
                let listed: BTreeSet<i64> = response.leases().iter().map(|l| l.id()).collect();
                self.samples.set_polled_leases(&listed);
            }
            // The watcher reports the link; a failed poll is simply retried.
            Err(error) => {
                self.samples.metrics().etcd_error();
                tracing::debug!(error = %error.summary(), "lease list failed");
            }
        }
    }

    async fn sample(&mut self, lease: i64) {
        match with_timeout(self.timeout, self.client.lease_time_to_live(lease, None)).await {
            Ok(answer) => self.samples.set_lease_sample(lease, answer.ttl(), answer.granted_ttl()),
            Err(error) => {
                self.samples.metrics().etcd_error();
                tracing::debug!(lease, error = %error.summary(), "lease sample failed");
            }
        }
    }
}
