//! Stepping through the past: the timeline's moments around the revision
//! shown (`GET /api/v1/events`, each revision with its events one moment),
//! the previous and next ones, and a field for a revision or a time. Every
//! step is a link, so the address always names the moment on screen.

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::hooks::use_navigate;
use leptos_router::NavigateOptions;

use super::readable_time;
use crate::components::encode_segment;
use crate::components::time::iso_time;
use crate::live::api::get_json;
use crate::live::Live;
use crate::model::{Event, EventsBody, Revision};

/// Moments listed on each side of the one shown.
const AROUND: usize = 5;
/// Events read per request for the later moments (a page never splits a
/// revision, so one burst of many events at one revision is whole).
const LATER_PAGE: usize = 1000;

/// One revision of the timeline: what happened at it, in a line.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Moment {
    pub revision: Revision,
    /// When Leasehold saw it (RFC 3339).
    pub at: String,
    pub summary: String,
}

/// A line for one event: its kind and what it is about.
fn describe(event: &Event) -> String {
    let kind = event.kind.as_str().replace('_', " ");
    match event.detail["service"].as_str() {
        Some(service) => format!("{kind}: {service} ({})", event.subject),
        None => format!("{kind}: {}", event.subject),
    }
}

/// Events (oldest first) grouped into moments, one per revision, oldest first.
pub(super) fn group(events: &[Event]) -> Vec<Moment> {
    let mut moments: Vec<(Moment, usize)> = Vec::new();
    for event in events {
        match moments.last_mut() {
            Some((moment, count)) if moment.revision == event.revision => {
                *count += 1;
                if *count <= 2 {
                    moment.summary.push_str("; ");
                    moment.summary.push_str(&describe(event));
                }
            }
            _ => moments.push((
                Moment {
                    revision: event.revision,
                    at: event.at.clone(),
                    summary: describe(event),
                },
                1,
            )),
        }
    }
    moments
        .into_iter()
        .map(|(mut moment, count)| {
            if count > 2 {
                moment.summary.push_str(&format!("; and {} more", count - 2));
            }
            moment
        })
        .collect()
}

/// The moments around a revision: up to it (it included), and after it.
#[derive(Debug, Clone, PartialEq, Default)]
pub(super) struct Around {
    pub revision: Revision,
    pub until: Vec<Moment>,
    pub after: Vec<Moment>,
}

impl Around {
    /// The nearest moment before the revision.
    pub fn previous(&self) -> Option<&Moment> {
        self.until.iter().rev().find(|m| m.revision < self.revision)
    }

    pub fn next(&self) -> Option<&Moment> {
        self.after.first()
    }

    /// When the revision became current, as far as the timeline knows: the
    /// newest moment up to it.
    pub fn time(&self) -> Option<&str> {
        self.until.last().map(|m| m.at.as_str())
    }
}

/// The moments around `revision`, asked of the server's timeline: those up to
/// it in one request; those after it in windows of revisions that widen
/// until they hold enough or reach the registry's revision.
async fn around(revision: Revision) -> Result<Around, String> {
    let until = get_json::<EventsBody>(&format!(
        "/api/v1/events?before={}&limit={}",
        revision.saturating_add(1),
        AROUND * 4
    ))
    .await
    .map_err(|f| f.to_string())?;
    let mut until = group(&until.events);
    if until.len() > AROUND {
        until.drain(..until.len() - AROUND);
    }
    let mut width: Revision = 16;
    let after = loop {
        let body = get_json::<EventsBody>(&format!(
            "/api/v1/events?since={revision}&before={}&limit={LATER_PAGE}",
            revision.saturating_add(1).saturating_add(width)
        ))
        .await
        .map_err(|f| f.to_string())?;
        let moments = group(&body.events);
        if moments.len() >= AROUND || revision.saturating_add(width) >= body.revision || width > 1 << 40 {
            break moments;
        }
        width = width.saturating_mul(16);
    };
    Ok(Around {
        revision,
        until,
        after: after.into_iter().take(AROUND).collect(),
    })
}

/// The moments around the revision on screen, read again when it changes.
#[derive(Clone, Copy)]
pub(super) struct Moments {
    around: RwSignal<Option<Result<Around, String>>>,
}

impl Moments {
    pub fn follow(revision: Memo<Option<Revision>>) -> Self {
        let around_now = RwSignal::new(None::<Result<Around, String>>);
        Effect::new(move |_| {
            let Some(r) = revision.get() else {
                around_now.set(None);
                return;
            };
            if around_now.with_untracked(|a| matches!(a, Some(Ok(a)) if a.revision == r)) {
                return;
            }
            around_now.set(None);
            spawn_local(async move {
                let result = around(r).await;
                if revision.get_untracked() == Some(r) {
                    let _ = around_now.try_set(Some(result));
                }
            });
        });
        Moments { around: around_now }
    }

    /// When revision `r` became current, if the timeline knows.
    pub fn time_of(self, r: Revision) -> Option<String> {
        self.around.with(|a| match a {
            Some(Ok(a)) if a.revision == r => a.time().map(str::to_owned),
            _ => None,
        })
    }
}

