//! HEROS for Rust.
pub use heros_runtime::*;
