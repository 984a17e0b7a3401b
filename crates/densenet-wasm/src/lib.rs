//! WebAssembly binding of densenet-core (wasm-bindgen) on the CPU backend, for Node (the fallback
//! where no native addon loads) and browsers. It mirrors the napi binding (crates/densenet-node)
//! minus the file system: weights and checkpoints go in and out as bytes, and the JS shim of the
//! npm package (npm/wasm32/index.cjs) adds `save`/`load`/`saveCheckpoint`/`loadCheckpoint` by
//! path with `node:fs`, and the Promises of the async methods.
//!
//! Threads: in the threaded build (`+atomics`), rayon's global pool on JS workers (threads.rs);
//! in the single-threaded build rayon's global pool falls back to the calling thread
//! (rayon-core ≥ 1.12). The results are the same bits either way.
//!
//! Errors: every failure is a JS `Error` whose `code` property is the core's code (`ERR_SHAPE`,
//! ...) and whose message is the core's message, as in the napi binding.
//!
//! Panics: the module is built with `panic = "abort"` (wasm32-unknown-unknown has no unwinding
//! without the exception-handling proposal), so a panic cannot be caught here. The panic hook
//! stores the panic message; the wasm call then traps (`RuntimeError: unreachable`), and the JS
//! shim turns the trap into an `ERR_INTERNAL` error carrying that message and marks the module
//! instance unusable (a trap may leave a model half-updated), so later calls fail with
//! `ERR_INTERNAL` too instead of computing on broken state.

use densenet_core::{DenseNetConfig, Error as CoreError, FrozenBatchNorm, MemoryMode, Model, OptimizerSettings, SgdConfig, StepOutput, PRESET_NAMES};
use std::collections::HashMap;
use std::sync::Mutex;
use wasm_bindgen::prelude::*;

mod on_pool;
mod threads;

/// wasm32 linear memory is at most 4 GiB: with no user budget, a pass that would need more is
/// refused with ERR_MEMORY before it allocates, instead of trapping on a failed allocation.
const WASM32_MEMORY: u64 = 4 << 30;

static PANIC_MESSAGE: Mutex<Option<String>> = Mutex::new(None);

#[wasm_bindgen(start)]
fn start() {
    std::panic::set_hook(Box::new(|info| {
        let payload = info.payload();
        let msg = payload.downcast_ref::<String>().cloned().or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string())).unwrap_or_default();
        let at = info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
        if let Ok(mut slot) = PANIC_MESSAGE.lock() {
            *slot = Some(format!("wasm panic: {msg}{at}"));
        }
    }));
}

/// The message of the panic that aborted the last call (for the shim's ERR_INTERNAL), once.
#[wasm_bindgen(js_name = takePanicMessage)]
pub fn take_panic_message() -> Option<String> {
    PANIC_MESSAGE.lock().ok().and_then(|mut s| s.take())
}

/// A JS `Error` with `code` set to the core's code and the core's message.
fn js_error(e: &CoreError) -> JsValue {
    let err = js_sys::Error::new(e.message());
    let _ = js_sys::Reflect::set(&err, &JsValue::from_str("code"), &JsValue::from_str(e.code()));
    err.into()
}

type JsResult<T> = std::result::Result<T, JsValue>;

fn sync<R>(r: Result<R, CoreError>) -> JsResult<R> {
    r.map_err(|e| js_error(&e))
}

fn invalid_arg(msg: impl Into<String>) -> CoreError {
    CoreError::InvalidArg(msg.into())
}

/// A seed from JS: a non-negative safe integer.
fn check_seed(seed: f64) -> Result<u64, CoreError> {
    if !(seed >= 0.0 && seed.fract() == 0.0 && seed <= 9_007_199_254_740_991.0) {
        return Err(invalid_arg(format!("seed must be a non-negative integer, got {seed}")));
    }
    Ok(seed as u64)
}

