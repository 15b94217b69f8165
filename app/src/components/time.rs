//! Relative times: "12 s", with the exact time on hover.

use leptos::prelude::*;

use crate::live::Live;

/// Milliseconds since the epoch of an RFC 3339 time (browser only).
pub fn parse_ms(rfc3339: &str) -> Option<f64> {
    #[cfg(feature = "hydrate")]
    {
        let ms = js_sys::Date::parse(rfc3339);
        (!ms.is_nan()).then_some(ms)
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = rfc3339;
        None
    }
}

/// An RFC 3339 time (UTC) of milliseconds since the epoch (browser only).
pub fn iso_time(ms: f64) -> Option<String> {
    #[cfg(feature = "hydrate")]
    {
        let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ms));
        (!date.get_time().is_nan()).then(|| String::from(date.to_iso_string()))
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = ms;
        None
    }
}

/// The clock time of an RFC 3339 time in the browser's zone, `10:05:03`
/// (browser only).
pub fn clock_time(rfc3339: &str) -> Option<String> {
    #[cfg(feature = "hydrate")]
    {
        let ms = parse_ms(rfc3339)?;
        let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ms));
        Some(String::from(date.to_locale_time_string("en-GB")))
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = rfc3339;
        None
    }
}

/// `42 s`, `3 min 5 s`, `2 h 10 min`.
pub fn human_duration(seconds: i64) -> String {
    let seconds = seconds.max(0);
    match seconds {
        s if s < 60 => format!("{s} s"),
        s if s < 3600 => format!("{} min {} s", s / 60, s % 60),
        s => format!("{} h {} min", s / 3600, (s % 3600) / 60),
    }
}

/// How long ago `since` was, ticking; `—` when unknown (or before the page is live).
#[component]
pub fn Elapsed(since: Option<String>) -> impl IntoView {
    let live = Live::get();
    let title = since
        .clone()
        .unwrap_or_else(|| "before Leasehold started watching".to_owned());
    let start = since.as_deref().and_then(parse_ms);
    let text = move || {
        let now = live.now_ms.get();
        match start {
            Some(start) if now > 0.0 => human_duration(((now - start) / 1000.0).floor() as i64),
            _ => "—".to_owned(),
        }
    };
    view! { <time title=title datetime=since.unwrap_or_default()>{text}</time> }
}

/// A moment as its clock time and how long ago it was, ticking:
/// `10:05:03 (12 s)`; `before Leasehold started watching` when unknown.
#[component]
pub fn Since(since: Option<String>) -> impl IntoView {
    let Some(at) = since else {
        return view! { <span class="muted">"before Leasehold started watching"</span> }.into_any();
    };
    let clock = clock_time(&at).unwrap_or_else(|| at.clone());
    view! { <span><time datetime=at.clone() title=at.clone()>{clock}</time> " (" <Elapsed since=Some(at)/> ")"</span> }
        .into_any()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_well() {
        assert_eq!(human_duration(12), "12 s");
        assert_eq!(human_duration(185), "3 min 5 s");
        assert_eq!(human_duration(7800), "2 h 10 min");
        assert_eq!(human_duration(-3), "0 s");
    }
}
