//! Placeholder while the core is written.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