/// Freeze specs: a JSON array of strings.
fn parse_specs(json: &str) -> Result<Vec<String>, CoreError> {
    serde_json::from_str(json).map_err(|e| invalid_arg(format!("freeze specs must be a JSON array of strings: {e}")))
}

fn to_shape(shape: &[u32]) -> Vec<usize> {
    shape.iter().map(|&v| v as usize).collect()
}

fn parse_metadata(json: Option<String>) -> Result<HashMap<String, String>, CoreError> {
    match json {
        None => Ok(HashMap::new()),
        Some(s) => serde_json::from_str(&s).map_err(|e| invalid_arg(format!("metadata must be a JSON object of strings: {e}"))),
    }
}

/// `{loss, correct}` of a training step.
fn step_result(o: &StepOutput) -> JsValue {
    let obj = js_sys::Object::new();
    let _ = js_sys::Reflect::set(&obj, &"loss".into(), &JsValue::from_f64(o.loss));
    let _ = js_sys::Reflect::set(&obj, &"correct".into(), &JsValue::from_f64(o.correct as f64));
    obj.into()
}

/// `{loss, correct, logits: Float32Array}` of an eval step.
fn eval_result(o: &StepOutput) -> JsValue {
    let obj = step_result(o);
    let logits: Vec<f32> = o.logits.iter().map(|&v| v as f32).collect();
    let _ = js_sys::Reflect::set(&obj, &"logits".into(), &js_sys::Float32Array::from(&logits[..]));
    obj
}

type NetF64 = densenet_core::DenseNet<f64, densenet_cpu::Cpu<f64>>;

/// A model of either dtype; float64 ones are kept typed for the float64 test hooks
/// ([`WasmModel::train_step_f64`], [`WasmModel::grads_f64`]).
enum Inner {
    Any(Box<dyn Model>),
    F64(Box<NetF64>),
}

impl Inner {
    fn get(&self) -> &dyn Model {
        match self {
            Inner::Any(m) => m.as_ref(),
            Inner::F64(m) => m.as_ref(),
        }
    }

    fn get_mut(&mut self) -> &mut dyn Model {
        match self {
            Inner::Any(m) => m.as_mut(),
            Inner::F64(m) => m.as_mut(),
        }
    }
}

/// The model as the wasm module exports it (synchronous; the shim wraps it as `NativeModel`).
#[wasm_bindgen]
pub struct WasmModel {
    inner: Option<Inner>,
    dtype: String,
    budget: Option<u64>,
}

impl WasmModel {
    fn model(&self) -> Result<&dyn Model, CoreError> {
        self.inner.as_ref().map(Inner::get).ok_or_else(|| invalid_arg("the model was disposed"))
    }

    /// The model with the memory budget in force: the user's, or else wasm32's 4 GiB.
    fn model_mut(&mut self) -> Result<&mut dyn Model, CoreError> {
        let budget = self.budget.unwrap_or(WASM32_MEMORY);
        let m = self.inner.as_mut().map(Inner::get_mut).ok_or_else(|| invalid_arg("the model was disposed"))?;
        m.set_memory_budget(Some(budget));
        Ok(m)
    }

    /// The float64 model (budget in force, as [`Self::model_mut`]), for the float64 test hooks.
    fn model_f64(&mut self) -> Result<&mut NetF64, CoreError> {
        self.model_mut()?;
        match self.inner.as_mut() {
            Some(Inner::F64(m)) => Ok(m.as_mut()),
            _ => Err(invalid_arg(format!("the float64 test hooks need an 'f64' model, this one is '{}'", self.dtype))),
        }
    }
}

#[wasm_bindgen]
impl WasmModel {
    /// A model of the given config (JSON) and dtype ('f32' | 'f64'), weights initialized from `seed`.
    #[wasm_bindgen(constructor)]
    pub fn new(config_json: &str, dtype: &str, seed: f64) -> JsResult<WasmModel> {
        let model = sync((|| {
            let config = DenseNetConfig::from_json(config_json)?;
            let seed = check_seed(seed)?;
            // The same model densenet_cpu::new_model builds, kept typed in float64.
            Ok(match dtype {
                "f64" => Inner::F64(Box::new(densenet_core::DenseNet::new(densenet_cpu::Cpu::<f64>::new(), config, seed)?)),
                _ => Inner::Any(densenet_cpu::new_model(config, dtype, seed)?),
            })
        })())?;
        Ok(WasmModel { inner: Some(model), dtype: dtype.to_string(), budget: None })
    }

