//! One page per file.

pub mod cluster;
pub mod elections;
pub mod events;
pub mod leases;
pub mod locks;
mod not_built;
pub mod not_found;
pub mod services;
