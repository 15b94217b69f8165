//! The registry as of a past revision or time: a registry page (services, a
//! service, leases, locks, elections) opened with `?rev=R` or `?at=TIME` is
//! read from the REST routes' past (`GET /api/v1/services?rev=R`, ...), not
//! from the live topics. A banner says which moment it is, that nothing can
//! be changed there, and leads back to live; the timeline's moments around
//! it step through the past, each step a new address (a link to share); the
//! compaction horizon is shown, and a revision before it, or in the future,
//! says so instead of a partial registry.

mod moments;
mod views;

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::hooks::{use_location, use_query_map};

use super::Loading;
use crate::components::{decode_segment, encode_segment};
use crate::live::api::{get_json, ApiFailure};
use crate::live::Live;
use crate::model::{ElectionsBody, ErrorBody, LeasesBody, LocksBody, Revision, ServiceBody, ServicesBody};
use moments::{Moments, Stepper};

/// Which registry page the address names.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Page {
    Services,
    Service(String),
    Leases,
    Locks,
    Elections,
}

impl Page {
    /// The page a path names (`/services/pay`), if it is a registry page.
    fn of_path(path: &str) -> Option<Page> {
        let path = path.trim_end_matches('/');
        match path {
            "/services" => Some(Page::Services),
            "/leases" => Some(Page::Leases),
            "/locks" => Some(Page::Locks),
            "/elections" => Some(Page::Elections),
            _ => {
                let name = path.strip_prefix("/services/")?;
                (!name.is_empty() && !name.contains('/')).then(|| Page::Service(decode_segment(name)))
            }
        }
    }

    /// The page's own path, as links write it.
    fn path(&self) -> String {
        match self {
            Page::Services => "/services".to_owned(),
            Page::Service(name) => format!("/services/{}", encode_segment(name)),
            Page::Leases => "/leases".to_owned(),
            Page::Locks => "/locks".to_owned(),
            Page::Elections => "/elections".to_owned(),
        }
    }

    fn title(&self) -> String {
        match self {
            Page::Services => "Services".to_owned(),
            Page::Service(name) => name.clone(),
            Page::Leases => "Leases".to_owned(),
            Page::Locks => "Locks".to_owned(),
            Page::Elections => "Elections".to_owned(),
        }
    }
}

/// The moment the address asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
enum AsOf {
    Revision(Revision),
    /// An RFC 3339 time; the server maps it to the revision current then.
    At(String),
}

impl AsOf {
    /// `?rev=` or `?at=` as the address holds them; `rev` wins (the server
    /// refuses both, so a link holding both is read as its revision).
    fn from_query(rev: Option<String>, at: Option<String>) -> Result<AsOf, String> {
        if let Some(rev) = rev {
            return match rev.trim().parse::<Revision>() {
                Ok(r) if r >= 1 => Ok(AsOf::Revision(r)),
                _ => Err(format!(
                    "rev={rev:?} is not a revision: revisions are whole numbers from 1."
                )),
            };
        }
        match at.map(|a| a.trim().to_owned()) {
            Some(at) if !at.is_empty() => Ok(AsOf::At(at)),
            _ => Err("Give a revision (rev=1042) or a time (at=2026-12-07T03:12:00Z).".to_owned()),
        }
    }

    /// The query string that asks for it.
    fn query(&self) -> String {
        match self {
            AsOf::Revision(r) => format!("rev={r}"),
            AsOf::At(at) => format!("at={}", encode_segment(at)),
        }
    }
}

/// The server's registry at that moment, for one page.
#[derive(Debug, Clone, PartialEq)]
enum Body {
    Services(ServicesBody),
    Service(ServiceBody),
    Leases(LeasesBody),
    Locks(LocksBody),
    Elections(ElectionsBody),
}

impl Body {
    fn revision(&self) -> Revision {
        match self {
            Body::Services(b) => b.revision,
            Body::Service(b) => b.revision,
            Body::Leases(b) => b.revision,
            Body::Locks(b) => b.revision,
            Body::Elections(b) => b.revision,
        }
    }
}

