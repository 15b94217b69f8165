//! The consistency check: every member's `HashKV` up to one revision, side
//! by side, and whether they agree; a member off the majority is named and
//! highlighted. It changes nothing, so any role may run it.

use leptos::prelude::*;
use leptos::task::spawn_local;

use super::refused;
use crate::live::api::{get_json, ApiFailure};
use crate::model::{ErrorCode, HashKvBody, MemberHash};

/// The check's state on the page.
#[derive(Debug, Clone, PartialEq, Default)]
pub(super) enum Hashes {
    #[default]
    NotRun,
    Running,
    Answered(Box<HashKvBody>),
    Refused(String),
}

/// A refusal of the check in words: another check under way is said as such.
fn refusal_words(failure: &ApiFailure) -> String {
    match refused(failure) {
        (Some(ErrorCode::InProgress), _) => {
            "Another consistency check is under way (one runs at a time, each member reads its whole keyspace): try again in a moment.".to_owned()
        }
        (_, words) => words,
    }
}

/// The verdict in words.
fn verdict(body: &HashKvBody) -> String {
    if body.agree {
        let n = body.members.len();
        return format!(
            "All members agree at revision {} ({n} {}).",
            body.revision,
            if n == 1 { "member" } else { "members" }
        );
    }
    let names: Vec<String> = body
        .members
        .iter()
        .filter(|m| body.differ.contains(&m.id))
        .map(|m| {
            if m.name.is_empty() {
                m.id.to_string()
            } else {
                m.name.clone()
            }
        })
        .collect();
    let majority = body.members.len() > body.differ.len();
    if majority {
        let (verb, whose) = if names.len() == 1 {
            ("differs", "its")
        } else {
            ("differ", "their")
        };
        format!(
            "{} {verb} from the others at revision {}: {whose} data is not the others'.",
            names.join(", "),
            body.revision
        )
    } else {
        format!(
            "The members do not agree at revision {} and no majority says which is right: {}.",
            body.revision,
            names.join(", ")
        )
    }
}

/// The button, beside the maintenance actions.
#[component]
pub(super) fn CheckButton(state: RwSignal<Hashes>) -> impl IntoView {
    let run = move |_: leptos::ev::MouseEvent| {
        state.set(Hashes::Running);
        spawn_local(async move {
            let answer = get_json::<HashKvBody>("/api/v1/ops/hashkv").await;
            let _ = state.try_set(match answer {
                Ok(body) => Hashes::Answered(Box::new(body)),
                Err(failure) => Hashes::Refused(refusal_words(&failure)),
            });
        });
    };
    view! {
        <button
            type="button"
            data-testid="check-consistency"
            disabled=move || matches!(state.get(), Hashes::Running)
            on:click=run
        >
            "Check consistency"
        </button>
    }
}

fn member_row(m: &MemberHash, differs: bool) -> impl IntoView {
    let name = if m.name.is_empty() {
        m.id.to_string()
    } else {
        m.name.clone()
    };
    view! {
        <tr
            class=if differs { "differs" } else { "" }
            data-testid="hashkv-member"
            data-member=name.clone()
            data-differs=if differs { "true" } else { "false" }
        >
            <td>
                <strong>{name.clone()}</strong>
                {differs.then(|| view! { " " <span class="badge bad">"differs"</span> })}
                <div class="muted"><code>{m.id.to_string()}</code></div>
            </td>
            <td class="num" data-testid="hashkv-hash">
                {m.hash.map_or_else(|| "—".to_owned(), |h| h.to_string())}
            </td>
            <td class="num" data-testid="hashkv-compact-revision">
                {m.compact_revision.map_or_else(|| "—".to_owned(), |r| r.to_string())}
            </td>
            <td class="errors">{m.error.clone().unwrap_or_default()}</td>
        </tr>
    }
}

/// What the check found, under the toolbar.
#[component]
pub(super) fn Outcome(state: RwSignal<Hashes>) -> impl IntoView {
    move || {
        match state.get() {
        Hashes::NotRun => None,
        Hashes::Running => Some(
            view! { <p class="consistency" role="status">"Every member is hashing its keyspace…"</p> }.into_any(),
        ),
        Hashes::Refused(why) => Some(
            view! { <p class="error consistency" role="alert" data-testid="hashkv-refused">{why}</p> }.into_any(),
        ),
        Hashes::Answered(body) => Some(
            view! {
                <section class="consistency" data-testid="hashkv-result" data-agree=if body.agree { "true" } else { "false" } aria-labelledby="consistency-title">
                    <h2 id="consistency-title">"Consistency check"</h2>
                    <p class=if body.agree { "done" } else { "error" } role="status" data-testid="hashkv-verdict">
                        {verdict(&body)}
                    </p>
                    <p class="muted">
                        "Each member's hash of its keyspace up to revision "
                        <strong data-testid="hashkv-revision">{body.revision}</strong>
                        ". Hashes compare only between members at the same compaction revision."
                    </p>
                    <div class="scroll">
                        <table class="grid hashkv">
                            <thead>
                                <tr>
                                    <th scope="col">"Member"</th>
                                    <th scope="col" class="num">"Hash"</th>
                                    <th scope="col" class="num">"Compact revision"</th>
                                    <th scope="col">"Error"</th>
                                </tr>
                            </thead>
                            <tbody>
                                {body.members.iter().map(|m| member_row(m, body.differ.contains(&m.id))).collect_view()}
                            </tbody>
                        </table>
                    </div>
                </section>
            }
            .into_any(),
        ),
    }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::MemberId;

    fn member(id: u64, hash: Option<u32>) -> MemberHash {
        MemberHash {
            id: MemberId(id),
            name: format!("m{id}"),
            hash,
            compact_revision: Some(5),
            error: None,
        }
    }

    #[test]
    fn the_verdict_names_who_differs() {
        let same = HashKvBody::judged(9, vec![member(1, Some(7)), member(2, Some(7)), member(3, Some(7))]);
        assert_eq!(verdict(&same), "All members agree at revision 9 (3 members).");
        let one = HashKvBody::judged(9, vec![member(1, Some(7)), member(2, Some(8)), member(3, Some(7))]);
        assert_eq!(
            verdict(&one),
            "m2 differs from the others at revision 9: its data is not the others'."
        );
        let split = HashKvBody::judged(9, vec![member(1, Some(7)), member(2, Some(8))]);
        assert!(verdict(&split).contains("no majority"), "{}", verdict(&split));
    }
}
