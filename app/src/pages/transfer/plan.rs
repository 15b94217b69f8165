//! What an import or a copy would do, and what it did: the plan's counts,
//! the keys to add, the keys to change each with its diff, the keys here
//! that the document does not hold (kept, or to be deleted); then the keys
//! written and deleted, the conflicts with both sides, and how far an
//! interrupted apply got.

use leptos::prelude::*;

use crate::components::code::{display_text, DiffView, ValueView};
use crate::model::{human_bytes, ImportBody, ImportConflict, ImportKey, ImportValue, LeaseId, Revision};

/// Keys listed per list; the rest are counted.
pub(super) const LISTED: usize = 300;

/// Keys etcd takes in one transaction (its 128 operations per request).
const CHUNK: usize = 128;

/// A byte count in words.
pub(super) fn bytes(size: u64) -> String {
    human_bytes(i64::try_from(size).unwrap_or(i64::MAX))
}

/// The text of a value for a diff: its text, or its hex dump when binary;
/// `None` when the answer left it out.
fn value_text(value: &ImportValue) -> Option<String> {
    (!value.omitted).then(|| display_text(&value.value, value.value_base64.as_deref()).1)
}

/// A value the answer left out (each list shows at most 8 MiB of values).
fn not_shown(value: &ImportValue) -> String {
    format!("{} bytes, not shown", value.size)
}

/// A lease in words: the id, or "none".
fn lease_text(lease: Option<&LeaseId>) -> String {
    lease.map_or_else(|| "none".to_owned(), ToString::to_string)
}

/// The key as it is shown: its text, marked when it is not UTF-8 (the
/// text is then a lossy rendering).
fn key_label(key: &str, key_base64: Option<&str>) -> impl IntoView {
    let key = key.to_owned();
    let binary = key_base64.map(|_| view! { " " <span class="muted">"(not UTF-8)"</span> });
    view! { <code>{key}</code> {binary} }
}

/// A value, or the size it was left out at.
fn value_view(value: &ImportValue) -> AnyView {
    if value.omitted {
        view! { <p class="muted" data-testid="value-omitted">{not_shown(value)}</p> }.into_any()
    } else {
        view! { <ValueView value=value.value.clone() value_base64=value.value_base64.clone()/> }.into_any()
    }
}

/// The diff of `before` against `after` (`None`: absent), labelled; a value
/// left out of the answer is named by its size instead.
fn sides_view(
    before: Option<&ImportValue>,
    after: Option<&ImportValue>,
    before_label: String,
    after_label: String,
) -> AnyView {
    let text = |side: Option<&ImportValue>, absent: &str| match side {
        None => Some(absent.to_owned()),
        Some(value) => value_text(value),
    };
    match (text(before, "(absent)"), text(after, "(deleted)")) {
        (Some(old), Some(new)) => view! { <DiffView old new old_label=before_label new_label=after_label/> }.into_any(),
        _ => {
            let side = |label: String, value: Option<&ImportValue>| {
                let shown = value.map_or_else(
                    || "(absent)".to_owned(),
                    |v| match value_text(v) {
                        Some(_) => format!("{} bytes", v.size),
                        None => not_shown(v),
                    },
                );
                view! { <li>{label} ": " {shown}</li> }
            };
            view! {
                <ul class="sides" data-testid="sides-omitted">
                    {side(before_label, before)}
                    {side(after_label, after)}
                </ul>
            }
            .into_any()
        }
    }
}

/// What a changed key's lease becomes, when it changes.
fn lease_change(key: &ImportKey) -> Option<impl IntoView> {
    let before = key.before.as_ref().and_then(|v| v.lease.as_ref());
    let after = key.after.as_ref().and_then(|v| v.lease.as_ref());
    if before.is_none() && after.is_none() {
        return None;
    }
    let to = match after {
        Some(recorded) => format!("a new lease granted for the recorded lease {recorded}, with its TTL"),
        None => "none: written without a lease, it stays until deleted".to_owned(),
    };
    Some(view! {
        <p class="muted" data-testid="lease-change">{format!("Lease here: {}; after: {to}.", lease_text(before))}</p>
    })
}