/// What a request for the past came to.
#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    Loading,
    Shown(Body),
    /// The service had no instance then (404).
    NoService(String),
    /// Older than etcd's compaction (410): the horizon, when the answer names it.
    Compacted(Option<Revision>),
    /// A revision etcd has not reached yet.
    Future,
    /// Any other refusal or failure, in words.
    Failed(String),
}

/// The horizon a 410's message names: "... etcd keeps revisions from N on".
fn horizon_in(message: &str) -> Option<Revision> {
    let (_, rest) = message.rsplit_once("revisions from ")?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// An RFC 3339 time as a person reads it: `2026-12-07 03:12:40 UTC` (the
/// time as given when it is not of the form the server writes).
fn readable_time(at: &str) -> String {
    match at.split_once('T') {
        Some((date, time)) if time.ends_with('Z') => {
            let time = time.trim_end_matches('Z');
            let time = time.split_once('.').map_or(time, |(whole, _)| whole);
            format!("{date} {time} UTC")
        }
        _ => at.to_owned(),
    }
}

/// The outcome of a failed request.
fn failure_outcome(failure: &ApiFailure) -> Outcome {
    let message = serde_json::from_str::<ErrorBody>(&failure.body)
        .map(|b| b.error.message)
        .unwrap_or_default();
    match failure.status {
        Some(410) => Outcome::Compacted(horizon_in(&message)),
        Some(404) => Outcome::NoService(message),
        Some(400) if message.contains("in the future") => Outcome::Future,
        _ => Outcome::Failed(failure.to_string()),
    }
}

async fn read(page: &Page, as_of: &AsOf) -> Result<Body, ApiFailure> {
    let query = as_of.query();
    Ok(match page {
        Page::Services => Body::Services(get_json(&format!("/api/v1/services?{query}")).await?),
        Page::Service(name) => {
            Body::Service(get_json(&format!("/api/v1/services/{}?{query}", encode_segment(name))).await?)
        }
        Page::Leases => Body::Leases(get_json(&format!("/api/v1/leases?{query}")).await?),
        Page::Locks => Body::Locks(get_json(&format!("/api/v1/locks?{query}")).await?),
        Page::Elections => Body::Elections(get_json(&format!("/api/v1/elections?{query}")).await?),
    })
}

#[component]
pub fn PastPage() -> impl IntoView {
    let live = Live::get();
    let location = use_location();
    let query = use_query_map();
    let page = Memo::new(move |_| Page::of_path(&location.pathname.get()));
    let as_of = Memo::new(move |_| query.with(|q| AsOf::from_query(q.get("rev"), q.get("at"))));
    // The last answer, with the page and moment it answers.
    let answer = RwSignal::new(None::<(Page, AsOf, Outcome)>);
    // What is on screen: the answer for the page and moment of the address,
    // or nothing yet (never an answer for the moment just left).
    let outcome = Memo::new(move |_| {
        let (Some(page), Ok(asked)) = (page.get(), as_of.get()) else {
            return Outcome::Loading;
        };
        answer.with(|a| match a {
            Some((p, at, outcome)) if *p == page && *at == asked => outcome.clone(),
            _ => Outcome::Loading,
        })
    });

    // Read the past whenever the page or the moment changes; an answer for a
    // moment since left is dropped.
    Effect::new(move |_| {
        let (Some(page), Ok(asked)) = (page.get(), as_of.get()) else {
            return;
        };
        spawn_local(async move {
            let result = read(&page, &asked).await;
            let still = Page::of_path(&location.pathname.get_untracked()).as_ref() == Some(&page)
                && query
                    .with_untracked(|q| AsOf::from_query(q.get("rev"), q.get("at")))
                    .as_ref()
                    == Ok(&asked);
            if still {
                let outcome = match result {
                    Ok(body) => Outcome::Shown(body),
                    Err(failure) => failure_outcome(&failure),
                };
                let _ = answer.try_set(Some((page, asked, outcome)));
            }
        });
    });

    // The revision shown: the answer's, or the one asked for.
    let revision = Memo::new(move |_| match (&*outcome.read(), as_of.get()) {
        (Outcome::Shown(body), _) => Some(body.revision()),
        (_, Ok(AsOf::Revision(r))) => Some(r),
        _ => None,
    });
    let path = Memo::new(move |_| page.get().map(|p| p.path()).unwrap_or_default());
    let horizon = move || live.ops.with(|ops| ops.as_ref().and_then(|o| o.compact_revision));
    let moments = Moments::follow(revision);

    let heading = move || {
        let asked = as_of.get();
        let shown = matches!(&*outcome.read(), Outcome::Shown(_));
        match (revision.get(), asked) {
            (Some(r), Ok(AsOf::At(at))) if shown => format!("As of revision {r} ({})", readable_time(&at)),
            (Some(r), Ok(AsOf::Revision(_))) if shown => match moments.time_of(r) {
                Some(at) => format!("As of revision {r} ({})", readable_time(&at)),
                None => format!("As of revision {r}"),
            },
            (Some(r), _) => format!("Revision {r}"),
            (None, Ok(AsOf::At(at))) => format!("As of {}", readable_time(&at)),
            (None, _) => "The past".to_owned(),
        }
    };
    let when_note = move || {
        let r = revision.get()?;
        let shown = matches!(&*outcome.read(), Outcome::Shown(_));
        match as_of.get() {
            Ok(AsOf::At(_)) if shown => Some(format!(
                "The newest revision Leasehold saw current at that time is {r}."
            )),
            Ok(AsOf::Revision(_)) if shown => Some(match moments.time_of(r) {
                Some(_) => "The time is that of the last change the timeline recorded by then.".to_owned(),
                None => "The timeline holds no change up to it, so its time is not known.".to_owned(),
            }),
            _ => None,
        }
    };
    let horizon_line = move || {
        horizon().map(|h| {
            let text = if h > 0 {
                format!("etcd keeps revisions from {h} on: history before it is compacted.")
            } else {
                "etcd has compacted nothing: every revision can be read.".to_owned()
            };
            view! { <p class="muted" data-testid="past-horizon">{text}</p> }
        })
    };

    let content = move || {
        let Some(page) = page.get() else {
            return view! { <p class="error" role="alert">"This page has no past to show."</p> }.into_any();
        };
        if let Err(message) = as_of.get() {
            return view! { <p class="error" role="alert" data-testid="past-error">{message}</p> }.into_any();
        }
        match outcome.get() {
            Outcome::Loading => view! { <Loading/> }.into_any(),
            Outcome::Shown(body) => views::registry(body),
            Outcome::NoService(message) => view! {
                <p class="empty" data-testid="past-no-service">
                    {format!("{} had no instance at this revision. ", page.title())}
                    <span class="muted">{message}</span>
                </p>
            }
            .into_any(),
            Outcome::Compacted(named) => {
                let h = named.or_else(horizon).filter(|h| *h > 0);
                let r = revision.get();
                let text = match (h, r) {
                    (Some(h), Some(r)) => format!(
                        "etcd has compacted history before revision {h}: the registry at revision {r} can no longer be read, and Leasehold shows no part of it."
                    ),
                    (Some(h), None) => format!(
                        "etcd has compacted history before revision {h}: that moment can no longer be read."
                    ),
                    (None, _) => "etcd has compacted that history: that moment can no longer be read.".to_owned(),
                };
                let oldest = h.map(|h| {
                    view! {
                        <a class="button" href=format!("{}?rev={h}", path.get()) data-testid="past-oldest">
                            {format!("See the oldest revision etcd keeps ({h})")}
                        </a>
                    }
                });
                view! {
                    <div class="past-gone" role="alert" data-testid="past-compacted">
                        <p>{text}</p>
                        {oldest}
                    </div>
                }
                .into_any()
            }
            Outcome::Future => {
                let now = live.revision.get();
                let text = match revision.get() {
                    Some(r) if now > 0 => format!(
                        "Revision {r} is in the future: etcd has not reached it (Leasehold has seen revision {now})."
                    ),
                    Some(r) => format!("Revision {r} is in the future: etcd has not reached it."),
                    None => "That moment is in the future.".to_owned(),
                };
                view! { <p class="past-gone" role="alert" data-testid="past-future">{text}</p> }.into_any()
            }
            Outcome::Failed(message) => {
                view! { <p class="error" role="alert" data-testid="past-error">{message}</p> }.into_any()
            }
        }
    };

    let crumbs = move || {
        matches!(page.get(), Some(Page::Service(_))).then(|| {
            let href = match as_of.get() {
                Ok(asked) => format!("/services?{}", asked.query()),
                Err(_) => "/services".to_owned(),
            };
            view! { <p class="crumbs"><a href=href>"Services"</a> " / "</p> }
        })
    };

    view! {
        <section class="page past">
            {crumbs}
            <h1>{move || page.get().map(|p| p.title()).unwrap_or_default()}</h1>
            <div class="past-banner" role="region" aria-label="The past" data-testid="past-banner">
                <p class="past-when">
                    <strong data-testid="past-as-of">{heading}</strong>
                    " "
                    <a class="button" href=move || path.get() data-testid="past-live">"Back to live"</a>
                </p>
                {move || when_note().map(|t| view! { <p class="muted">{t}</p> })}
                <p data-testid="past-read-only">
                    "Read-only: this is the registry as etcd held it then. Nothing can be revoked, broken or edited here; the live page can. No lease's TTL was sampled then."
                </p>
                {horizon_line}
                <Stepper moments path/>
            </div>
            {content}
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_paths_name_their_page() {
        assert_eq!(Page::of_path("/services"), Some(Page::Services));
        assert_eq!(Page::of_path("/services/"), Some(Page::Services));
        assert_eq!(Page::of_path("/services/a%2Fb"), Some(Page::Service("a/b".to_owned())));
        assert_eq!(Page::of_path("/leases"), Some(Page::Leases));
        assert_eq!(Page::of_path("/locks"), Some(Page::Locks));
        assert_eq!(Page::of_path("/elections"), Some(Page::Elections));
        assert_eq!(Page::of_path("/cluster"), None);
        assert_eq!(Page::of_path("/services/a/b"), None);
        assert_eq!(Page::Service("a/b".to_owned()).path(), "/services/a%2Fb");
    }

    #[test]
    fn the_moment_is_read_from_the_address() {
        let q = |rev: Option<&str>, at: Option<&str>| AsOf::from_query(rev.map(str::to_owned), at.map(str::to_owned));
        assert_eq!(q(Some("42"), None), Ok(AsOf::Revision(42)));
        assert_eq!(q(Some("42"), Some("2026-12-07T03:12:00Z")), Ok(AsOf::Revision(42)));
        assert_eq!(
            q(None, Some("2026-12-07T03:12:00Z")),
            Ok(AsOf::At("2026-12-07T03:12:00Z".to_owned()))
        );
        assert!(q(Some("0"), None).is_err());
        assert!(q(Some("soon"), None).is_err());
        assert!(q(None, Some(" ")).is_err());
        assert!(q(None, None).is_err());
        assert_eq!(AsOf::Revision(7).query(), "rev=7");
        assert_eq!(
            AsOf::At("2026-12-07T03:12:00+01:00".to_owned()).query(),
            "at=2026-12-07T03%3A12%3A00%2B01%3A00"
        );
    }

    #[test]
    fn the_horizon_is_read_from_a_compacted_answer() {
        let message = "revision 3 is older than etcd's compaction at revision 17: that history is gone; etcd keeps revisions from 17 on";
        assert_eq!(horizon_in(message), Some(17));
        assert_eq!(
            horizon_in("revision 3 is older than etcd's compaction: that history is gone"),
            None
        );
    }

    #[test]
    fn times_read_as_a_person_reads_them() {
        assert_eq!(readable_time("2026-12-07T03:12:40Z"), "2026-12-07 03:12:40 UTC");
        assert_eq!(readable_time("2026-12-07T03:12:40.250Z"), "2026-12-07 03:12:40 UTC");
        assert_eq!(readable_time("2026-12-07T03:12:40+01:00"), "2026-12-07T03:12:40+01:00");
    }
}
