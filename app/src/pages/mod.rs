//! One page per file, or per folder for a page of several parts
//! (`config/`). The browser fetches most pages' code the first time it shows
//! them ([`deferred`]).

pub(crate) mod chart;
pub mod cluster;
pub mod config;
pub mod config_restore;
pub mod config_travel;
pub mod deferred;
pub mod elections;
pub mod events;
pub mod leases;
mod lock_chart;
pub mod locks;
pub mod not_found;
pub mod ops;
pub mod overview;
pub mod past;
pub mod service;
pub mod services;
pub(crate) mod table;
pub mod transfer;

use leptos::prelude::*;

/// The text of an `<input>` event.
pub(crate) fn input_text(ev: &leptos::ev::Event) -> String {
    event_target_value(ev)
}

/// `text` in lower case, for the filters. In the browser, text that is not
/// ASCII is lowered by JavaScript's `toLowerCase` (Unicode's mapping, as Rust's):
/// `str::to_lowercase` would put its Unicode tables (16 KiB) into the wasm.
pub(crate) fn lowercase(text: &str) -> String {
    #[cfg(feature = "hydrate")]
    {
        if text.is_ascii() {
            text.to_ascii_lowercase()
        } else {
            String::from(js_sys::JsString::from(text).to_lower_case())
        }
    }
    #[cfg(not(feature = "hydrate"))]
    {
        text.to_lowercase()
    }
}

/// The rows of a virtualised list to put in the DOM: `(first, last, total)`,
/// rows `first..last` of `total`, for a list scrolled by `scroll` pixels
/// with rows of `row` pixels in a viewport of `viewport` pixels, with
/// `overscan` rows more on each side.
pub(crate) fn rows_in_view(
    scroll: f64,
    total: usize,
    row: f64,
    viewport: f64,
    overscan: usize,
) -> (usize, usize, usize) {
    let first = ((scroll / row).floor() as usize).saturating_sub(overscan).min(total);
    let last = (first + (viewport / row).ceil() as usize + 2 * overscan).min(total);
    (first, last, total)
}

/// The scroll offset of the element an event came from.
pub(crate) fn scroll_top(ev: &leptos::ev::Event) -> Option<f64> {
    use leptos::wasm_bindgen::JsCast;
    let element = ev.target()?.dyn_into::<leptos::web_sys::Element>().ok()?;
    Some(f64::from(element.scroll_top()))
}

/// "Connecting…" while a topic's snapshot has not arrived.
#[component]
pub(crate) fn Loading() -> impl IntoView {
    view! { <p class="loading">"Connecting…"</p> }
}
