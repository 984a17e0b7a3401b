//! One error model: every failure of the core carries a stable code (`ERR_SHAPE`, ...) that the
//! bindings set on the JS error as `code`, and a message that names what was wrong.

/// Every failure of the core. `Display` writes `[CODE] message`; bindings use [`Error::code`]
/// and [`Error::message`] separately.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
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
    /// A model or a pass would need more memory than the budget (or than can be had).
    #[error("[ERR_MEMORY] {0}")]
    Memory(String),
    /// The compute device asked for cannot be used: no GPU or driver, a missing CUDA library, an
    /// index past the devices present, or a build without that device.
    #[error("[ERR_DEVICE] {0}")]
    Device(String),
    /// A bug: a panic or a broken invariant caught at a boundary.
    #[error("[ERR_INTERNAL] {0}")]
    Internal(String),
}

impl Error {
    /// The stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Config(_) => "ERR_INVALID_CONFIG",
            Error::Shape(_) => "ERR_SHAPE",
            Error::Weights(_) => "ERR_WEIGHTS",
            Error::Io(_) => "ERR_IO",
            Error::Label(_) => "ERR_LABEL",
            Error::NonFinite(_) => "ERR_NONFINITE",
            Error::InvalidArg(_) => "ERR_INVALID_ARG",
            Error::Memory(_) => "ERR_MEMORY",
            Error::Device(_) => "ERR_DEVICE",
            Error::Internal(_) => "ERR_INTERNAL",
        }
    }

    /// The message without the code.
    pub fn message(&self) -> &str {
        match self {
            Error::Config(m)
            | Error::Shape(m)
            | Error::Weights(m)
            | Error::Io(m)
            | Error::Label(m)
            | Error::NonFinite(m)
            | Error::InvalidArg(m)
            | Error::Memory(m)
            | Error::Device(m)
            | Error::Internal(m) => m,
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;
