//! Errors with a stable code prefix, so that bindings can map them to typed errors.

/// Every failure of the core. The message starts with a bracketed code (`[ERR_SHAPE] …`).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("[ERR_INVALID_CONFIG] {0}")]
    Config(String),
    #[error("[ERR_SHAPE] {0}")]
    Shape(String),
    #[error("[ERR_WEIGHTS] {0}")]
    Weights(String),
    #[error("[ERR_IO] {0}")]
    Io(String),
    #[error("[ERR_LABEL] {0}")]
    Label(String),
    #[error("[ERR_NONFINITE] {0}")]
    NonFinite(String),
    #[error("[ERR_INVALID_ARG] {0}")]
    InvalidArg(String),
}

pub type Result<T> = std::result::Result<T, Error>;