/// A place in the past as typed: a revision, an RFC 3339 time, or a time
/// ago (`90s`, `15m`, `2h`, `1d`, with or without "ago").
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Typed {
    Revision(Revision),
    At(String),
    Ago(i64),
}

pub(super) fn parse_typed(text: &str) -> Result<Typed, String> {
    let text = text.trim();
    if let Ok(r) = text.parse::<Revision>() {
        return if r >= 1 {
            Ok(Typed::Revision(r))
        } else {
            Err("A revision is a whole number from 1.".to_owned())
        };
    }
    // A date and time: `2026-12-07T03:12:00Z`, or with a space for the T.
    let bytes = text.as_bytes();
    if bytes.len() >= 16 && bytes[4] == b'-' && bytes[7] == b'-' && matches!(bytes[10], b'T' | b't' | b' ') {
        let mut at = format!("{}T{}", &text[..10], &text[11..]);
        let zoned = at.ends_with(['Z', 'z']) || at[11..].contains(['+', '-']);
        if !zoned {
            at.push('Z');
        }
        if at[11..].len() == 6 {
            // `03:12Z`: whole minutes.
            at.insert_str(16, ":00");
        }
        return Ok(Typed::At(at.to_ascii_uppercase()));
    }
    let text = text.strip_suffix("ago").unwrap_or(text).trim();
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
        Ok(n) if unit_s > 0 && n > 0 => Ok(Typed::Ago(n.saturating_mul(unit_s))),
        _ => Err(format!(
            "{text:?} is neither a revision (1042), a time (2026-12-07T03:12:00Z) nor a time ago (90s, 15m, 2h, 1d)."
        )),
    }
}

/// An RFC 3339 time without its fraction of a second: `...T03:12:40Z`.
fn whole_seconds(at: &str) -> String {
    match (at.find('.'), at.ends_with('Z')) {
        (Some(dot), true) => format!("{}Z", &at[..dot]),
        _ => at.to_owned(),
    }
}

/// A moment's line, a link to it.
fn moment_item(moment: &Moment, path: &str, current: bool) -> impl IntoView {
    let href = format!("{path}?rev={}", moment.revision);
    let label = format!("revision {}", moment.revision);
    view! {
        <li class:current=current data-testid="past-moment" data-revision=moment.revision>
            <a href=href aria-current=current.then_some("true")>{label}</a>
            " "
            <time class="muted" datetime=moment.at.clone()>{readable_time(&moment.at)}</time>
            " "
            <span class="what">{moment.summary.clone()}</span>
        </li>
    }
}