    #[wasm_bindgen(getter)]
    pub fn dtype(&self) -> String {
        self.dtype.clone()
    }

    #[wasm_bindgen(js_name = configJson)]
    pub fn config_json(&self) -> JsResult<String> {
        sync(self.model().map(|m| m.config().to_json()))
    }

    #[wasm_bindgen(js_name = paramCount)]
    pub fn param_count(&self) -> JsResult<f64> {
        sync(self.model().map(|m| m.parameter_count() as f64))
    }

    /// Per-stage table for an input of height × width (JSON).
    #[wasm_bindgen(js_name = summaryJson)]
    pub fn summary_json(&self, height: u32, width: u32) -> JsResult<String> {
        sync(self.model().and_then(|m| densenet_core::summary::summary(m.config(), height as usize, width as usize).map(|s| serde_json::to_string(&s).unwrap())))
    }

    /// Eval-mode logits [N, classes] of an NCHW float32 batch.
    pub fn predict(&mut self, input: &[f32], shape: &[u32]) -> JsResult<Vec<f32>> {
        let shape = to_shape(shape);
        sync(self.model_mut().and_then(|m| on_pool::on_pool(|| m.predict(input, &shape))))
    }

    /// One SGD step in train mode: `{loss, correct}`.
    #[wasm_bindgen(js_name = trainStep)]
    pub fn train_step(&mut self, input: &[f32], shape: &[u32], labels: &[i32]) -> JsResult<JsValue> {
        let shape = to_shape(shape);
        let labels: Vec<i64> = labels.iter().map(|&l| l as i64).collect();
        sync(self.model_mut().and_then(|m| on_pool::on_pool(|| m.train_step(input, &shape, &labels))).map(|o| step_result(&o)))
    }

    /// Eval-mode `{loss, correct, logits}`.
    #[wasm_bindgen(js_name = evalStep)]
    pub fn eval_step(&mut self, input: &[f32], shape: &[u32], labels: &[i32]) -> JsResult<JsValue> {
        let shape = to_shape(shape);
        let labels: Vec<i64> = labels.iter().map(|&l| l as i64).collect();
        sync(self.model_mut().and_then(|m| on_pool::on_pool(|| m.eval_step(input, &shape, &labels))).map(|o| eval_result(&o)))
    }

    /// The weights as safetensors bytes (torchvision names), with the config and the caller's
    /// metadata (a JSON object of strings) in the header — what the napi binding's `save` writes.
    #[wasm_bindgen(js_name = weightsBytes)]
    pub fn weights_bytes(&self, metadata_json: Option<String>) -> JsResult<Vec<u8>> {
        sync(parse_metadata(metadata_json).and_then(|meta| self.model()?.weights_bytes(meta)))
    }

    /// Loads safetensors weights; `source_name` names them in errors (a file name or URL).
    #[wasm_bindgen(js_name = loadWeightsBytes)]
    pub fn load_weights_bytes(&mut self, bytes: &[u8], source_name: &str) -> JsResult<()> {
        sync(self.model_mut().and_then(|m| m.load_weights(bytes, source_name)))
    }

    /// Weights + BN statistics + optimizer state + the caller's JSON, as safetensors bytes.
    #[wasm_bindgen(js_name = checkpointBytes)]
    pub fn checkpoint_bytes(&self, extra_json: &str) -> JsResult<Vec<u8>> {
        sync(self.model().and_then(|m| m.checkpoint_bytes(extra_json)))
    }

