//! Signing in and out (`--auth users`): the login form that replaces the
//! pages while the server wants a sign-in, and the user's name with a
//! sign-out button in the header.

use leptos::ev::SubmitEvent;
use leptos::prelude::*;

use crate::live::{api, reload, Live};
use crate::model::{LoginBody, Role};

#[component]
pub fn LoginForm() -> impl IntoView {
    let username = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let failure = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let submit = move |event: SubmitEvent| {
        event.prevent_default();
        if busy.get_untracked() {
            return;
        }
        busy.set(true);
        failure.set(None);
        let body = serde_json::json!({
            "username": username.get_untracked(),
            "password": password.get_untracked(),
        });
        leptos::task::spawn_local(async move {
            match api::post_json::<LoginBody>("/api/v1/login", &body).await {
                // Start afresh with the session: socket, subscriptions, role.
                Ok(_) => reload(),
                Err(error) => {
                    password.set(String::new());
                    let why = if error.is_unauthenticated() {
                        "Wrong user name or password.".to_owned()
                    } else {
                        error.to_string()
                    };
                    failure.set(Some(why));
                    busy.set(false);
                }
            }
        });
    };
    view! {
        <section class="login" aria-labelledby="login-title">
            <h1 id="login-title">"Sign in to Leasehold"</h1>
            <p>"This dashboard needs a user name and password."</p>
            <form on:submit=submit data-testid="login-form">
                <label>
                    "User name"
                    <input
                        name="username"
                        autocomplete="username"
                        required
                        prop:value=username
                        on:input=move |e| username.set(event_target_value(&e))
                    />
                </label>
                <label>
                    "Password"
                    <input
                        type="password"
                        name="password"
                        autocomplete="current-password"
                        required
                        prop:value=password
                        on:input=move |e| password.set(event_target_value(&e))
                    />
                </label>
                {move || failure.get().map(|why| view! { <p class="error" role="alert" data-testid="login-error">{why}</p> })}
                <button type="submit" disabled=busy>
                    {move || if busy.get() { "Signing in…" } else { "Sign in" }}
                </button>
            </form>
        </section>
    }
}

/// The signed-in user, their role, and a sign-out button; nothing without a login.
#[component]
pub fn Account() -> impl IntoView {
    let live = Live::get();
    let failure = RwSignal::new(None::<String>);
    let sign_out = move |_| {
        leptos::task::spawn_local(async move {
            if let Err(error) = live.sign_out().await {
                failure.set(Some(error.to_string()));
            }
        });
    };
    move || {
        let me = live.me.get().filter(|me| me.has_login())?;
        let role = match me.role {
            Role::Operator => "operator",
            Role::Viewer => "viewer",
        };
        Some(view! {
            <div class="account" data-testid="account">
                <span data-testid="account-user">{me.user.unwrap_or_default()}</span>
                <span class="badge" data-testid="account-role">{role}</span>
                <button type="button" on:click=sign_out data-testid="sign-out">"Sign out"</button>
                {move || failure.get().map(|why| view! { <span class="status-error" role="alert">{why}</span> })}
            </div>
        })
    }
}
