use leptos::prelude::*;

use super::not_built::NotBuilt;

#[component]
pub fn EventsPage() -> impl IntoView {
    view! { <NotBuilt title="Events" what="a timeline of registrations, evictions and lock hand-overs"/> }
}
