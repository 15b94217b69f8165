//! The watched keys as they were at a past revision, for the registry "as
//! of" then: each watched prefix read page by page, every page pinned at
//! that revision.

use app::model::Revision;

use etcd_client::GetOptions;

use super::keys::KvError;
use super::ranges::prefix_end;
use super::{with_timeout, Actions};
use crate::registry::KeyValue;

/// Keys per page.
const PAGE: usize = 1000;

impl Actions {
    /// Whether etcd can still read at `revision`: a count of one key, so a
    /// registry built at that revision is answered again only while etcd
    /// keeps it (a compaction since makes it 410 like any past read).
    pub async fn readable_at(&self, revision: Revision) -> Result<(), KvError> {
        let options = GetOptions::new().with_revision(revision).with_count_only();
        let mut kv = self.kv_client();
        with_timeout(self.timeout, kv.get(vec![0u8], Some(options)))
            .await
            .map(|_| ())
            .map_err(|error| KvError::from_etcd(error, revision))
    }

    /// Every key under `prefixes` (none: the whole keyspace) at `revision`,
    /// in key order per prefix, and etcd's revision when it answered. More
    /// than `max_bytes` of keys and values is refused: a past registry is
    /// built whole, and must not hold more than the server can spare.
    pub async fn keys_at(
        &self,
        prefixes: &[String],
        revision: Revision,
        max_bytes: usize,
    ) -> Result<(Revision, Vec<KeyValue>), KvError> {
        let ranges: Vec<(Vec<u8>, Vec<u8>)> = if prefixes.is_empty() {
            vec![(Vec::new(), vec![0])]
        } else {
            prefixes
                .iter()
                .map(|p| (p.as_bytes().to_vec(), prefix_end(p.as_bytes())))
                .collect()
        };
        let (mut items, mut bytes, mut header) = (Vec::new(), 0usize, 0);
        for (start, end) in ranges {
            let mut next = start;
            loop {
                let page = self.range_page(&next, &end, PAGE, revision).await?;
                if header == 0 {
                    header = page.revision;
                }
                if page.revision < revision {
                    return Err(KvError::FutureRevision(revision));
                }
                let more = page.more;
                for kv in page.items {
                    bytes += kv.key.len() + kv.value.len();
                    if bytes > max_bytes {
                        return Err(KvError::TooLarge(format!(
                            "the registry at revision {revision} holds more than {} MiB of keys and values: \
                             narrow --prefix to look at its past",
                            max_bytes >> 20
                        )));
                    }
                    next = kv.key.clone();
                    next.push(0);
                    items.push(kv);
                }
                if !more {
                    break;
                }
            }
        }
        Ok((header, items))
    }
}
