//! The export: a prefix, now or as it was at a revision, with its leases or
//! without, as a link to `GET /api/v1/export`. The link is the download:
//! the server streams the document page by page and the browser writes it
//! to disk, so the wasm never holds it. What can be told before the click
//! is told beside the link: a revision etcd has compacted or not reached,
//! a prefix outside what this Leasehold serves, a prefix with no key.

use leptos::prelude::*;
use leptos::task::spawn_local;

use super::plan::shown_prefix;
use crate::components::encode_segment;
use crate::live::api::get_json;
use crate::live::Live;
use crate::model::{KvListBody, Revision};
use crate::pages::input_text;

/// The export's address for a prefix, a revision (`None`: now) and whether
/// leases are kept.
fn export_href(prefix: &str, rev: Option<Revision>, keep_leases: bool) -> String {
    let mut href = format!("/api/v1/export?prefix={}", encode_segment(prefix));
    if let Some(rev) = rev {
        href.push_str(&format!("&rev={rev}"));
    }
    href.push_str(if keep_leases { "&leases=keep" } else { "&leases=drop" });
    href
}

/// The revision typed: empty for now, else a whole number within what
/// etcd keeps (`now`: etcd's revision as the status bar has it, 0 while
/// unknown; `horizon`: its compaction, when known).
fn parse_revision(text: &str, now: Revision, horizon: Option<Revision>) -> Result<Option<Revision>, String> {
    let text = text.trim();
    if text.is_empty() || text.eq_ignore_ascii_case("now") {
        return Ok(None);
    }
    let revision = match text.parse::<Revision>() {
        Ok(r) if r >= 1 => r,
        _ => {
            return Err(format!(
                "{text:?} is not a revision: a whole number above 0, or empty for now."
            ))
        }
    };
    if now > 0 && revision > now {
        return Err(format!(
            "Revision {revision} is in the future: etcd is at revision {now}."
        ));
    }
    if let Some(horizon) = horizon.filter(|h| revision < *h) {
        return Err(format!(
            "etcd has compacted history before revision {horizon}: export at {horizon} or later."
        ));
    }
    Ok(Some(revision))
}

/// What the prefix holds now, as far as one key tells: for the note
/// beside the link.
#[derive(Debug, Clone, PartialEq)]
enum Look {
    Unknown,
    Empty(Revision),
    Keys,
    Refused(String),
}