    /// Restores a checkpoint; returns the caller JSON stored with it.
    #[wasm_bindgen(js_name = loadCheckpointBytes)]
    pub fn load_checkpoint_bytes(&mut self, bytes: &[u8], source_name: &str) -> JsResult<String> {
        sync(self.model_mut().and_then(|m| m.load_checkpoint(bytes, source_name)))
    }

    /// {"lr":0.1,"momentum":0.9,"nesterov":true,"weightDecay":1e-4,"groups":[...]}; missing fields
    /// take the recipe's defaults; the groups (none when absent) replace the model's.
    #[wasm_bindgen(js_name = setOptimizer)]
    pub fn set_optimizer(&mut self, opt_json: &str) -> JsResult<()> {
        sync(OptimizerSettings::from_json(opt_json).and_then(|cfg| self.model_mut()?.set_optimizer_settings(cfg)))
    }

    /// Multiplies every group's lr (the top level's too) by `factor` from the next step on.
    #[wasm_bindgen(js_name = setLrFactor)]
    pub fn set_lr_factor(&mut self, factor: f64) -> JsResult<()> {
        sync(self.model_mut().and_then(|m| m.set_lr_factor(factor)))
    }

    /// Freezes the parameters a JSON array of specs names (name prefixes or stage aliases).
    pub fn freeze(&mut self, specs_json: &str) -> JsResult<()> {
        sync(parse_specs(specs_json).and_then(|specs| self.model_mut()?.freeze(&specs)))
    }

    pub fn unfreeze(&mut self, specs_json: &str) -> JsResult<()> {
        sync(parse_specs(specs_json).and_then(|specs| self.model_mut()?.unfreeze(&specs)))
    }

    /// 'eval' (default: frozen BNs use running statistics) | 'train'.
    #[wasm_bindgen(js_name = setFrozenBatchNorm)]
    pub fn set_frozen_batch_norm(&mut self, mode: &str) -> JsResult<()> {
        sync(FrozenBatchNorm::parse(mode).and_then(|mode| self.model_mut().map(|m| m.set_frozen_batch_norm(mode))))
    }

    #[wasm_bindgen(js_name = frozenBatchNorm)]
    pub fn frozen_batch_norm(&self) -> JsResult<String> {
        sync(self.model().map(|m| m.frozen_batch_norm().as_str().to_string()))
    }

    /// JSON [{name, shape, trainable, group}] of every parameter tensor (no running statistics).
    #[wasm_bindgen(js_name = parametersJson)]
    pub fn parameters_json(&self) -> JsResult<String> {
        sync(self.model().map(|m| serde_json::to_string(&m.parameters()).unwrap()))
    }

    #[wasm_bindgen(js_name = trainableParamCount)]
    pub fn trainable_param_count(&self) -> JsResult<f64> {
        sync(self.model().map(|m| m.trainable_parameter_count() as f64))
    }

    /// A new classifier for `num_classes` classes (initialized from `seed`); features kept.
    #[wasm_bindgen(js_name = resetClassifier)]
    pub fn reset_classifier(&mut self, num_classes: u32, seed: f64) -> JsResult<()> {
        sync(check_seed(seed).and_then(|seed| self.model_mut()?.reset_classifier(num_classes as usize, seed)))
    }

    #[wasm_bindgen(js_name = setLearningRate)]
    pub fn set_learning_rate(&mut self, lr: f64) -> JsResult<()> {
        sync(self.model_mut().and_then(|m| {
            let mut cfg = m.optimizer();
            cfg.lr = lr;
            m.set_optimizer(cfg)
        }))
    }

    #[wasm_bindgen(js_name = optimizerJson)]
    pub fn optimizer_json(&self) -> JsResult<String> {
        sync(self.model().map(|m| m.optimizer_settings().to_json()))
    }

    /// 'efficient' (default) | 'naive'.
    #[wasm_bindgen(js_name = setMemoryMode)]
    pub fn set_memory_mode(&mut self, mode: &str) -> JsResult<()> {
        let mode = match mode {
            "efficient" => MemoryMode::Efficient,
            "naive" => MemoryMode::Naive,
            other => return sync(Err(invalid_arg(format!("memory mode must be 'efficient' or 'naive', got '{other}'")))),
        };
        sync(self.model_mut().map(|m| m.set_memory_mode(mode)))
    }

