//! Node.js binding of densenet-core (napi-rs). Every heavy call runs on libuv's thread pool
//! (an AsyncTask) so the event loop stays free. Errors are JS `Error`s whose `code` property is
//! the core's stable code (`ERR_SHAPE`, ...); see errors.rs.

mod errors;
mod files;
#[cfg(feature = "mpi")]
pub mod mpi_group;
mod session;
mod tasks;

use densenet_core::{DenseNetConfig, Error as CoreError, FrozenBatchNorm, MemoryMode, OptimizerSettings, StepOutput, PRESET_NAMES};
use errors::{invalid_arg, sync};
use files::{read_file, write_atomic};
use napi::bindgen_prelude::*;
use napi_derive::napi;
use session::{default_threads, with, Session, Shared};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tasks::Job;

/// Threads for models created from now on (0 = all available cores).
static THREADS: AtomicUsize = AtomicUsize::new(0);

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

fn step_result(o: StepOutput) -> StepResult {
    StepResult { loss: o.loss, correct: o.correct as u32 }
}

fn eval_result(o: StepOutput) -> EvalResult {
    let logits: Vec<f32> = o.logits.iter().map(|&v| v as f32).collect();
    EvalResult { loss: o.loss, correct: o.correct as u32, logits: Float32Array::new(logits) }
}

/// A seed from JS: a non-negative safe integer.
fn check_seed(seed: f64) -> std::result::Result<u64, CoreError> {
    if !(seed >= 0.0 && seed.fract() == 0.0 && seed <= 9_007_199_254_740_991.0) {
        return Err(invalid_arg(format!("seed must be a non-negative integer, got {seed}")));
    }
    Ok(seed as u64)
}

/// Freeze specs: a JSON array of strings.
fn parse_specs(json: &str) -> std::result::Result<Vec<String>, CoreError> {
    serde_json::from_str(json).map_err(|e| invalid_arg(format!("freeze specs must be a JSON array of strings: {e}")))
}

fn parse_metadata(json: Option<String>) -> std::result::Result<HashMap<String, String>, CoreError> {
    match json {
        None => Ok(HashMap::new()),
        Some(s) => serde_json::from_str(&s).map_err(|e| invalid_arg(format!("metadata must be a JSON object of strings: {e}"))),
    }
}

#[cfg(feature = "cuda")]
fn cuda_model(config: DenseNetConfig, dtype: &str, seed: u64, ordinal: usize) -> std::result::Result<Box<dyn densenet_core::Model>, CoreError> {
    densenet_cuda::new_model(config, dtype, seed, ordinal)
}

#[cfg(not(feature = "cuda"))]
fn cuda_model(_: DenseNetConfig, _: &str, _: u64, ordinal: usize) -> std::result::Result<Box<dyn densenet_core::Model>, CoreError> {
    Err(CoreError::Device(format!(
        "cuda:{ordinal} was asked for but this addon is the CPU build: install @densenet-sdk/linux-x64-gnu-cuda and set DENSENET_CUDA=1 (or pass cuda: true)"
    )))
}

/// What `cudaNcclSmoke` found (see `densenet_cuda::NcclSmoke`).
#[napi(object)]
pub struct NcclSmokeResult {
    /// The world size (1).
    pub ranks: u32,
    /// Σ of the reduced f32 buffer, and what it must be.
    pub sum: f64,
    pub expected: f64,
    /// The f32 and f64 device buffers and the host values were all reduced exactly.
    pub ok: bool,
    /// "NCCL 2.28.9 (libnccl.so.2)".
    pub library: String,
    /// "NVIDIA H200 (cuda:0, sm_90)".
    pub device: String,
}

#[cfg(feature = "cuda")]
fn nccl_smoke(ordinal: usize) -> std::result::Result<NcclSmokeResult, CoreError> {
    let s = densenet_cuda::nccl_smoke(ordinal)?;
    Ok(NcclSmokeResult { ranks: s.ranks as u32, sum: s.sum, expected: s.expected, ok: s.ok, library: s.library, device: s.device })
}

#[cfg(not(feature = "cuda"))]
fn nccl_smoke(ordinal: usize) -> std::result::Result<NcclSmokeResult, CoreError> {
    Err(CoreError::Device(format!(
        "NCCL on cuda:{ordinal} was asked for but this addon is the CPU build: install @densenet-sdk/linux-x64-gnu-cuda and set DENSENET_CUDA=1 (or pass cuda: true)"
    )))
}

