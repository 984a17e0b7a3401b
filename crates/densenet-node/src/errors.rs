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

/// Runs native work; a panic becomes `ERR_INTERNAL` instead of ending the process. A panic whose
/// payload is a core `Error` is that error.
pub fn guarded<R>(f: impl FnOnce() -> Result<R, CoreError>) -> Result<R, CoreError> {
    quiet_error_panics();
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(p) => {
            if let Some(e) = p.downcast_ref::<CoreError>() {
                return Err(e.clone());
            }
            let msg = p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string())).unwrap_or_default();
            Err(CoreError::Internal(format!("native panic: {msg}")))
        }
    }
}

pub fn invalid_arg(msg: impl Into<String>) -> CoreError {
    CoreError::InvalidArg(msg.into())
}

/// Panics carrying a core `Error` are errors, not bugs: the panic hook does not print them
/// (every other panic is printed by the hook that was there before).
fn quiet_error_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if info.payload().downcast_ref::<CoreError>().is_none() {
                previous(info);
            }
        }));
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_with_a_core_error_payload_is_that_error_and_any_other_panic_is_internal() {
        let r: Result<(), CoreError> = guarded(|| std::panic::panic_any(CoreError::Memory("conv columns: cannot allocate 4096 bytes".into())));
        assert_eq!(r, Err(CoreError::Memory("conv columns: cannot allocate 4096 bytes".into())));
        let r: Result<(), CoreError> = guarded(|| panic!("a bug"));
        assert!(matches!(r, Err(CoreError::Internal(m)) if m.contains("a bug")));
    }
}
