use leptos::prelude::*;

/// What a page that does not exist yet says, instead of showing fake data.
#[component]
pub fn NotBuilt(title: &'static str, what: &'static str) -> impl IntoView {
    view! {
        <section class="page">
            <h1>{title}</h1>
            <p class="not-built">{format!("Not built yet: this page will show {what}.")}</p>
        </section>
    }
}
