//! What the tables share: headers that sort, and filters and sort orders
//! kept in the page's address, so a filtered, sorted view can be shared and
//! survives a reload.

use leptos::prelude::*;

/// A column a table is sorted by, and which way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sorting<C> {
    pub column: C,
    pub descending: bool,
}

/// A table's columns that sort: each named in the address (`?sort=ttl`,
/// `?sort=-ttl` for descending).
pub trait Column: Copy + PartialEq + Send + Sync + 'static {
    const ALL: &'static [Self];
    fn name(self) -> &'static str;
}

impl<C: Column> Sorting<C> {
    /// `ttl` or `-ttl`, as the address spells it.
    pub fn to_query(self) -> String {
        let sign = if self.descending { "-" } else { "" };
        format!("{sign}{}", self.column.name())
    }

    /// `ascending` turned the way this sorting goes.
    pub fn order(self, ascending: std::cmp::Ordering) -> std::cmp::Ordering {
        if self.descending {
            ascending.reverse()
        } else {
            ascending
        }
    }

    pub fn from_query(text: &str) -> Option<Self> {
        let (descending, name) = match text.strip_prefix('-') {
            Some(name) => (true, name),
            None => (false, text),
        };
        let column = *C::ALL.iter().find(|c| c.name() == name)?;
        Some(Sorting { column, descending })
    }
}

/// A header that sorts by `column` when pressed: ascending, descending,
/// then back to the table's own order.
#[component]
pub fn SortHeader<C: Column>(
    label: &'static str,
    column: C,
    sort: RwSignal<Option<Sorting<C>>>,
    #[prop(optional)] numeric: bool,
) -> impl IntoView {
    let state = move || match sort.get() {
        Some(s) if s.column == column && s.descending => "descending",
        Some(s) if s.column == column => "ascending",
        _ => "none",
    };
    let press = move |_| {
        sort.update(|s| {
            *s = match *s {
                Some(Sorting {
                    column: c,
                    descending: false,
                }) if c == column => Some(Sorting {
                    column,
                    descending: true,
                }),
                Some(Sorting {
                    column: c,
                    descending: true,
                }) if c == column => None,
                _ => Some(Sorting {
                    column,
                    descending: false,
                }),
            }
        });
    };
    view! {
        <th scope="col" class:num=numeric aria-sort=state>
            <button type="button" class="sort" on:click=press>
                {label}
                <span class="sort-mark" aria-hidden="true">
                    {move || match state() {
                        "ascending" => "▲",
                        "descending" => "▼",
                        _ => "",
                    }}
                </span>
            </button>
        </th>
    }
}

/// Sets (or, when empty, removes) `name` in the address's query string,
/// without a navigation: the page stays as it is, the address says it.
pub fn keep_in_address(name: &str, value: &str) {
    #[cfg(feature = "hydrate")]
    {
        let Some(window) = web_sys::window() else {
            return;
        };
        let Ok(href) = window.location().href() else {
            return;
        };
        let Ok(url) = web_sys::Url::new(&href) else {
            return;
        };
        let params = url.search_params();
        if value.is_empty() {
            params.delete(name);
        } else {
            params.set(name, value);
        }
        url.set_search(&String::from(params.to_string()));
        if let Ok(history) = window.history() {
            let _ = history.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&url.href()));
        }
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (name, value);
}

/// A table's filter text (`?q=`) and sort order (`?sort=`), read from the
/// address and kept in it from now on.
pub fn filter_and_sort_in_address<C: Column>() -> (RwSignal<String>, RwSignal<Option<Sorting<C>>>) {
    let address = leptos_router::hooks::use_query_map();
    let read = |name: &str| address.read_untracked().get(name);
    let query = RwSignal::new(read("q").unwrap_or_default());
    let sort = RwSignal::new(read("sort").and_then(|s| Sorting::from_query(&s)));
    mirror_in_address("q", move || query.get());
    mirror_in_address("sort", move || sort.get().map(Sorting::to_query).unwrap_or_default());
    (query, sort)
}

/// Keeps `signal`'s text in the address as `name`, from now on.
pub fn mirror_in_address(name: &'static str, signal: impl Fn() -> String + Send + Sync + 'static) {
    Effect::new(move |_| keep_in_address(name, &signal()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Col {
        Name,
        Ttl,
    }

    impl Column for Col {
        const ALL: &'static [Self] = &[Col::Name, Col::Ttl];
        fn name(self) -> &'static str {
            match self {
                Col::Name => "name",
                Col::Ttl => "ttl",
            }
        }
    }

    #[test]
    fn sort_orders_round_trip_through_the_address() {
        for s in [
            Sorting {
                column: Col::Name,
                descending: false,
            },
            Sorting {
                column: Col::Ttl,
                descending: true,
            },
        ] {
            assert_eq!(Sorting::<Col>::from_query(&s.to_query()), Some(s));
        }
        assert_eq!(Sorting::<Col>::from_query("-ttl").map(|s| s.descending), Some(true));
        assert_eq!(Sorting::<Col>::from_query("weight"), None);
    }
}