    /// Validated like the napi binding; the compute keeps the pool's size, fixed when the module
    /// starts (`DENSENET_WASM_THREADS` in Node, `init(source, { threads })` in a browser; threads.rs).
    #[wasm_bindgen(js_name = setThreads)]
    pub fn set_threads(&mut self, threads: u32) -> JsResult<()> {
        sync(self.model().map(|_| ()))?;
        if threads == 0 || threads > 1024 {
            return sync(Err(invalid_arg(format!("threads must be in 1..=1024, got {threads}"))));
        }
        Ok(())
    }

    /// Completed optimizer steps.
    #[wasm_bindgen(getter)]
    pub fn step(&self) -> JsResult<f64> {
        sync(self.model().map(|m| m.step() as f64))
    }

    /// Peak memory (bytes) of this model and one pass on an NCHW `shape`, as JSON.
    #[wasm_bindgen(js_name = memoryEstimate)]
    pub fn memory_estimate(&self, shape: &[u32]) -> JsResult<String> {
        sync(self.model().and_then(|m| m.memory_estimate(&to_shape(shape)).map(|e| serde_json::to_string(&e).unwrap())))
    }

    /// Refuses (ERR_MEMORY, before allocating) a pass whose estimated peak exceeds `bytes`;
    /// null: wasm32's 4 GiB address space.
    #[wasm_bindgen(js_name = setMemoryBudget)]
    pub fn set_memory_budget(&mut self, bytes: Option<f64>) -> JsResult<()> {
        sync(self.model().map(|_| ()))?;
        match bytes {
            Some(b) if !(b.is_finite() && b > 0.0) => sync(Err(invalid_arg(format!("memory budget must be a positive number of bytes or null, got {b}")))),
            other => {
                self.budget = other.map(|b| b as u64);
                Ok(())
            }
        }
    }

    /// The user's memory budget in bytes, or null.
    #[wasm_bindgen(js_name = memoryBudget)]
    pub fn memory_budget(&self) -> JsResult<Option<f64>> {
        self.model().map_err(|e| js_error(&e))?;
        Ok(self.budget.map(|b| b as f64))
    }

    /// Test hook for the float64 parity tests (an 'f64' model only): one training step, exactly
    /// as `trainStep`, on a float64 input that is not rounded to float32 (the PyTorch fixtures'
    /// inputs are not float32 values). Returns the loss followed by the train-mode logits [N, classes].
    #[wasm_bindgen(js_name = trainStepF64)]
    pub fn train_step_f64(&mut self, input: &[f64], shape: &[u32], labels: &[i32]) -> JsResult<Vec<f64>> {
        let shape = to_shape(shape);
        let labels: Vec<i64> = labels.iter().map(|&l| l as i64).collect();
        sync(self.model_f64().and_then(|m| m.train_step(input, &shape, &labels)).map(|o| std::iter::once(o.loss).chain(o.logits).collect()))
    }

    /// Test hook (an 'f64' model only): the gradient buffers after the last step, flat, one
    /// entry per `planSpecs` tensor in its order (only the trainable parameters' are gradients).
    #[wasm_bindgen(js_name = gradsF64)]
    pub fn grads_f64(&mut self) -> JsResult<Vec<f64>> {
        sync(self.model_f64().map(|m| m.grads_host().into_iter().flatten().collect()))
    }

    /// Frees the model's memory now; later calls fail with ERR_INVALID_ARG "the model was disposed".
    pub fn dispose(&mut self) {
        self.inner = None;
    }
}

/// The normalized JSON config of a preset; throws for unknown names, listing the known ones.
#[wasm_bindgen(js_name = presetConfig)]
pub fn preset_config(name: &str) -> JsResult<String> {
    sync(DenseNetConfig::preset(name).map(|c| c.to_json()))
}

