//! View pieces used across pages.

pub mod status_bar;