/// The GPU check's NCCL smoke run: on `device` ('cuda' or 'cuda:N'), NCCL all-reduces known f32
/// and f64 device buffers (and host values) in place in a world of one process. ERR_DEVICE in the
/// CPU build, without a GPU, or without libnccl.so.2 (naming it); ERR_INVALID_ARG for 'cpu' or a bad name.
#[napi]
pub fn cuda_nccl_smoke(env: Env, device: String) -> Result<NcclSmokeResult> {
    let r = errors::guarded(|| match densenet_cuda::DeviceSpec::parse(&device)? {
        densenet_cuda::DeviceSpec::Cpu => Err(invalid_arg("NCCL needs a CUDA device ('cuda' or 'cuda:N'), got 'cpu'")),
        densenet_cuda::DeviceSpec::Cuda(ordinal) => nccl_smoke(ordinal),
    });
    sync(&env, r)
}

/// The compute devices this build of the addon can use: `["cpu"]`, plus `"cuda"` in the CUDA build.
#[napi]
pub fn native_devices() -> Vec<String> {
    let mut d = vec!["cpu".to_string()];
    if densenet_cuda::HAS_CUDA {
        d.push("cuda".into());
    }
    d
}

#[napi]
pub struct NativeModel {
    inner: Shared,
    dtype: String,
}

#[napi]
impl NativeModel {
    /// A model of the given config (JSON) and dtype ('f32' | 'f64'), weights initialized from `seed`,
    /// on `device` ('cpu' by default, 'cuda' or 'cuda:N' in the CUDA build; ERR_DEVICE otherwise).
    #[napi(constructor)]
    pub fn new(env: Env, config_json: String, dtype: String, seed: f64, device: Option<String>) -> Result<Self> {
        let model = errors::guarded(|| {
            let config = DenseNetConfig::from_json(&config_json)?;
            let seed = check_seed(seed)?;
            let model = match densenet_cuda::DeviceSpec::parse(device.as_deref().unwrap_or("cpu"))? {
                densenet_cuda::DeviceSpec::Cpu => densenet_cpu::new_model(config, &dtype, seed)?,
                densenet_cuda::DeviceSpec::Cuda(ordinal) => cuda_model(config, &dtype, seed, ordinal)?,
            };
            let threads = match THREADS.load(Ordering::Relaxed) {
                0 => default_threads(),
                n => n,
            };
            Session::new(model, threads)
        });
        let model = sync(&env, model)?;
        Ok(NativeModel { inner: Arc::new(Mutex::new(Some(model))), dtype })
    }

    #[napi(getter)]
    pub fn dtype(&self) -> String {
        self.dtype.clone()
    }

    #[napi]
    pub fn config_json(&self, env: Env) -> Result<String> {
        sync(&env, with(&self.inner, |s| Ok(s.model().config().to_json())))
    }

    #[napi]
    pub fn param_count(&self, env: Env) -> Result<f64> {
        sync(&env, with(&self.inner, |s| Ok(s.model().parameter_count() as f64)))
    }

    /// Per-stage table for an input of height × width (JSON).
    #[napi]
    pub fn summary_json(&self, env: Env, height: u32, width: u32) -> Result<String> {
        let r = with(&self.inner, |s| densenet_core::summary::summary(s.model().config(), height as usize, width as usize).map(|s| serde_json::to_string(&s).unwrap()));
        sync(&env, r)
    }

    /// Eval-mode logits [N, classes] of an NCHW float32 batch.
    #[napi(ts_return_type = "Promise<Float32Array>")]
    pub fn predict(&self, input: Float32Array, shape: Vec<u32>) -> AsyncTask<Job<Vec<f32>, Float32Array>> {
        let (model, input, shape) = (self.inner.clone(), input.to_vec(), to_shape(&shape));
        Job::new(move || with(&model, |s| s.run(|m| m.predict(&input, &shape))), Float32Array::new)
    }

    /// One SGD step in train mode.
    #[napi(ts_return_type = "Promise<StepResult>")]
    pub fn train_step(&self, input: Float32Array, shape: Vec<u32>, labels: Int32Array) -> AsyncTask<Job<StepOutput, StepResult>> {
        let (model, input, shape) = (self.inner.clone(), input.to_vec(), to_shape(&shape));
        let labels: Vec<i64> = labels.iter().map(|&l| l as i64).collect();
        Job::new(move || with(&model, |s| s.run(|m| m.train_step(&input, &shape, &labels))), step_result)
    }

