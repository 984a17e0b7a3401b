//! Core errors as JS errors: `napi_create_error` sets the error's `code` property to the core's
//! stable code (`ERR_SHAPE`, ...) and its message to the core's message; nothing parses text.

use densenet_core::Error as CoreError;
use napi::{Env, JsError};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// A JS `Error` with `code` set, wrapped so that napi-rs throws (or rejects with) that object.
pub fn js_error(env: &Env, e: &CoreError) -> napi::Error {
    let err: napi::Error<&str> = napi::Error::new(e.code(), e.message());
    napi::Error::from(JsError::from(err).into_unknown(*env))
}

/// Maps a core result for a synchronous export.
pub fn sync<R>(env: &Env, r: Result<R, CoreError>) -> napi::Result<R> {
    r.map_err(|e| js_error(env, &e))
}

/// Runs native work; a panic becomes `ERR_INTERNAL` instead of ending the process.
pub fn guarded<R>(f: impl FnOnce() -> Result<R, CoreError>) -> Result<R, CoreError> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(p) => {
            let msg = p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string())).unwrap_or_default();
            Err(CoreError::Internal(format!("native panic: {msg}")))
        }
    }
}

pub fn invalid_arg(msg: impl Into<String>) -> CoreError {
    CoreError::InvalidArg(msg.into())
}
