//! The way from a live registry page to its past.

use leptos::prelude::*;
use leptos_router::hooks::use_location;

use crate::live::Live;

/// "View the past": this page as of the revision on screen, where the
/// timeline's moments step back from (`pages::past`).
#[component]
pub fn ViewPast() -> impl IntoView {
    let live = Live::get();
    let location = use_location();
    move || {
        let revision = live.revision.get();
        (revision > 0).then(|| {
            view! {
                <a
                    class="button past-link"
                    href=format!("{}?rev={revision}", location.pathname.get())
                    data-testid="view-past"
                    title="This page as it was at a past revision or time, read-only"
                >
                    "View the past"
                </a>
            }
        })
    }
}
