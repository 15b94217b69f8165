//! Prefix time travel: what changed under a prefix between two revisions,
//! or between a time ago and now (the time mapped to a revision through the
//! timeline), key by key with value diffs.

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::hooks::use_query_map;

use super::table::mirror_in_address;
use super::{input_text, Loading};
use crate::components::code::{kv_text, DiffView, ValueView};
use crate::components::encode_segment;
use crate::components::time::{human_duration, iso_time};
use crate::live::api::get_json;
use crate::model::{EventsBody, Kv, KvDiffBody, Revision};

/// Differences shown in full; the rest are listed by key.
const SHOWN: usize = 300;

/// A point in the past as typed: a revision (`1042`), a time ago (`90s`,
/// `15m`, `2h`, `1d`), or empty for now.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Point {
    Now,
    Revision(Revision),
    Ago(i64),
}

fn parse_point(text: &str) -> Result<Point, String> {
    let text = text.trim();
    if text.is_empty() || text.eq_ignore_ascii_case("now") {
        return Ok(Point::Now);
    }
    if let Ok(revision) = text.parse::<Revision>() {
        return if revision > 0 {
            Ok(Point::Revision(revision))
        } else {
            Err("A revision is a positive number.".to_owned())
        };
    }
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let unit_s = match unit.trim() {
        "s" | "sec" | "secs" => 1,
        "m" | "min" | "mins" => 60,
        "h" | "hour" | "hours" => 3600,
        "d" | "day" | "days" => 86_400,
        _ => 0,
    };
    match number.parse::<i64>() {
        Ok(n) if unit_s > 0 && n > 0 => Ok(Point::Ago(n.saturating_mul(unit_s))),
        _ => Err(format!(
            "{text:?} is neither a revision (e.g. 1042) nor a time ago (e.g. 90s, 15m, 2h, 1d)."
        )),
    }
}

/// The revision the registry was at `seconds` before `now_ms`, as the
/// timeline knows it: that of the newest event recorded by then, asked of
/// the server's whole history. A time before the timeline starts is
/// compared from its oldest point instead, and the note says so.
async fn revision_ago(seconds: i64, now_ms: f64) -> Result<(Revision, String), String> {
    let target = iso_time(now_ms - seconds as f64 * 1000.0).ok_or("this browser cannot tell the time")?;
    let newest_by = |until: &str| format!("/api/v1/events?limit=1&until={}", encode_segment(until));
    let body = get_json::<EventsBody>(&newest_by(&target))
        .await
        .map_err(|f| f.to_string())?;
    if let Some(event) = body.events.last() {
        return Ok((
            event.revision,
            format!(
                "revision {} (the newest change the timeline recorded {} ago or earlier, at {})",
                event.revision,
                human_duration(seconds),
                event.at
            ),
        ));
    }
    // Younger than asked: from the oldest point the timeline holds.
    let Some(oldest) = body.oldest else {
        return Err(
            "The timeline is empty, so no time can be mapped to a revision: give a revision instead.".to_owned(),
        );
    };
    let first = get_json::<EventsBody>(&newest_by(&oldest))
        .await
        .map_err(|f| f.to_string())?;
    let Some(event) = first.events.first() else {
        return Err(format!("The timeline starts at {oldest}: give a revision instead."));
    };
    let from = (event.revision - 1).max(1);
    Ok((
        from,
        format!(
            "revision {from}, just before the oldest change the timeline holds ({} ago was before it began, at {oldest})",
            human_duration(seconds)
        ),
    ))
}

/// Keys added or removed (`class`), each with its value on demand.
fn key_list(keys: &[Kv], class: &'static str) -> impl IntoView {
    keys.iter()
        .take(SHOWN)
        .map(|kv| {
            view! {
                <details class=format!("travel {class}") data-testid=format!("travel-{class}")>
                    <summary><code>{kv.key.clone()}</code></summary>
                    <ValueView value=kv.value.clone() value_base64=kv.value_base64.clone()/>
                </details>
            }
        })
        .collect_view()
}

#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    Pending,
    Done {
        body: KvDiffBody,
        from_note: String,
        /// The prefix compared, as typed.
        prefix: String,
        /// Compared with now (not with another past revision).
        to_now: bool,
    },
    Failed(String),
}