/// "The first 300 of N are listed." when a list is cut.
fn cut_note(total: usize) -> Option<impl IntoView> {
    (total > LISTED).then(|| view! { <p class="muted">{format!("The first {LISTED} of {total} are listed.")}</p> })
}

/// The keys a plan writes or deletes.
pub(super) fn writes(plan: &ImportBody) -> usize {
    plan.added.len() + plan.changed.len() + deletes(plan)
}

/// The confirm button's words: what the apply writes and deletes.
pub(super) fn confirm_words(verb: &str, plan: &ImportBody) -> String {
    let written = plan.added.len() + plan.changed.len();
    match deletes(plan) {
        0 => format!("{verb}: write {written} key(s)"),
        deleted => format!("{verb}: write {written}, delete {deleted} key(s)"),
    }
}

/// The keys a plan deletes.
pub(super) fn deletes(plan: &ImportBody) -> usize {
    if plan.delete_missing {
        plan.absent_here.len()
    } else {
        0
    }
}

/// The transactions an apply takes at least (128 keys each, fewer when
/// their values are over 1 MiB).
pub(super) fn transactions(plan: &ImportBody) -> usize {
    writes(plan).div_ceil(CHUNK)
}

/// The plan's counts in one line.
pub(super) fn counts(plan: &ImportBody) -> String {
    let fate = if plan.delete_missing { "to be deleted" } else { "kept" };
    format!(
        "{} to add, {} to change, {} unchanged, {} here but not in the source ({fate}).",
        plan.added.len(),
        plan.changed.len(),
        plan.unchanged,
        plan.absent_here.len()
    )
}

/// What applying a plan writes, in words, for its confirmation.
pub(super) fn apply_words(plan: &ImportBody, recreate: bool) -> Vec<String> {
    let mut out = vec![format!(
        "Write {} key(s) under {}: {} added, {} changed.",
        plan.added.len() + plan.changed.len(),
        shown_prefix(&plan.prefix),
        plan.added.len(),
        plan.changed.len()
    )];
    if plan.delete_missing && !plan.absent_here.is_empty() {
        out.push(format!(
            "Delete {} key(s) under {} that the source does not hold.",
            plan.absent_here.len(),
            shown_prefix(&plan.prefix)
        ));
    } else if !plan.absent_here.is_empty() {
        out.push(format!(
            "Keep the {} key(s) here that the source does not hold.",
            plan.absent_here.len()
        ));
    }
    if plan.unchanged > 0 {
        out.push(format!("Leave the {} unchanged key(s) alone.", plan.unchanged));
    }
    out.push(if recreate {
        "Grant a new lease for each recorded lease, with its recorded TTL, and write its keys on it.".to_owned()
    } else {
        "Write every key without a lease: it stays until deleted.".to_owned()
    });
    out.push(format!(
        "Each key only while it is as this dry run saw it at revision {}: a key changed since is a conflict, left as it is now and shown with both sides. At least {} transaction(s) of at most {CHUNK} keys, each all or nothing.",
        plan.revision,
        transactions(plan).max(1)
    ));
    out
}

/// A prefix as it is shown: the empty one is every key.
pub(super) fn shown_prefix(prefix: &str) -> String {
    if prefix.is_empty() {
        "the whole keyspace".to_owned()
    } else {
        prefix.to_owned()
    }
}

