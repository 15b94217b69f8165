//! Moving a prefix (`/config/transfer`): export it to a document (now or
//! as it was at a revision), import a document into a prefix, copy or
//! rename a prefix. An import and a copy are dry-run first: what would be
//! added, changed (with diffs), left alone, and what is here but not in
//! the source (kept unless asked to delete); the apply is confirmed in a
//! dialog and writes each key only while it is as the dry run saw it, so
//! a change made meanwhile is a reported conflict, not an overwrite.
//!
//! - [`export`]: the export's form and its download link (the browser
//!   streams the document to disk; the wasm never holds it).
//! - [`import`]: a file sent as it is to `POST /api/v1/import`, the plan,
//!   the confirmation and the outcome.
//! - [`copy`]: `POST /api/v1/copy`, the same steps, and a rename's removal.
//! - [`plan`]: the plan and the outcome, as both show them.

mod copy;
mod export;
mod import;
mod plan;

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::live::api::ApiFailure;
use crate::live::Live;

/// Why this tab may not ask for an import or a copy at all, not even a dry
/// run: the server refuses both under `--read-only`. A viewer may dry-run.
fn dry_run_refusal(live: Live) -> Option<&'static str> {
    live.me.with(|me| match me {
        None => Some("Checking what you may do…"),
        Some(me) if me.read_only => {
            Some("This Leasehold runs read-only: imports and copies are refused through it, dry runs too.")
        }
        Some(_) => None,
    })
}

/// Why a plan may not be applied from this tab; `None` when it may.
fn apply_refusal(live: Live) -> Option<&'static str> {
    live.write_refusal()
}

/// Where a dry run and its apply stand.
#[derive(Debug, Clone, PartialEq)]
enum Step<R, B> {
    /// No dry run yet.
    Idle,
    /// The dry run is asked for.
    Planning,
    /// The plan, with the request that made it.
    Planned(R, B),
    /// The plan is being applied.
    Applying(R, B),
    /// What the apply did.
    Applied(B),
    /// The dry run was refused, in words.
    Failed(String),
}

impl<R, B> Step<R, B> {
    fn busy(&self) -> bool {
        matches!(self, Step::Planning | Step::Applying(..))
    }
}

/// Why an apply gave no answer, and what that means for etcd: a refusal
/// (4xx) wrote nothing; anything else may have written part of the plan.
fn apply_failure(failure: &ApiFailure) -> String {
    match failure.status {
        Some(status) if (400..500).contains(&status) => format!("Nothing was written. {failure}"),
        _ => format!(
            "The apply gave no answer: {failure} It may have written part of the plan: dry-run again to see where things stand."
        ),
    }
}

/// The refusal beside a control that is disabled, or nothing.
fn refusal_note(why: Option<&'static str>) -> Option<impl IntoView> {
    why.map(|why| view! { <span class="muted" data-testid="transfer-refusal">{why}</span> })
}

#[component]
pub fn TransferPage() -> impl IntoView {
    let query = use_query_map();
    // The Config page links here with the tree's root: the prefix each part starts with.
    let prefix = query.read_untracked().get("prefix").unwrap_or_default();
    view! {
        <section class="page transfer">
            <p class="crumbs"><a href="/config">"Configuration"</a> " / "</p>
            <h1>"Export, import and copy"</h1>
            <p class="muted">
                "A prefix as a JSON document and back, or copied and renamed in one flow. Imports and copies are dry-run first; nothing is written until you confirm, and then each key only while it is as the dry run saw it."
            </p>
            <export::ExportPart prefix=prefix.clone()/>
            <import::ImportPart prefix=prefix.clone()/>
            <copy::CopyPart prefix/>
        </section>
    }
}
