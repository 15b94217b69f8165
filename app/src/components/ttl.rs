//! A TTL that counts down between samples, amber then red as it nears zero.

use leptos::prelude::*;

use crate::live::{remaining, Live};

/// `ttl` as sampled at `received_ms`, out of `granted`.
#[component]
pub fn Ttl(ttl: Option<i64>, granted: Option<i64>, received_ms: f64) -> impl IntoView {
    let live = Live::get();
    let left = move || remaining(ttl, received_ms, live.now_ms.get());
    let class = move || {
        let level = match (left(), granted) {
            (Some(l), _) if l < 0 => "expired",
            (Some(l), Some(g)) if g > 0 && l * 5 <= g => "critical",
            (Some(l), Some(g)) if g > 0 && l * 2 <= g => "warning",
            (Some(_), _) => "ok",
            (None, _) => "unknown",
        };
        format!("ttl {level}")
    };
    let text = move || match left() {
        Some(l) if l < 0 => "expired".to_owned(),
        Some(l) => format!("{l} s"),
        None => "—".to_owned(),
    };
    let title = match granted {
        Some(g) => format!("granted {g} s; counts down between samples"),
        None => "not sampled yet".to_owned(),
    };
    view! { <span class=class title=title data-testid="ttl">{text}</span> }
}
