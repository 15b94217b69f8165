//! Copy and rename of a prefix, shared by `POST /api/v1/copy` and
//! `leasehold copy`: the source read at one revision, planned and applied
//! onto the target as an import of its export would be, and for a rename
//! each key whose copy is in place then deleted from the source, guarded by
//! the `mod_revision` it was read with.

use app::model::{CopyBody, Revision};

use super::plan::{applied_body, conflicting_keys, conflicts_of, plan_body};
use crate::etcd::keys::KvError;
use crate::etcd::Actions;

/// What a copy is asked to do.
#[derive(Debug, Clone)]
pub struct CopySpec {
    pub from: Vec<u8>,
    pub to: Vec<u8>,
    /// Copy the source as it was then (not with `rename`).
    pub rev: Option<Revision>,
    pub rename: bool,
    pub dry_run: bool,
    pub delete_missing: bool,
    /// `leases: recreate`.
    pub recreate: bool,
    /// To apply: the dry run's revision (the plan's, and without `rev` the
    /// source's too).
    pub expect_revision: Option<Revision>,
}

impl CopySpec {
    /// What makes the copy impossible as asked, said as a refusal.
    pub fn refusal(&self) -> Option<String> {
        let (from, to) = (&self.from, &self.to);
        if from.starts_with(to) || to.starts_with(from) {
            return Some(format!(
                "{:?} and {:?} overlap: copy between prefixes neither of which holds the other",
                String::from_utf8_lossy(from),
                String::from_utf8_lossy(to)
            ));
        }
        if self.rename && self.rev.is_some() {
            return Some("a rename moves the keys as they are: give no rev".to_owned());
        }
        if self.rev.is_some_and(|rev| rev < 1) {
            return Some("rev must be >= 1".to_owned());
        }
        if !self.dry_run && self.expect_revision.is_none_or(|r| r < 1) {
            return Some(
                "expect_revision is required to apply: the revision of the dry run that was confirmed".to_owned(),
            );
        }
        None
    }
}

impl Actions {
    /// The copy (or rename) of [`CopySpec`]: its plan, and applied unless a
    /// dry run. A spec with a [`CopySpec::refusal`] must not be given.
    pub async fn copy_prefix(&self, spec: &CopySpec) -> Result<CopyBody, KvError> {
        let expect = if spec.dry_run {
            0
        } else {
            spec.expect_revision.unwrap_or_default()
        };
        // The source at `rev`, else at the plan's revision: the dry run's
        // first read fixes it, an apply reads at the one confirmed.
        let (source, seen, source_revision) = self.source_at(&spec.from, spec.rev.unwrap_or(expect)).await?;
        let plan_at = match (spec.dry_run, spec.rev) {
            (false, _) => expect,
            (true, Some(_)) => 0,
            (true, None) => source_revision,
        };
        let plan = self.import_plan(&source, &spec.to, plan_at, spec.recreate).await?;
        let planned = plan_body(&spec.to, &source, &plan, spec.delete_missing);
        let mut answer = CopyBody {
            copy: planned,
            source_revision,
            source_keys: source.len() as u64,
            rename: spec.rename,
            ..CopyBody::default()
        };
        if spec.dry_run {
            return Ok(answer);
        }
        let applied = self.import_apply(&source, plan, spec.delete_missing).await;
        let conflicting = conflicting_keys(&applied);
        let cut_short = applied.interrupted.is_some();
        answer.copy = applied_body(std::mem::take(&mut answer.copy), &source, &applied);
        if spec.rename {
            // Only the keys whose copy is in place, each guarded by the
            // mod_revision it had when read.
            let (moved, kept): (Vec<_>, Vec<_>) = seen.into_iter().partition(|(key, _)| {
                let mut copied = spec.to.clone();
                copied.extend_from_slice(key.get(spec.from.len()..).unwrap_or_default());
                !cut_short && !conflicting.contains(&copied)
            });
            answer.not_moved = kept.len() as u64;
            if !moved.is_empty() {
                let removal = self.delete_guarded(moved).await;
                answer.removed = removal.deleted;
                answer.removal_conflicts = conflicts_of(&source, &removal);
                answer.removal_interrupted = removal.interrupted;
            }
        }
        Ok(answer)
    }
}

/// The audit detail of an applied copy.
pub fn copy_detail(spec: &CopySpec, answer: &CopyBody) -> String {
    let (from, to) = (String::from_utf8_lossy(&spec.from), String::from_utf8_lossy(&spec.to));
    format!(
        "{} key(s) from {from:?} at revision {} to {to:?}: {} written, {} deleted, {} conflict(s){}{}",
        answer.source_keys,
        answer.source_revision,
        answer.copy.written,
        answer.copy.deleted,
        answer.copy.conflicts.len(),
        if spec.rename {
            format!(
                "; {} removed from {from:?}, {} kept (changed since), {} not moved",
                answer.removed,
                answer.removal_conflicts.len(),
                answer.not_moved
            )
        } else {
            String::new()
        },
        match (&answer.copy.interrupted, &answer.removal_interrupted) {
            (Some(why), _) | (None, Some(why)) => format!("; interrupted: {why}"),
            _ => String::new(),
        }
    )
}
