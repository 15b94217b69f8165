use leptos::prelude::*;

use super::not_built::NotBuilt;

#[component]
pub fn ServicesPage() -> impl IntoView {
    view! { <NotBuilt title="Services" what="every service and its instances, live"/> }
}
