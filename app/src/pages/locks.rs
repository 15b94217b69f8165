use leptos::prelude::*;

use super::not_built::NotBuilt;

#[component]
pub fn LocksPage() -> impl IntoView {
    view! { <NotBuilt title="Locks" what="lock queues: the holder and the waiters in order"/> }
}