#[wasm_bindgen(js_name = presetNames)]
pub fn preset_names() -> Vec<String> {
    PRESET_NAMES.iter().map(|s| s.to_string()).collect()
}

/// Validates a JSON config and fills its defaults; throws naming the field.
#[wasm_bindgen(js_name = normalizeConfig)]
pub fn normalize_config(json: &str) -> JsResult<String> {
    sync(DenseNetConfig::from_json(json).map(|c| c.to_json()))
}

/// Config of a CIFAR-style DenseNet of the given depth (basic 3n+4, BC 6n+4).
#[wasm_bindgen(js_name = cifarConfig)]
pub fn cifar_config(depth: u32, growth_rate: u32, bc: bool, num_classes: u32) -> JsResult<String> {
    sync(DenseNetConfig::cifar(depth as usize, growth_rate as usize, bc, num_classes as usize).map(|c| c.to_json()))
}

/// Validates optimizer JSON (missing fields take the recipe's defaults) and returns it normalized.
#[wasm_bindgen(js_name = normalizeOptimizer)]
pub fn normalize_optimizer(json: &str) -> JsResult<String> {
    sync(OptimizerSettings::from_json(json).map(|c| c.to_json()))
}

/// Peak memory (bytes) of a config on an NCHW `shape` in `dtype`, as JSON.
#[wasm_bindgen(js_name = memoryEstimate)]
pub fn memory_estimate(config_json: &str, shape: &[u32], dtype: &str) -> JsResult<String> {
    sync((|| {
        let config = DenseNetConfig::from_json(config_json)?;
        let size = match dtype {
            "f32" => 4,
            "f64" => 8,
            other => return Err(invalid_arg(format!("dtype must be 'f32' or 'f64', got '{other}'"))),
        };
        densenet_cpu::memory_estimate(&config, &to_shape(shape), size).map(|e| serde_json::to_string(&e).unwrap())
    })())
}

/// Checks the value as the native binding does (0 = all cores); the WASM pool's size is fixed
/// when the module starts (threads.rs), so the compute keeps it.
#[wasm_bindgen(js_name = setNumThreads)]
pub fn set_num_threads(n: u32) -> JsResult<()> {
    if n > 1024 {
        return sync(Err(invalid_arg(format!("threads must be in 1..=1024 (0 = all cores), got {n}"))));
    }
    Ok(())
}

/// Learning rate of a schedule (JSON) at an epoch.
#[wasm_bindgen(js_name = scheduleLr)]
pub fn schedule_lr(schedule_json: &str, epoch: f64) -> JsResult<f64> {
    sync(densenet_core::LrSchedule::from_json(schedule_json).map(|s| s.lr_at(epoch)))
}

/// The reference schedule of `epochs` epochs (lr ÷ 10 at 50% and 75%) as JSON.
#[wasm_bindgen(js_name = referenceSchedule)]
pub fn reference_schedule(lr: f64, epochs: u32) -> String {
    serde_json::to_string(&densenet_core::LrSchedule::reference(lr, epochs as usize)).unwrap()
}

/// The number of threads the compute runs on (rayon's pool as seen from a call): the pool's size
/// in the threaded build, 1 in the single-threaded one.
#[wasm_bindgen(js_name = currentNumThreads)]
pub fn current_num_threads() -> u32 {
    rayon::current_num_threads() as u32
}

/// For the parity tests: eval-mode logits of a float64 model holding `weights` (safetensors)
/// on a float64 input, not rounded to float32 (the model interface takes float32 input, and the
/// PyTorch float64 fixtures' inputs are not float32 values).
#[wasm_bindgen(js_name = predictF64)]
pub fn predict_f64(config_json: &str, weights: &[u8], input: &[f64], shape: &[u32]) -> JsResult<Vec<f64>> {
    sync((|| {
        let config = DenseNetConfig::from_json(config_json)?;
        let mut model = densenet_core::DenseNet::new(densenet_cpu::Cpu::<f64>::new(), config, 0)?;
        model.set_memory_budget(Some(WASM32_MEMORY));
        model.load_weights(weights, "<weights>")?;
        model.predict(input, &to_shape(shape))
    })())
}