    /// Eval-mode loss, correct count and logits.
    #[napi(ts_return_type = "Promise<EvalResult>")]
    pub fn eval_step(&self, input: Float32Array, shape: Vec<u32>, labels: Int32Array) -> AsyncTask<Job<StepOutput, EvalResult>> {
        let (model, input, shape) = (self.inner.clone(), input.to_vec(), to_shape(&shape));
        let labels: Vec<i64> = labels.iter().map(|&l| l as i64).collect();
        Job::new(move || with(&model, |s| s.run(|m| m.eval_step(&input, &shape, &labels))), eval_result)
    }

    /// Writes the weights (safetensors, torchvision names) with the config and the caller's
    /// metadata (a JSON object of strings, e.g. `{"densenet.preprocessing": "..."}`) in the header.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn save(&self, path: String, metadata_json: Option<String>) -> AsyncTask<Job<(), ()>> {
        let model = self.inner.clone();
        Job::new(
            move || {
                let meta = parse_metadata(metadata_json)?;
                let bytes = with(&model, |s| s.run(|m| m.weights_bytes(meta)))?;
                write_atomic(&PathBuf::from(&path), &bytes)
            },
            |_| (),
        )
    }

    #[napi(ts_return_type = "Promise<void>")]
    pub fn load(&self, path: String) -> AsyncTask<Job<(), ()>> {
        let model = self.inner.clone();
        Job::new(
            move || {
                with(&model, |_| Ok(()))?; // a disposed model says so before any file is read
                let bytes = read_file(&PathBuf::from(&path))?;
                with(&model, |s| s.run(|m| m.load_weights(&bytes, &path)))
            },
            |_| (),
        )
    }

    /// Loads safetensors weights from bytes (what `load` does after reading the file; the WASM
    /// binding's `loadWeightsBytes`): `source_name` names them in errors (a file name or URL). The
    /// SDK converts other formats (PyTorch `.pth`) to safetensors bytes and hands them over here.
    /// Runs on the thread pool; a disposed model fails with ERR_INVALID_ARG.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn load_weights_bytes(&self, bytes: Uint8Array, source_name: String) -> AsyncTask<Job<(), ()>> {
        let (model, bytes) = (self.inner.clone(), bytes.to_vec());
        Job::new(move || with(&model, |s| s.run(|m| m.load_weights(&bytes, &source_name))), |_| ())
    }

    #[napi(ts_return_type = "Promise<void>")]
    pub fn save_checkpoint(&self, path: String, extra_json: String) -> AsyncTask<Job<(), ()>> {
        let model = self.inner.clone();
        Job::new(
            move || {
                let bytes = with(&model, |s| s.run(|m| m.checkpoint_bytes(&extra_json)))?;
                write_atomic(&PathBuf::from(&path), &bytes)
            },
            |_| (),
        )
    }

    #[napi(ts_return_type = "Promise<string>")]
    pub fn load_checkpoint(&self, path: String) -> AsyncTask<Job<String, String>> {
        let model = self.inner.clone();
        Job::new(
            move || {
                with(&model, |_| Ok(()))?; // a disposed model says so before any file is read
                let bytes = read_file(&PathBuf::from(&path))?;
                with(&model, |s| s.run(|m| m.load_checkpoint(&bytes, &path)))
            },
            |s| s,
        )
    }

    /// {"lr":0.1,"momentum":0.9,"nesterov":true,"weightDecay":1e-4,"groups":[...]}; missing fields
    /// take the recipe's defaults; the groups (none when absent) replace the model's.
    #[napi]
    pub fn set_optimizer(&self, env: Env, opt_json: String) -> Result<()> {
        let r = OptimizerSettings::from_json(&opt_json).and_then(|cfg| with(&self.inner, |s| s.run(|m| m.set_optimizer_settings(cfg))));
        sync(&env, r)
    }

    /// Multiplies every group's lr (the top level's too) by `factor` from the next step on.
    #[napi]
    pub fn set_lr_factor(&self, env: Env, factor: f64) -> Result<()> {
        sync(&env, with(&self.inner, |s| s.run(|m| m.set_lr_factor(factor))))
    }

    /// Freezes the parameters a JSON array of specs names (name prefixes or stage aliases).
    #[napi]
    pub fn freeze(&self, env: Env, specs_json: String) -> Result<()> {
        let r = parse_specs(&specs_json).and_then(|specs| with(&self.inner, |s| s.run(|m| m.freeze(&specs))));
        sync(&env, r)
    }

    #[napi]
    pub fn unfreeze(&self, env: Env, specs_json: String) -> Result<()> {
        let r = parse_specs(&specs_json).and_then(|specs| with(&self.inner, |s| s.run(|m| m.unfreeze(&specs))));
        sync(&env, r)
    }

    /// 'eval' (default: frozen BNs use running statistics) | 'train'.
    #[napi]
    pub fn set_frozen_batch_norm(&self, env: Env, mode: String) -> Result<()> {
        let r = FrozenBatchNorm::parse(&mode).and_then(|mode| {
            with(&self.inner, |s| {
                s.run(|m| m.set_frozen_batch_norm(mode));
                Ok(())
            })
        });
        sync(&env, r)
    }

    #[napi]
    pub fn frozen_batch_norm(&self, env: Env) -> Result<String> {
        sync(&env, with(&self.inner, |s| Ok(s.model().frozen_batch_norm().as_str().to_string())))
    }

    /// JSON [{name, shape, trainable, group}] of every parameter tensor (no running statistics).
    #[napi]
    pub fn parameters_json(&self, env: Env) -> Result<String> {
        sync(&env, with(&self.inner, |s| Ok(serde_json::to_string(&s.model().parameters()).unwrap())))
    }

    #[napi]
    pub fn trainable_param_count(&self, env: Env) -> Result<f64> {
        sync(&env, with(&self.inner, |s| Ok(s.model().trainable_parameter_count() as f64)))
    }

    /// A new classifier for `num_classes` classes (initialized from `seed`); features kept.
    #[napi]
    pub fn reset_classifier(&self, env: Env, num_classes: u32, seed: f64) -> Result<()> {
        let r = check_seed(seed).and_then(|seed| with(&self.inner, |s| s.run(|m| m.reset_classifier(num_classes as usize, seed))));
        sync(&env, r)
    }

    #[napi]
    pub fn set_learning_rate(&self, env: Env, lr: f64) -> Result<()> {
        let r = with(&self.inner, |s| {
            s.run(|m| {
                let mut cfg = m.optimizer();
                cfg.lr = lr;
                m.set_optimizer(cfg)
            })
        });
        sync(&env, r)
    }

    #[napi]
    pub fn optimizer_json(&self, env: Env) -> Result<String> {
        sync(&env, with(&self.inner, |s| Ok(s.model().optimizer_settings().to_json())))
    }

    /// 'efficient' (default) | 'naive'.
    #[napi]
    pub fn set_memory_mode(&self, env: Env, mode: String) -> Result<()> {
        let r = match mode.as_str() {
            "efficient" => Ok(MemoryMode::Efficient),
            "naive" => Ok(MemoryMode::Naive),
            other => Err(invalid_arg(format!("memory mode must be 'efficient' or 'naive', got '{other}'"))),
        }
        .and_then(|mode| {
            with(&self.inner, |s| {
                s.run(|m| m.set_memory_mode(mode));
                Ok(())
            })
        });
        sync(&env, r)
    }

    #[napi]
    pub fn set_threads(&self, env: Env, threads: u32) -> Result<()> {
        let r = with(&self.inner, |s| s.set_threads(threads as usize));
        sync(&env, r)
    }

    /// Completed optimizer steps.
    #[napi(getter)]
    pub fn step(&self, env: Env) -> Result<f64> {
        sync(&env, with(&self.inner, |s| Ok(s.model().step() as f64)))
    }

    /// Peak memory (bytes) of this model and one pass on an NCHW `shape`, as JSON
    /// `{parameters, gradients, optimizer, inference, trainingEfficient, trainingNaive}`.
    #[napi]
    pub fn memory_estimate(&self, env: Env, shape: Vec<u32>) -> Result<String> {
        let r = with(&self.inner, |s| s.model().memory_estimate(&to_shape(&shape)).map(|e| serde_json::to_string(&e).unwrap()));
        sync(&env, r)
    }

    /// Refuses (ERR_MEMORY, before allocating) a pass whose estimated peak, model included,
    /// exceeds `bytes`; null: the memory available on the machine at each call (the default).
    #[napi]
    pub fn set_memory_budget(&self, env: Env, bytes: Option<f64>) -> Result<()> {
        let r = match bytes {
            Some(b) if !(b.is_finite() && b > 0.0) => Err(invalid_arg(format!("memory budget must be a positive number of bytes or null, got {b}"))),
            other => with(&self.inner, |s| {
                s.set_budget(other.map(|b| b as u64));
                Ok(())
            }),
        };
        sync(&env, r)
    }

    /// The user's memory budget in bytes, or null (the machine's available memory).
    #[napi]
    pub fn memory_budget(&self, env: Env) -> Result<Option<f64>> {
        sync(&env, with(&self.inner, |s| Ok(s.budget().map(|b| b as f64))))
    }

    /// Frees the model's native memory now; every later call fails with `ERR_INVALID_ARG`
    /// ("the model was disposed"), including calls queued but not yet started.
    #[napi]
    pub fn dispose(&self) {
        let mut guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        *guard = None;
    }
}