/// The plan: its counts, then each list.
#[component]
pub(super) fn PlanView(plan: ImportBody, #[prop(into)] heading: String) -> impl IntoView {
    let added = plan
        .added
        .iter()
        .take(LISTED)
        .map(|key| {
            view! {
                <details class="travel added plan-key" data-testid="plan-added" data-key=key.key.clone()>
                    <summary>{key_label(&key.key, key.key_base64.as_deref())}</summary>
                    {key.after.as_ref().map(value_view)}
                </details>
            }
        })
        .collect_view();
    let changed = plan
        .changed
        .iter()
        .take(LISTED)
        .map(|key| {
            view! {
                <details class="travel changed plan-key" open data-testid="plan-changed" data-key=key.key.clone()>
                    <summary>{key_label(&key.key, key.key_base64.as_deref())}</summary>
                    {sides_view(
                        key.before.as_ref(),
                        key.after.as_ref(),
                        format!("here (revision {})", key.mod_revision),
                        "the source".to_owned(),
                    )}
                    {lease_change(key)}
                </details>
            }
        })
        .collect_view();
    let (fate, fate_class) = if plan.delete_missing {
        ("to be deleted", "deleted")
    } else {
        ("kept", "kept")
    };
    let absent = plan
        .absent_here
        .iter()
        .take(LISTED)
        .map(|key| {
            view! {
                <li data-testid="plan-absent" data-key=key.key.clone() data-fate=fate_class class=fate_class>
                    {key_label(&key.key, key.key_base64.as_deref())}
                    " " <span class="fate">{fate}</span>
                </li>
            }
        })
        .collect_view();
    let unleased = (!plan.unleased.is_empty()).then(|| {
        view! {
            <p class="notice" data-testid="plan-unleased">{format!(
                "{} key(s) were on a lease etcd no longer knew when the document was written (no TTL recorded): they are written without a lease.",
                plan.unleased.len()
            )}</p>
        }
    });
    let nothing = (writes(&plan) == 0).then(|| {
        view! {
            <p class="muted" data-testid="plan-nothing">"Nothing to write: the target already holds what the source holds."</p>
        }
    });
    view! {
        <div class="plan" data-testid="plan">
            <h3>{heading}</h3>
            <p class="plan-counts" data-testid="plan-counts">{counts(&plan)}</p>
            {nothing}
            {unleased}
            {(!plan.added.is_empty()).then(|| view! { <h4>{format!("To add ({})", plan.added.len())}</h4> })}
            {added}
            {cut_note(plan.added.len())}
            {(!plan.changed.is_empty()).then(|| view! { <h4>{format!("To change ({})", plan.changed.len())}</h4> })}
            {changed}
            {cut_note(plan.changed.len())}
            {(!plan.absent_here.is_empty()).then(|| view! {
                <h4>{format!("Here but not in the source ({}): {fate}", plan.absent_here.len())}</h4>
            })}
            <ul class="plain absent-here">{absent}</ul>
            {cut_note(plan.absent_here.len())}
        </div>
    }
}

/// A key not written, with both sides: the value now, and what would have
/// been written (or that it was a delete).
fn conflict_view(conflict: &ImportConflict, wanted: &'static str) -> impl IntoView {
    let revisions = format!(
        "The dry run saw revision {}; it is {} now.",
        revision_text(conflict.expected_mod_revision),
        revision_text(conflict.current_mod_revision)
    );
    view! {
        <details class="travel changed plan-key" open data-testid="conflict" data-key=conflict.key.clone()>
            <summary>{key_label(&conflict.key, conflict.key_base64.as_deref())}</summary>
            <p class="muted">{revisions}</p>
            {sides_view(conflict.current.as_ref(), conflict.after.as_ref(), "now".to_owned(), wanted.to_owned())}
        </details>
    }
}

/// A key's `mod_revision` in words (0: absent).
fn revision_text(revision: Revision) -> String {
    if revision == 0 {
        "absent".to_owned()
    } else {
        revision.to_string()
    }
}

