use leptos::prelude::*;

use super::not_built::NotBuilt;

#[component]
pub fn LeasesPage() -> impl IntoView {
    view! { <NotBuilt title="Leases" what="every lease, its TTL and what revoking it removes"/> }
}