/// The normalized JSON config of a preset; throws for unknown names, listing the known ones.
#[napi]
pub fn preset_config(env: Env, name: String) -> Result<String> {
    sync(&env, DenseNetConfig::preset(&name).map(|c| c.to_json()))
}

#[napi]
pub fn preset_names() -> Vec<String> {
    PRESET_NAMES.iter().map(|s| s.to_string()).collect()
}

/// Validates a JSON config and fills its defaults; throws naming the field.
#[napi]
pub fn normalize_config(env: Env, json: String) -> Result<String> {
    sync(&env, DenseNetConfig::from_json(&json).map(|c| c.to_json()))
}

/// Config of a CIFAR-style DenseNet of the given depth (basic 3n+4, BC 6n+4).
#[napi]
pub fn cifar_config(env: Env, depth: u32, growth_rate: u32, bc: bool, num_classes: u32) -> Result<String> {
    sync(&env, DenseNetConfig::cifar(depth as usize, growth_rate as usize, bc, num_classes as usize).map(|c| c.to_json()))
}

/// Validates optimizer JSON (missing fields take the recipe's defaults) and returns it normalized.
#[napi]
pub fn normalize_optimizer(env: Env, json: String) -> Result<String> {
    sync(&env, OptimizerSettings::from_json(&json).map(|c| c.to_json()))
}

