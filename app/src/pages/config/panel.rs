//! What the parts of the selected key's panel share: the edit in progress,
//! a compare-and-swap that lost, the delete dialog, and what the last write
//! did. The panel (`key_panel.rs`) makes it; editing (`edit.rs`) and
//! deleting (`delete.rs`) change it.

use leptos::prelude::*;

use crate::live::api::ApiFailure;
use crate::model::{Kv, KvConflictBody, Revision};

/// What the panel's parts share: the edit in progress, a lost
/// compare-and-swap, the delete dialog, and what the last write did.
#[derive(Clone, Copy)]
pub(super) struct Panel {
    pub(super) editing: RwSignal<Option<Edit>>,
    pub(super) conflict: RwSignal<Option<Conflict>>,
    /// A write is under way: the buttons that would start another are disabled.
    pub(super) busy: RwSignal<bool>,
    /// What the last write or delete did (`Ok`), or why it failed (`Err`).
    pub(super) outcome: RwSignal<Option<Result<String, String>>>,
    /// The delete dialog is open.
    pub(super) deleting: RwSignal<bool>,
}

/// An edit in progress: the text, and the revision it started from (0: the
/// key did not exist).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Edit {
    pub(super) text: String,
    pub(super) base: Revision,
}

/// A compare-and-swap that lost: what the operator wrote and what the key is now.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Conflict {
    pub(super) mine: String,
    pub(super) base: Revision,
    pub(super) theirs: Option<Kv>,
}

/// What a 409 says the key is now; `None` when the failure was something else.
pub(super) fn conflict_of(failure: &ApiFailure) -> Option<Option<Kv>> {
    (failure.status == Some(409))
        .then(|| serde_json::from_str::<KvConflictBody>(&failure.body).ok())
        .flatten()
        .map(|body| body.current)
}