#[component]
pub(super) fn ExportPart(prefix: String) -> impl IntoView {
    let live = Live::get();
    let prefix = RwSignal::new(prefix);
    let rev = RwSignal::new(String::new());
    let keep_leases = RwSignal::new(true);
    let look = RwSignal::new(Look::Unknown);
    // Answers to an older prefix are dropped.
    let asked = StoredValue::new(0_u32);
    let check = move || {
        let prefix = prefix.get_untracked();
        let n = asked.get_value() + 1;
        asked.set_value(n);
        spawn_local(async move {
            let path = format!("/api/v1/kv?prefix={}&limit=1", encode_segment(&prefix));
            let answer = match get_json::<KvListBody>(&path).await {
                Ok(body) if body.items.is_empty() => Look::Empty(body.revision),
                Ok(_) => Look::Keys,
                Err(failure) => Look::Refused(failure.to_string()),
            };
            if asked.try_get_value() == Some(n) {
                let _ = look.try_set(answer);
            }
        });
    };
    check();
    let horizon = move || live.ops.with(|o| o.as_ref().and_then(|o| o.compact_revision));
    let revision = Memo::new(move |_| parse_revision(&rev.get(), live.revision.get(), horizon()));
    let refused = Memo::new(move |_| matches!(look.get(), Look::Refused(_)));
    let link = move || match revision.get() {
        Ok(at) if !refused.get() => {
            let href = export_href(&prefix.get(), at, keep_leases.get());
            view! {
                <a class="button primary" href=href download="" data-testid="export-download">
                    "Download the export"
                </a>
            }
            .into_any()
        }
        _ => view! {
            <button type="button" disabled=true data-testid="export-download-disabled" title="See why below">
                "Download the export"
            </button>
        }
        .into_any(),
    };
    let note = move || {
        let shown = shown_prefix(&prefix.get());
        match (revision.get(), look.get()) {
            (Err(why), _) => {
                Some(view! { <p class="error" role="alert" data-testid="export-note">{why}</p> }.into_any())
            }
            (_, Look::Refused(why)) => {
                Some(view! { <p class="error" role="alert" data-testid="export-note">{why}</p> }.into_any())
            }
            (Ok(None), Look::Empty(at)) => Some(
                view! {
                    <p class="notice" data-testid="export-note">{format!(
                        "No key is under {shown} now (revision {at}): the document would hold no items."
                    )}</p>
                }
                .into_any(),
            ),
            _ => None,
        }
    };
    let radio = move |keep: bool, label: &'static str, testid: &'static str| {
        view! {
            <label class="check">
                <input type="radio" name="export-leases" data-testid=testid
                    prop:checked=move || keep_leases.get() == keep
                    on:change=move |_| keep_leases.set(keep)/>
                {label}
            </label>
        }
    };
    view! {
        <section class="transfer-part" aria-labelledby="export-title" data-testid="export-section">
            <h2 id="export-title">"Export"</h2>
            <p class="muted">
                "The keys under a prefix as a JSON document (leasehold-export/1), every key as it was at one revision, byte-exact (text when UTF-8, base64 otherwise). The server streams it page by page; the file is named after its revision."
            </p>
            <form class="transfer-form" on:submit=|ev: leptos::ev::SubmitEvent| ev.prevent_default()>
                <label>"Prefix"
                    <input type="text" data-testid="export-prefix" placeholder="/config/ (empty: every key)"
                        prop:value=move || prefix.get()
                        on:input=move |ev| prefix.set(input_text(&ev))
                        on:change=move |_| check()/>
                </label>
                <label>"At revision"
                    <input type="text" inputmode="numeric" data-testid="export-rev" placeholder="now"
                        prop:value=move || rev.get()
                        on:input=move |ev| rev.set(input_text(&ev))/>
                </label>
                <fieldset>
                    <legend>"Leases"</legend>
                    {radio(true, "keep: each key's lease, and the leases' TTLs", "export-leases-keep")}
                    {radio(false, "drop: no lease at all", "export-leases-drop")}
                </fieldset>
            </form>
            <div class="toolbar">{link}</div>
            {note}
            <p class="muted">
                "A download cut short (etcd gone mid-way) does not parse, so it never looks whole. At a past revision the leases' TTLs are those of now: leases have no history."
            </p>
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_link_names_what_is_exported() {
        assert_eq!(
            export_href("/config/", None, true),
            "/api/v1/export?prefix=%2Fconfig%2F&leases=keep"
        );
        assert_eq!(
            export_href("", Some(42), false),
            "/api/v1/export?prefix=&rev=42&leases=drop"
        );
    }

    #[test]
    fn a_revision_is_checked_against_what_etcd_keeps() {
        assert_eq!(parse_revision("", 100, None), Ok(None));
        assert_eq!(parse_revision(" now ", 100, None), Ok(None));
        assert_eq!(parse_revision("42", 100, Some(10)), Ok(Some(42)));
        assert_eq!(parse_revision("10", 100, Some(10)), Ok(Some(10)));
        assert!(parse_revision("9", 100, Some(10)).unwrap_err().contains("compacted"));
        assert!(parse_revision("101", 100, None).unwrap_err().contains("future"));
        // The status bar's revision not known yet: the server says.
        assert_eq!(parse_revision("101", 0, None), Ok(Some(101)));
        assert!(parse_revision("0", 100, None).is_err());
        assert!(parse_revision("soon", 100, None).is_err());
    }
}