/// Peak memory (bytes) of a config on an NCHW `shape` in `dtype` ('f32' | 'f64'), as JSON
/// `{parameters, gradients, optimizer, inference, trainingEfficient, trainingNaive}`.
#[napi]
pub fn memory_estimate(env: Env, config_json: String, shape: Vec<u32>, dtype: String) -> Result<String> {
    let r = errors::guarded(|| {
        let config = DenseNetConfig::from_json(&config_json)?;
        let size = match dtype.as_str() {
            "f32" => 4,
            "f64" => 8,
            other => return Err(invalid_arg(format!("dtype must be 'f32' or 'f64', got '{other}'"))),
        };
        densenet_cpu::memory_estimate(&config, &to_shape(&shape), size).map(|e| serde_json::to_string(&e).unwrap())
    });
    sync(&env, r)
}

/// Threads for models created afterwards (0 = all cores); more than a model can start is refused now.
#[napi]
pub fn set_num_threads(env: Env, n: u32) -> Result<()> {
    let r = if n as usize > session::MAX_THREADS {
        Err(invalid_arg(format!("threads must be in 1..={} (0 = all cores), got {n}", session::MAX_THREADS)))
    } else {
        THREADS.store(n as usize, Ordering::Relaxed);
        Ok(())
    };
    sync(&env, r)
}

/// Learning rate of a schedule (JSON, e.g. {"type":"multiStep","lr":0.1,"milestones":[150,225],"gamma":0.1}) at an epoch.
#[napi]
pub fn schedule_lr(env: Env, schedule_json: String, epoch: f64) -> Result<f64> {
    sync(&env, densenet_core::LrSchedule::from_json(&schedule_json).map(|s| s.lr_at(epoch)))
}

/// The reference schedule of `epochs` epochs (lr ÷ 10 at 50% and 75%) as JSON.
#[napi]
pub fn reference_schedule(lr: f64, epochs: u32) -> String {
    serde_json::to_string(&densenet_core::LrSchedule::reference(lr, epochs as usize)).unwrap()
}
