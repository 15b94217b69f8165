//! Why the selected key is what it is: the rule that classified it (a
//! layout, a lock or election library) and the evidence, or, for a plain
//! key, the rules it came close to and what failed. Read from
//! `GET /api/v1/kv/{key}` each time the key changes, since the live folder
//! carries only its kind.

use leptos::prelude::*;
use leptos::task::spawn_local;

use super::{key_path, Fetch};
use crate::live::api::get_json;
use crate::model::{Classification, Kv, KvBody};

/// The explanation of the key `id` as of its current revision.
#[component]
pub(super) fn Classified(id: String, current: Memo<Fetch<Option<Kv>>>) -> impl IntoView {
    let revision = Memo::new(move |_| {
        current.with(|c| match c {
            Fetch::Done(Some(kv)) => Some(kv.mod_revision),
            _ => None,
        })
    });
    let explained = RwSignal::new(None::<Classification>);
    Effect::new(move |_| {
        let Some(revision) = revision.get() else {
            explained.set(None);
            return;
        };
        let id = id.clone();
        spawn_local(async move {
            if let Ok(body) = get_json::<KvBody>(&key_path(&id)).await {
                // An answer for an older version than the one shown is stale.
                if body.kv.as_ref().is_some_and(|kv| kv.mod_revision >= revision) {
                    explained.set(body.classification);
                }
            }
        });
    });
    move || {
        explained.get().map(|c| {
            let headline = match (&c.rule, c.of.is_empty()) {
                (Some(rule), false) => format!("Classified by {rule} ({})", c.of.join(", ")),
                (Some(rule), true) => format!("Classified by {rule}"),
                (None, _) => "Plain KV: no layout or lock shape takes this key".to_owned(),
            };
            let evidence = c.evidence.into_iter().map(|e| view! { <li>{e}</li> }).collect_view();
            let near = c
                .near_misses
                .into_iter()
                .map(|n| {
                    view! { <li data-testid="near-miss">"almost " <strong>{n.rule}</strong> ": " {n.failed}</li> }
                })
                .collect_view();
            view! {
                <section class="classification" data-testid="classification">
                    <h3>{headline}</h3>
                    <ul class="evidence">{evidence}</ul>
                    <ul class="near-misses">{near}</ul>
                </section>
            }
        })
    }
}
