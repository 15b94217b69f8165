//! The registry "as of" a past revision: `?rev=R` or `?at=TIME` on the
//! registry reads (`/services`, `/services/{name}`, `/leases`, `/locks`,
//! `/elections`). The watched keys at that revision are read from etcd and
//! built into a registry of their own ([`Past`]); the last few are kept,
//! since a past revision never changes, so stepping between pages of the
//! same moment reads etcd's keys once (and after that one count, to know
//! the revision is not compacted since). One is built at a time.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

use app::model::Revision;
use serde::Deserialize;

use super::error::ApiError;
use super::AppState;
use crate::registry::Past;

/// Past registries kept.
const KEPT: usize = 2;
/// Keys and values a past registry may hold (it is built whole).
pub const PAST_MAX_BYTES: usize = 256 << 20;

/// `?rev=` or `?at=`: which past, if any.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AsOf {
    /// The registry as it was at this revision (read-only; 410 before etcd's compaction).
    #[param(minimum = 1)]
    pub rev: Option<i64>,
    /// The registry as it was at this time (RFC 3339): the newest revision
    /// Leasehold saw current then.
    #[param(format = DateTime)]
    pub at: Option<String>,
}

/// The past registries built lately, newest last.
#[derive(Default)]
pub struct PastRegistries {
    kept: Mutex<VecDeque<Arc<Past>>>,
    building: tokio::sync::Mutex<()>,
}

impl PastRegistries {
    fn find(&self, revision: Revision) -> Option<Arc<Past>> {
        let kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        kept.iter().find(|p| p.revision == revision).cloned()
    }

    fn keep(&self, past: Arc<Past>) {
        let mut kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        kept.retain(|p| p.revision != past.revision);
        kept.push_back(past);
        while kept.len() > KEPT {
            kept.pop_front();
        }
    }
}

/// The revision `as_of` names: `None` for now.
fn revision_of(state: &AppState, as_of: &AsOf) -> Result<Option<Revision>, ApiError> {
    match (as_of.rev, as_of.at.as_deref()) {
        (None, None) => Ok(None),
        (Some(_), Some(_)) => Err(ApiError::BadRequest(
            "rev and at name the same thing: give one".to_owned(),
        )),
        (Some(rev), None) if rev < 1 => Err(ApiError::BadRequest(format!("rev={rev}: revisions start at 1"))),
        (Some(rev), None) => Ok(Some(rev)),
        (None, Some(at)) => revision_at_time(state, "at", at).map(Some),
    }
}

/// The newest revision Leasehold saw current at the RFC 3339 time `text`
/// (the query parameter `name`).
pub(super) fn revision_at_time(state: &AppState, name: &str, text: &str) -> Result<Revision, ApiError> {
    let time = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map_err(|error| ApiError::BadRequest(format!("{name}={text:?} is not an RFC 3339 time: {error}")))?;
    let seconds = u64::try_from(time.unix_timestamp()).unwrap_or(0);
    match state.store.revision_at(seconds) {
        (Some(revision), _) => Ok(revision),
        (None, Some(since)) => Err(ApiError::BadRequest(format!(
            "{name}={text}: Leasehold knows which revision was current only from {} on, when it began watching; \
             ask for a revision instead",
            rfc3339(since)
        ))),
        (None, None) => Err(ApiError::BadRequest(format!(
            "{name}={text}: Leasehold has not seen a revision yet; ask for a revision instead"
        ))),
    }
}

fn rfc3339(unix_seconds: u64) -> String {
    i64::try_from(unix_seconds)
        .ok()
        .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| unix_seconds.to_string())
}

/// The registry `as_of` asks for: `None` for now, else the past one, read
/// from etcd unless it was kept.
pub async fn registry_at(state: &AppState, as_of: &AsOf) -> Result<Option<Arc<Past>>, ApiError> {
    let Some(revision) = revision_of(state, as_of)? else {
        return Ok(None);
    };
    if let Some(past) = state.past.find(revision) {
        let still = state.actions.readable_at(revision).await;
        super::kv_routes::with_horizon(state, still).await?;
        return Ok(Some(past));
    }
    let _one_at_a_time = state.past.building.lock().await;
    if let Some(past) = state.past.find(revision) {
        return Ok(Some(past));
    }
    let read = state
        .actions
        .keys_at(&state.config.prefixes, revision, PAST_MAX_BYTES)
        .await;
    let (_, items) = super::kv_routes::with_horizon(state, read).await?;
    let classifier = state.store.classifier();
    let past = tokio::task::spawn_blocking(move || Past::build(classifier, revision, items))
        .await
        .map_err(|error| ApiError::Internal(format!("building the registry at revision {revision}: {error}")))?;
    state.past.keep(past.clone());
    Ok(Some(past))
}