/// A key of the source that a rename left there, with its value now.
pub(super) fn removal_conflict_view(conflict: &ImportConflict) -> impl IntoView {
    let revisions = format!(
        "The dry run saw it at revision {}; it is {} now: it stays.",
        revision_text(conflict.expected_mod_revision),
        revision_text(conflict.current_mod_revision)
    );
    view! {
        <details class="travel changed plan-key" open data-testid="removal-conflict" data-key=conflict.key.clone()>
            <summary>{key_label(&conflict.key, conflict.key_base64.as_deref())}</summary>
            <p class="muted">{revisions}</p>
            {conflict.current.as_ref().map(value_view)}
        </details>
    }
}

/// What an apply did: keys written and deleted, transactions, conflicts
/// with both sides, granted leases, and how far it got when cut short.
#[component]
pub(super) fn OutcomeView(body: ImportBody) -> impl IntoView {
    let mut summary = format!(
        "{} key(s) written and {} deleted under {} in {} transaction(s)",
        body.written,
        body.deleted,
        shown_prefix(&body.prefix),
        body.transactions
    );
    if body.applied_revision > 0 {
        summary.push_str(&format!(", etcd at revision {} after the last", body.applied_revision));
    }
    summary.push('.');
    if !body.conflicts.is_empty() {
        summary.push_str(&format!(
            " {} conflict(s): changed since the dry run, left as they are now.",
            body.conflicts.len()
        ));
    }
    let interrupted = body.interrupted.clone().map(|why| {
        view! {
            <p class="error" role="alert" data-testid="outcome-interrupted">{format!(
                "Interrupted: {why}. {} key(s) of the plan were not tried, and the keys of the transaction that failed may or may not have been written: dry-run again to see where things stand.",
                body.remaining
            )}</p>
        }
    });
    let leases = (!body.leases.is_empty()).then(|| {
        let rows = body
            .leases
            .iter()
            .map(|l| view! { <li><code>{l.from.to_string()}</code> " → " <code>{l.id.to_string()}</code> {format!(" (TTL {} s)", l.ttl)}</li> })
            .collect_view();
        view! {
            <p>{format!("{} lease(s) granted, recorded → new:", body.leases.len())}</p>
            <ul class="granted-leases" data-testid="outcome-leases">{rows}</ul>
        }
    });
    let conflicts = body
        .conflicts
        .iter()
        .take(LISTED)
        .map(|c| conflict_view(c, "what the dry run would have written"))
        .collect_view();
    view! {
        <p class="summary" role="status" data-testid="outcome">{summary}</p>
        {interrupted}
        {leases}
        {(!body.conflicts.is_empty()).then(|| view! { <h4>{format!("Conflicts ({})", body.conflicts.len())}</h4> })}
        {conflicts}
        {cut_note(body.conflicts.len())}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str) -> ImportKey {
        ImportKey {
            key: name.to_owned(),
            key_base64: None,
            mod_revision: 0,
            before: None,
            after: None,
        }
    }

    #[test]
    fn a_plan_counts_what_it_writes() {
        let mut plan = ImportBody {
            prefix: "/dst/".to_owned(),
            added: vec![key("/dst/a"), key("/dst/b")],
            changed: vec![key("/dst/c")],
            unchanged: 4,
            absent_here: vec![key("/dst/x")],
            revision: 90,
            ..ImportBody::default()
        };
        assert_eq!(writes(&plan), 3);
        assert_eq!(
            counts(&plan),
            "2 to add, 1 to change, 4 unchanged, 1 here but not in the source (kept)."
        );
        plan.delete_missing = true;
        assert_eq!(writes(&plan), 4);
        assert!(counts(&plan).ends_with("(to be deleted)."));
        let words = apply_words(&plan, false);
        assert_eq!(words[0], "Write 3 key(s) under /dst/: 2 added, 1 changed.");
        assert_eq!(words[1], "Delete 1 key(s) under /dst/ that the source does not hold.");
        assert!(words.iter().any(|w| w.contains("revision 90")));
        plan.added = (0..300).map(|i| key(&format!("/dst/{i}"))).collect();
        assert_eq!(transactions(&plan), 3);
        assert_eq!(shown_prefix(""), "the whole keyspace");
    }
}
