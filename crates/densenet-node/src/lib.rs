//! Node.js binding of densenet-core (napi-rs). Every heavy call runs on libuv's thread pool
//! (an AsyncTask) so the event loop stays free; errors carry the core's `[ERR_CODE]` prefix.

mod any_model;
mod tasks;

use any_model::AnyModel;
use densenet_core::{DenseNetConfig, MemoryMode, SgdConfig, PRESET_NAMES};
use napi::bindgen_prelude::*;
use napi_derive::napi;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tasks::{CheckpointLoadTask, CheckpointSaveTask, LoadTask, PredictTask, SaveTask, StepTask};

/// Threads for models created from now on (0 = all available cores).
static THREADS: AtomicUsize = AtomicUsize::new(0);

pub(crate) fn core_err(e: densenet_core::Error) -> Error {
    Error::new(Status::GenericFailure, e.to_string())
}

pub(crate) fn arg_err(msg: String) -> Error {
    Error::new(Status::InvalidArg, format!("[ERR_INVALID_ARG] {msg}"))
}

fn to_shape(shape: &[u32]) -> Vec<usize> {
    shape.iter().map(|&v| v as usize).collect()
}

#[napi(object)]
pub struct StepResult {
    pub loss: f64,
    pub correct: u32,
}

#[napi(object)]
pub struct EvalResult {
    pub loss: f64,
    pub correct: u32,
    pub logits: Float32Array,
}

#[napi]
pub struct NativeModel {
    inner: Arc<Mutex<AnyModel>>,
    dtype: String,
}

#[napi]
impl NativeModel {
    /// A model of the given config (JSON) and dtype ('f32' | 'f64'), weights initialized from `seed`.
    #[napi(constructor)]
    pub fn new(config_json: String, dtype: String, seed: f64) -> Result<Self> {
        let config = DenseNetConfig::from_json(&config_json).map_err(core_err)?;
        if !(seed >= 0.0 && seed.fract() == 0.0 && seed <= 9_007_199_254_740_991.0) {
            return Err(arg_err(format!("seed must be a non-negative integer, got {seed}")));
        }
        let mut model = AnyModel::new(config, &dtype, seed as u64)?;
        let threads = THREADS.load(Ordering::Relaxed);
        if threads > 0 {
            model.set_threads(threads);
        }
        Ok(NativeModel { inner: Arc::new(Mutex::new(model)), dtype })
    }

    #[napi(getter)]
    pub fn dtype(&self) -> String {
        self.dtype.clone()
    }

    #[napi]
    pub fn config_json(&self) -> String {
        any_model::lock(&self.inner).config().to_json()
    }

    #[napi]
    pub fn param_count(&self) -> f64 {
        any_model::lock(&self.inner).parameter_count() as f64
    }

    /// Per-stage table for an input of height × width (JSON).
    #[napi]
    pub fn summary_json(&self, height: u32, width: u32) -> Result<String> {
        let cfg = any_model::lock(&self.inner).config().clone();
        densenet_core::summary::summary(&cfg, height as usize, width as usize).map(|s| serde_json::to_string(&s).unwrap()).map_err(core_err)
    }

    /// Eval-mode logits [N, classes] of an NCHW float32 batch.
    #[napi(ts_return_type = "Promise<Float32Array>")]
    pub fn predict(&self, input: Float32Array, shape: Vec<u32>) -> AsyncTask<PredictTask> {
        AsyncTask::new(PredictTask { model: self.inner.clone(), input: input.to_vec(), shape: to_shape(&shape) })
    }

    /// One SGD step in train mode.
    #[napi(ts_return_type = "Promise<StepResult>")]
    pub fn train_step(&self, input: Float32Array, shape: Vec<u32>, labels: Int32Array) -> AsyncTask<StepTask> {
        AsyncTask::new(StepTask { model: self.inner.clone(), input: input.to_vec(), shape: to_shape(&shape), labels: labels.iter().map(|&l| l as i64).collect(), train: true })
    }

    /// Eval-mode loss, correct count and logits.
    #[napi(ts_return_type = "Promise<EvalResult>")]
    pub fn eval_step(&self, input: Float32Array, shape: Vec<u32>, labels: Int32Array) -> AsyncTask<StepTask> {
        AsyncTask::new(StepTask { model: self.inner.clone(), input: input.to_vec(), shape: to_shape(&shape), labels: labels.iter().map(|&l| l as i64).collect(), train: false })
    }

