//! The engine's one error type.

use thiserror::Error;

/// What can go wrong in the engine.
#[derive(Debug, Error)]
pub enum Error {
    /// A collector could not read its source; its last good facts are kept.
    #[error("{collector}: {message}")]
    Collect { collector: String, message: String },
    /// A config file or value is invalid.
    #[error("{0}")]
    Config(String),
}
