//! The async tasks: work runs on a libuv worker; panics become errors, never a crash.

use crate::any_model::{lock, AnyModel};
use crate::{core_err, EvalResult, StepResult};
use napi::bindgen_prelude::*;
use napi::Task;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::{Arc, Mutex};

type Model = Arc<Mutex<AnyModel>>;

fn guarded<R>(f: impl FnOnce() -> densenet_core::Result<R>) -> Result<R> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r.map_err(core_err),
        Err(p) => {
            let msg = p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string())).unwrap_or_default();
            Err(Error::new(Status::GenericFailure, format!("[ERR_INTERNAL] native panic: {msg}")))
        }
    }
}

pub struct PredictTask {
    pub model: Model,
    pub input: Vec<f32>,
    pub shape: Vec<usize>,
}

impl Task for PredictTask {
    type Output = Vec<f32>;
    type JsValue = Float32Array;
    fn compute(&mut self) -> Result<Vec<f32>> {
        guarded(|| lock(&self.model).predict(&self.input, &self.shape))
    }
    fn resolve(&mut self, _env: Env, output: Vec<f32>) -> Result<Float32Array> {
        Ok(Float32Array::new(output))
    }
}

pub struct StepTask {
    pub model: Model,
    pub input: Vec<f32>,
    pub shape: Vec<usize>,
    pub labels: Vec<i64>,
    pub train: bool,
}

pub enum StepValue {
    Train(StepResult),
    Eval(EvalResult),
}

impl ToNapiValue for StepValue {
    unsafe fn to_napi_value(env: napi::sys::napi_env, val: Self) -> Result<napi::sys::napi_value> {
        match val {
            StepValue::Train(r) => StepResult::to_napi_value(env, r),
            StepValue::Eval(r) => EvalResult::to_napi_value(env, r),
        }
    }
}

impl TypeName for StepValue {
    fn type_name() -> &'static str {
        "StepResult"
    }
    fn value_type() -> ValueType {
        ValueType::Object
    }
}

impl Task for StepTask {
    type Output = densenet_core::StepOutput;
    type JsValue = StepValue;
    fn compute(&mut self) -> Result<Self::Output> {
        guarded(|| {
            let mut m = lock(&self.model);
            if self.train {
                m.train_step(&self.input, &self.shape, &self.labels)
            } else {
                m.eval_step(&self.input, &self.shape, &self.labels)
            }
        })
    }
    fn resolve(&mut self, _env: Env, out: Self::Output) -> Result<StepValue> {
        Ok(if self.train {
            StepValue::Train(StepResult { loss: out.loss, correct: out.correct as u32 })
        } else {
            let logits: Vec<f32> = out.logits.iter().map(|&v| v as f32).collect();
            StepValue::Eval(EvalResult { loss: out.loss, correct: out.correct as u32, logits: Float32Array::new(logits) })
        })
    }
}

pub struct SaveTask {
    pub model: Model,
    pub path: String,
}

impl Task for SaveTask {
    type Output = ();
    type JsValue = ();
    fn compute(&mut self) -> Result<()> {
        guarded(|| lock(&self.model).save(Path::new(&self.path)))
    }
    fn resolve(&mut self, _env: Env, _o: ()) -> Result<()> {
        Ok(())
    }
}

pub struct LoadTask {
    pub model: Model,
    pub path: String,
}

impl Task for LoadTask {
    type Output = ();
    type JsValue = ();
    fn compute(&mut self) -> Result<()> {
        guarded(|| lock(&self.model).load(Path::new(&self.path)))
    }
    fn resolve(&mut self, _env: Env, _o: ()) -> Result<()> {
        Ok(())
    }
}

pub struct CheckpointSaveTask {
    pub model: Model,
    pub path: String,
    pub extra: String,
}

impl Task for CheckpointSaveTask {
    type Output = ();
    type JsValue = ();
    fn compute(&mut self) -> Result<()> {
        guarded(|| lock(&self.model).save_checkpoint(Path::new(&self.path), &self.extra))
    }
    fn resolve(&mut self, _env: Env, _o: ()) -> Result<()> {
        Ok(())
    }
}

pub struct CheckpointLoadTask {
    pub model: Model,
    pub path: String,
}

impl Task for CheckpointLoadTask {
    type Output = String;
    type JsValue = String;
    fn compute(&mut self) -> Result<String> {
        guarded(|| lock(&self.model).load_checkpoint(Path::new(&self.path)))
    }
    fn resolve(&mut self, _env: Env, o: String) -> Result<String> {
        Ok(o)
    }
}