/// The plan of a config as JSON: `[{"name", "numel", "trainable"}]` in the order of
/// [`train_trace_f64`]'s tensors (the parameter order the optimizer sees).
#[wasm_bindgen(js_name = planSpecs)]
pub fn plan_specs(config_json: &str) -> JsResult<String> {
    sync((|| {
        let config = DenseNetConfig::from_json(config_json)?;
        let plan = densenet_core::plan::Plan::new(&config);
        let specs: Vec<serde_json::Value> = plan.specs.iter().map(|s| serde_json::json!({ "name": s.name, "numel": s.numel(), "trainable": s.kind.trainable() })).collect();
        Ok(serde_json::Value::Array(specs).to_string())
    })())
}

/// Float64 training in WASM for the PyTorch training fixtures: `steps` SGD steps on batches of
/// `shape` (inputs and labels of every step concatenated), in `memory_mode`. Returns, flat:
/// the logits and loss of step 1, the loss of every step, the gradients of step 1, the tensors
/// after step 1 and after the last step (both in [`plan_specs`] order, running statistics included).
#[wasm_bindgen(js_name = trainTraceF64)]
pub fn train_trace_f64(
    config_json: &str,
    weights: &[u8],
    inputs: &[f64],
    shape: &[u32],
    labels: &[i32],
    steps: u32,
    optimizer_json: &str,
    memory_mode: &str,
) -> JsResult<Vec<f64>> {
    sync((|| {
        let config = DenseNetConfig::from_json(config_json)?;
        let mut model = densenet_core::DenseNet::new(densenet_cpu::Cpu::<f64>::new(), config, 0)?;
        model.set_memory_budget(Some(WASM32_MEMORY));
        model.load_weights(weights, "<weights>")?;
        model.set_optimizer(SgdConfig::from_json(optimizer_json)?)?;
        model.set_memory_mode(match memory_mode {
            "efficient" => MemoryMode::Efficient,
            "naive" => MemoryMode::Naive,
            other => return Err(invalid_arg(format!("memory mode must be 'efficient' or 'naive', got '{other}'"))),
        });
        let shape = to_shape(shape);
        let (per_input, n) = (shape.iter().product::<usize>(), shape[0]);
        let steps = steps as usize;
        if steps == 0 || inputs.len() != per_input * steps || labels.len() != n * steps {
            return Err(invalid_arg(format!("expected {steps} batches of {per_input} inputs and {n} labels")));
        }
        let flat = |t: Vec<Vec<f64>>| t.into_iter().flatten();
        let (mut head, mut losses, mut tail) = (Vec::new(), Vec::new(), Vec::new());
        for s in 0..steps {
            let y: Vec<i64> = labels[s * n..(s + 1) * n].iter().map(|&l| l as i64).collect();
            let out = model.train_step(&inputs[s * per_input..(s + 1) * per_input], &shape, &y)?;
            losses.push(out.loss);
            if s == 0 {
                head.extend(out.logits.iter().copied());
                head.push(out.loss);
                tail.extend(flat(model.grads_host()));
                tail.extend(flat(model.params_host()));
            }
        }
        tail.extend(flat(model.params_host()));
        head.extend(losses);
        head.extend(tail);
        Ok(head)
    })())
}

/// For the tests of the panic path: panics (the module aborts; the shim reports ERR_INTERNAL).
#[wasm_bindgen(js_name = __panicForTests)]
pub fn panic_for_tests(message: &str) {
    panic!("{message}");
}

/// Whether the GEMM kernels run with SIMD128 (gemm's `wasm-simd128-enable`; scalar otherwise).
#[wasm_bindgen(js_name = gemmSimd128)]
pub fn gemm_simd128() -> bool {
    gemm::get_wasm_simd128()
}
