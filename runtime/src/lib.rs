//! The HEROS runtime. See the `heros` crate for the tour.

pub mod config;
mod error;
mod names;
pub mod proto;

pub use config::{Config, HeroUrl};
pub use error::{detail_of, Error, Result};
pub use names::{validate_name, validate_realm, DEFAULT_REALM};