/// Previous and next, the moments around, and the field to go elsewhere.
#[component]
pub(super) fn Stepper(moments: Moments, path: Memo<String>) -> impl IntoView {
    let live = Live::get();
    let navigate = use_navigate();
    let typed = RwSignal::new(String::new());
    let typed_error = RwSignal::new(None::<String>);
    let go = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let query = match parse_typed(&typed.get_untracked()) {
            Ok(Typed::Revision(r)) => format!("rev={r}"),
            Ok(Typed::At(at)) => format!("at={}", encode_segment(&at)),
            Ok(Typed::Ago(seconds)) => match iso_time(live.now_ms.get_untracked() - seconds as f64 * 1000.0) {
                Some(at) => format!("at={}", encode_segment(&whole_seconds(&at))),
                None => {
                    typed_error.set(Some("This browser cannot tell the time: give a revision.".to_owned()));
                    return;
                }
            },
            Err(message) => {
                typed_error.set(Some(message));
                return;
            }
        };
        typed_error.set(None);
        navigate(&format!("{}?{query}", path.get_untracked()), NavigateOptions::default());
    };

    let steps = move || {
        moments.around.with(|a| match a {
            None => view! { <p class="muted">"Reading the timeline around this moment…"</p> }.into_any(),
            Some(Err(message)) => {
                view! { <p class="error">{format!("The timeline could not be read: {message}")}</p> }.into_any()
            }
            Some(Ok(a)) => {
                let path = path.get();
                let step = |moment: Option<&Moment>, label: &'static str, testid: &'static str| match moment {
                    Some(m) => view! {
                        <a class="button" href=format!("{path}?rev={}", m.revision) data-testid=testid>
                            {format!("{label} (revision {})", m.revision)}
                        </a>
                    }
                    .into_any(),
                    None => view! {
                        <span class="button disabled" data-testid=testid
                            title="The timeline holds no change on this side">{label}</span>
                    }
                    .into_any(),
                };
                let previous = step(a.previous(), "◀ Previous change", "past-previous");
                let next = step(a.next(), "Next change ▶", "past-next");
                let here_listed = a.until.last().is_some_and(|m| m.revision == a.revision);
                let until = a
                    .until
                    .iter()
                    .map(|m| moment_item(m, &path, m.revision == a.revision))
                    .collect_view();
                let here = (!here_listed).then(|| {
                    view! {
                        <li class="current here" data-testid="past-here">
                            <span>{format!("revision {} (shown; no change of the timeline at it)", a.revision)}</span>
                        </li>
                    }
                });
                let after = a.after.iter().map(|m| moment_item(m, &path, false)).collect_view();
                let empty = (a.until.is_empty() && a.after.is_empty()).then(|| {
                    view! { <p class="muted">"The timeline holds no change around this moment (it keeps what happened since Leasehold started)."</p> }
                });
                view! {
                    <div class="past-steps">{previous} {next}</div>
                    <details class="past-moments" open>
                        <summary>"Moments around it, from the timeline"</summary>
                        <ol class="moments" data-testid="past-moments">{until}{here}{after}</ol>
                        {empty}
                    </details>
                }
                .into_any()
            }
        })
    };

    view! {
        {steps}
        <form class="toolbar past-goto" on:submit=go data-testid="past-goto">
            <label>
                "Go to "
                <input
                    type="text"
                    data-testid="past-goto-input"
                    placeholder="revision, time or 15m ago"
                    title="A revision (1042), a time (2026-12-07T03:12:00Z) or a time ago (15m ago)"
                    prop:value=move || typed.get()
                    on:input=move |ev| typed.set(super::super::input_text(&ev))
                />
            </label>
            <button type="submit">"Go"</button>
            {move || typed_error.get().map(|m| view! { <span class="error" role="alert">{m}</span> })}
        </form>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::EventKind;

    fn event(revision: Revision, kind: EventKind, subject: &str, service: Option<&str>) -> Event {
        Event {
            revision,
            at: format!("2026-12-07T03:12:{revision:02}Z"),
            kind,
            subject: subject.to_owned(),
            detail: match service {
                Some(s) => serde_json::json!({ "service": s }),
                None => serde_json::json!({}),
            },
        }
    }

    #[test]
    fn events_of_one_revision_are_one_moment() {
        let events = [
            event(5, EventKind::InstanceRegistered, "/ms/pay/1", Some("pay")),
            event(7, EventKind::InstanceRegistered, "/ms/pay/2", Some("pay")),
            event(7, EventKind::InstanceRegistered, "/ms/pay/3", Some("pay")),
            event(7, EventKind::InstanceRegistered, "/ms/pay/4", Some("pay")),
            event(7, EventKind::InstanceRegistered, "/ms/pay/5", Some("pay")),
            event(9, EventKind::LeaseExpired, "694d", None),
        ];
        let moments = group(&events);
        assert_eq!(moments.iter().map(|m| m.revision).collect::<Vec<_>>(), [5, 7, 9]);
        assert_eq!(moments[0].summary, "instance registered: pay (/ms/pay/1)");
        assert_eq!(
            moments[1].summary,
            "instance registered: pay (/ms/pay/2); instance registered: pay (/ms/pay/3); and 2 more"
        );
        assert_eq!(moments[2].summary, "lease expired: 694d");
        assert_eq!(moments[1].at, "2026-12-07T03:12:07Z");
    }

    #[test]
    fn previous_and_next_are_the_nearest_changes() {
        let m = |revision: Revision| Moment {
            revision,
            at: format!("t{revision}"),
            summary: String::new(),
        };
        let at_a_change = Around {
            revision: 7,
            until: vec![m(3), m(5), m(7)],
            after: vec![m(9), m(12)],
        };
        assert_eq!(at_a_change.previous().map(|m| m.revision), Some(5));
        assert_eq!(at_a_change.next().map(|m| m.revision), Some(9));
        assert_eq!(at_a_change.time(), Some("t7"));
        let between = Around {
            revision: 8,
            until: vec![m(3), m(5), m(7)],
            after: vec![],
        };
        assert_eq!(between.previous().map(|m| m.revision), Some(7));
        assert_eq!(between.next(), None);
        assert_eq!(between.time(), Some("t7"));
        assert_eq!(Around::default().time(), None);
    }

    #[test]
    fn places_read_as_typed() {
        assert_eq!(parse_typed(" 1042 "), Ok(Typed::Revision(1042)));
        assert!(parse_typed("0").is_err());
        assert_eq!(
            parse_typed("2026-12-07T03:12:00Z"),
            Ok(Typed::At("2026-12-07T03:12:00Z".to_owned()))
        );
        assert_eq!(
            parse_typed("2026-12-07 03:12:00"),
            Ok(Typed::At("2026-12-07T03:12:00Z".to_owned()))
        );
        assert_eq!(
            parse_typed("2026-12-07 03:12"),
            Ok(Typed::At("2026-12-07T03:12:00Z".to_owned()))
        );
        assert_eq!(
            parse_typed("2026-12-07T03:12:00+01:00"),
            Ok(Typed::At("2026-12-07T03:12:00+01:00".to_owned()))
        );
        assert_eq!(parse_typed("15m ago"), Ok(Typed::Ago(900)));
        assert_eq!(parse_typed("2 h"), Ok(Typed::Ago(7200)));
        assert!(parse_typed("soon").is_err());
        assert!(parse_typed("").is_err());
        assert_eq!(whole_seconds("2026-12-07T03:12:40.250Z"), "2026-12-07T03:12:40Z");
    }
}