    #[napi(ts_return_type = "Promise<void>")]
    pub fn save(&self, path: String) -> AsyncTask<SaveTask> {
        AsyncTask::new(SaveTask { model: self.inner.clone(), path })
    }

    #[napi(ts_return_type = "Promise<void>")]
    pub fn load(&self, path: String) -> AsyncTask<LoadTask> {
        AsyncTask::new(LoadTask { model: self.inner.clone(), path })
    }

    #[napi(ts_return_type = "Promise<void>")]
    pub fn save_checkpoint(&self, path: String, extra_json: String) -> AsyncTask<CheckpointSaveTask> {
        AsyncTask::new(CheckpointSaveTask { model: self.inner.clone(), path, extra: extra_json })
    }

    #[napi(ts_return_type = "Promise<string>")]
    pub fn load_checkpoint(&self, path: String) -> AsyncTask<CheckpointLoadTask> {
        AsyncTask::new(CheckpointLoadTask { model: self.inner.clone(), path })
    }

    /// {"lr":0.1,"momentum":0.9,"nesterov":true,"weightDecay":1e-4}; missing fields keep the recipe's defaults.
    #[napi]
    pub fn set_optimizer(&self, opt_json: String) -> Result<()> {
        let cfg: SgdConfig = serde_json::from_str(&opt_json).map_err(|e| arg_err(format!("invalid optimizer JSON: {e}")))?;
        cfg.validate().map_err(core_err)?;
        any_model::lock(&self.inner).set_optimizer(cfg);
        Ok(())
    }

    #[napi]
    pub fn set_learning_rate(&self, lr: f64) -> Result<()> {
        let mut m = any_model::lock(&self.inner);
        let mut cfg = m.optimizer();
        cfg.lr = lr;
        cfg.validate().map_err(core_err)?;
        m.set_optimizer(cfg);
        Ok(())
    }

    #[napi]
    pub fn optimizer_json(&self) -> String {
        serde_json::to_string(&any_model::lock(&self.inner).optimizer()).unwrap()
    }

    /// 'efficient' (default) | 'naive'.
    #[napi]
    pub fn set_memory_mode(&self, mode: String) -> Result<()> {
        let mode = match mode.as_str() {
            "efficient" => MemoryMode::Efficient,
            "naive" => MemoryMode::Naive,
            other => return Err(arg_err(format!("memory mode must be 'efficient' or 'naive', got '{other}'"))),
        };
        any_model::lock(&self.inner).set_mode(mode);
        Ok(())
    }

    #[napi]
    pub fn set_threads(&self, threads: u32) -> Result<()> {
        if threads == 0 {
            return Err(arg_err("threads must be >= 1".into()));
        }
        any_model::lock(&self.inner).set_threads(threads as usize);
        Ok(())
    }

    /// Completed optimizer steps.
    #[napi(getter)]
    pub fn step(&self) -> f64 {
        any_model::lock(&self.inner).step() as f64
    }
}

/// The normalized JSON config of a preset; throws for unknown names, listing the known ones.
#[napi]
pub fn preset_config(name: String) -> Result<String> {
    DenseNetConfig::preset(&name).map(|c| c.to_json()).map_err(core_err)
}

#[napi]
pub fn preset_names() -> Vec<String> {
    PRESET_NAMES.iter().map(|s| s.to_string()).collect()
}

/// Validates a JSON config and fills its defaults; throws naming the field.
#[napi]
pub fn normalize_config(json: String) -> Result<String> {
    DenseNetConfig::from_json(&json).map(|c| c.to_json()).map_err(core_err)
}

/// Config of a CIFAR-style DenseNet of the given depth (basic 3n+4, BC 6n+4).
#[napi]
pub fn cifar_config(depth: u32, growth_rate: u32, bc: bool, num_classes: u32) -> Result<String> {
    DenseNetConfig::cifar(depth as usize, growth_rate as usize, bc, num_classes as usize).map(|c| c.to_json()).map_err(core_err)
}

/// Threads for models created afterwards (0 = all cores).
#[napi]
pub fn set_num_threads(n: u32) {
    THREADS.store(n as usize, Ordering::Relaxed);
}

/// Learning rate of a schedule (JSON, e.g. {"type":"multiStep","lr":0.1,"milestones":[150,225],"gamma":0.1}) at an epoch.
#[napi]
pub fn schedule_lr(schedule_json: String, epoch: f64) -> Result<f64> {
    let s: densenet_core::LrSchedule = serde_json::from_str(&schedule_json).map_err(|e| arg_err(format!("invalid schedule JSON: {e}")))?;
    Ok(s.lr_at(epoch))
}
