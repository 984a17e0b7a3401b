//! Async work on libuv's thread pool: one task type runs a closure off the event loop and turns
//! its result into a JS value, or rejects with a coded JS error. A panic becomes `ERR_INTERNAL`.

use crate::errors::{guarded, js_error};
use densenet_core::Error as CoreError;
use napi::bindgen_prelude::*;
use napi::Task;

type Work<O> = Box<dyn FnOnce() -> std::result::Result<O, CoreError> + Send>;

pub struct Job<O, J> {
    work: Option<Work<O>>,
    to_js: fn(O) -> J,
}

impl<O, J> Job<O, J> {
    pub fn new(work: impl FnOnce() -> std::result::Result<O, CoreError> + Send + 'static, to_js: fn(O) -> J) -> AsyncTask<Self>
    where
        Self: Task,
    {
        AsyncTask::new(Job { work: Some(Box::new(work)), to_js })
    }
}

impl<O: Send + 'static, J: ToNapiValue + TypeName> Task for Job<O, J> {
    type Output = std::result::Result<O, CoreError>;
    type JsValue = J;
    fn compute(&mut self) -> Result<Self::Output> {
        let work = self.work.take().expect("a task runs once");
        Ok(guarded(work))
    }
    fn resolve(&mut self, env: Env, out: Self::Output) -> Result<J> {
        match out {
            Ok(v) => Ok((self.to_js)(v)),
            Err(e) => Err(js_error(&env, &e)),
        }
    }
}