#[component]
pub fn TravelPage() -> impl IntoView {
    let live = crate::live::Live::get();
    let query = use_query_map();
    let prefix = RwSignal::new(query.read_untracked().get("prefix").unwrap_or_default());
    let from = RwSignal::new(query.read_untracked().get("from").unwrap_or_else(|| "15m".to_owned()));
    let to = RwSignal::new(query.read_untracked().get("to").unwrap_or_default());
    mirror_in_address("prefix", move || prefix.get());
    mirror_in_address("from", move || from.get());
    mirror_in_address("to", move || to.get());
    let outcome = RwSignal::new(None::<Outcome>);

    let compare = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let (prefix, from, to) = (prefix.get_untracked(), from.get_untracked(), to.get_untracked());
        // Read here: the task below runs outside the component, without its context.
        let now_ms = live.now_ms.get_untracked();
        outcome.set(Some(Outcome::Pending));
        spawn_local(async move {
            let result = async {
                let (from_rev, from_note) = match parse_point(&from)? {
                    Point::Revision(r) => (r, format!("revision {r}")),
                    Point::Ago(s) => revision_ago(s, now_ms).await?,
                    Point::Now => return Err("Compare from a revision or a time ago, not from now.".to_owned()),
                };
                let to_now = parse_point(&to)? == Point::Now;
                let to_param = match parse_point(&to)? {
                    Point::Now => String::new(),
                    Point::Revision(r) => format!("&to={r}"),
                    Point::Ago(s) => format!("&to={}", revision_ago(s, now_ms).await?.0),
                };
                let path = format!(
                    "/api/v1/kv-diff?prefix={}&from={from_rev}{to_param}",
                    encode_segment(&prefix)
                );
                let body = get_json::<KvDiffBody>(&path).await.map_err(|f| f.to_string())?;
                Ok(Outcome::Done {
                    body,
                    from_note,
                    prefix,
                    to_now,
                })
            }
            .await;
            outcome.set(Some(result.unwrap_or_else(Outcome::Failed)));
        });
    };

    let result = move || {
        outcome.get().map(|o| match o {
            Outcome::Pending => view! { <Loading/> }.into_any(),
            Outcome::Failed(message) => {
                view! { <p class="error" role="alert" data-testid="travel-error">{message}</p> }.into_any()
            }
            Outcome::Done {
                body,
                from_note,
                prefix: prefix_now,
                to_now: to_is_now,
            } => {
                let total = body.added.len() + body.removed.len() + body.changed.len();
                let summary = format!(
                    "From {from_note} to revision {}: {} added, {} removed, {} changed.",
                    body.to,
                    body.added.len(),
                    body.removed.len(),
                    body.changed.len()
                );
                let added = key_list(&body.added, "added");
                let removed = key_list(&body.removed, "removed");
                let changed = body
                    .changed
                    .iter()
                    .take(SHOWN)
                    .map(|c| {
                        view! {
                            <details class="travel changed" open data-testid="travel-changed">
                                <summary><code>{c.after.key.clone()}</code></summary>
                                <DiffView
                                    old=kv_text(&c.before)
                                    new=kv_text(&c.after)
                                    old_label=format!("revision {}", c.before.mod_revision)
                                    new_label=format!("revision {}", c.after.mod_revision)
                                />
                            </details>
                        }
                    })
                    .collect_view();
                let cut = [body.added.len(), body.removed.len(), body.changed.len()]
                    .iter()
                    .any(|n| *n > SHOWN);
                let horizon = body.compact_revision.map(|h| {
                    let text = if h > 0 {
                        format!("etcd keeps revisions from {h} on: nothing before it can be compared.")
                    } else {
                        "etcd has compacted nothing: every revision can be compared.".to_owned()
                    };
                    view! { <p class="muted" data-testid="travel-horizon">{text}</p> }
                });
                // Now is what the past can be brought back into.
                let to_now = to_is_now;
                let restore = to_now.then(|| {
                    view! {
                        <super::config_restore::Rollback prefix=prefix_now.clone() revision=body.from/>
                        <super::config_restore::DeletedKeys prefix=prefix_now.clone() since=body.from/>
                    }
                });
                view! {
                    <p class="summary" data-testid="travel-summary">{summary}</p>
                    {horizon}
                    {(total == 0).then(|| view! { <p class="muted">"Nothing changed under this prefix."</p> })}
                    {cut.then(|| view! { <p class="muted">{format!("Each list shows its first {SHOWN}.")}</p> })}
                    {(!body.added.is_empty()).then(|| view! { <h2>"Added"</h2> })}
                    {added}
                    {(!body.removed.is_empty()).then(|| view! { <h2>"Removed"</h2> })}
                    {removed}
                    {(!body.changed.is_empty()).then(|| view! { <h2>"Changed"</h2> })}
                    {changed}
                    {restore}
                }
                .into_any()
            }
        })
    };

    view! {
        <section class="page">
            <p class="crumbs"><a href="/config">"Configuration"</a> " / "</p>
            <h1>"Compare revisions"</h1>
            <form class="toolbar" on:submit=compare>
                <label>"Prefix " <input type="text" data-testid="travel-prefix" placeholder="/config/" prop:value=move || prefix.get() on:input=move |ev| prefix.set(input_text(&ev))/></label>
                <label>"From " <input type="text" data-testid="travel-from" placeholder="1042, or 15m ago" prop:value=move || from.get() on:input=move |ev| from.set(input_text(&ev))/></label>
                <label>"To " <input type="text" data-testid="travel-to" placeholder="now" prop:value=move || to.get() on:input=move |ev| to.set(input_text(&ev))/></label>
                <button type="submit" class="primary" data-testid="travel-compare">"Compare"</button>
            </form>
            <p class="muted">"A point is a revision (1042) or a time ago (90s, 15m, 2h, 1d); a time is mapped to the newest revision the timeline recorded by then."</p>
            {result}
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_read_as_typed() {
        assert_eq!(parse_point(""), Ok(Point::Now));
        assert_eq!(parse_point(" now "), Ok(Point::Now));
        assert_eq!(parse_point("1042"), Ok(Point::Revision(1042)));
        assert_eq!(parse_point("15m"), Ok(Point::Ago(900)));
        assert_eq!(parse_point("2 h"), Ok(Point::Ago(7200)));
        assert!(parse_point("0").is_err());
        assert!(parse_point("soon").is_err());
        assert!(parse_point("5w").is_err());
    }
}
