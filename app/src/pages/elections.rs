use leptos::prelude::*;

use super::not_built::NotBuilt;

#[component]
pub fn ElectionsPage() -> impl IntoView {
    view! { <NotBuilt title="Elections" what="elections: the leader and the candidates"/> }
}
