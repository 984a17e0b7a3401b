//! A DenseNet on a backend: parameters, gradients and optimizer state in device buffers;
//! inference, the training step, and weights and checkpoints as bytes (no file I/O here).

use crate::backend::{splitmix64, Backend, SgdUpdate, WeightKey};
use crate::collective::DataParallel;
use crate::config::DenseNetConfig;
use crate::distributed;
use crate::error::{Error, Result};
use crate::float::Float;
use crate::freeze::{StageOrder, Trainability, NOTHING_TRAINS};
use crate::geometry::Geometry;
use crate::layers::context::{Ctx, MemoryMode, PendingUpdate, Scratch, Slot};
use crate::memory::{self, MemoryEstimate};
use crate::optim::SgdConfig;
use crate::param_groups::OptimizerSettings;
use crate::params::Params;
use crate::passes;
use crate::plan::Plan;
use std::collections::HashMap;
use std::marker::PhantomData;

mod checkpoint_finetune;
pub(crate) mod finetune;

/// Result of one training or evaluation step.
#[derive(Debug, Clone)]
pub struct StepOutput {
    pub loss: f64,
    pub correct: usize,
    /// Logits [N, classes] (row-major).
    pub logits: Vec<f64>,
}

/// Gradients computed but not applied yet (see [`DenseNet::compute_gradients`]).
pub struct PendingStep<Buf> {
    updates: Vec<PendingUpdate<Buf>>,
    pub output: StepOutput,
}

pub struct DenseNet<T: Float, B: Backend<T>> {
    backend: B,
    config: DenseNetConfig,
    plan: Plan,
    params: Vec<B::Buf>,
    /// Allocated by the first training step: an inference-only model holds no gradients.
    grads: Option<Vec<B::Buf>>,
    /// One momentum buffer per tensor, created on its first step (as PyTorch).
    momentum: Vec<Option<B::Buf>>,
    /// The top-level SGD settings and the parameter groups.
    optimizer: OptimizerSettings,
    /// The group of each tensor (plan order; None: the top level).
    group_of: Vec<Option<usize>>,
    /// What a schedule multiplies every group's lr by (1 until set).
    lr_factor: f64,
    /// Which parameters train and how frozen BNs normalize (see `freeze.rs`).
    trainability: Trainability,
    mode: MemoryMode,
    step: u64,
    seed: u64,
    mask_overrides: Option<HashMap<String, B::Buf>>,
    /// Changes whenever `params` do (see [`WeightKey`]): a backend may keep weights it has
    /// seen at this version between inference calls.
    params_version: u64,
    /// Bytes a pass may need at its peak (model included); None: no limit.
    memory_budget: Option<u64>,
    _elem: PhantomData<T>,
}

impl<T: Float, B: Backend<T>> DenseNet<T, B> {
    /// A model with weights initialized from `seed` (the reference code's init).
    pub fn new(backend: B, config: DenseNetConfig, seed: u64) -> Result<Self> {
        config.validate()?;
        let plan = Plan::new(&config);
        let init = Params::<T>::init(&plan, seed);
        let params = init.tensors.iter().map(|t| backend.upload(t)).collect::<Result<Vec<_>>>()?;
        let momentum = (0..plan.specs.len()).map(|_| None).collect();
        let trainability = Trainability::all(&plan);
        let group_of = vec![None; plan.specs.len()];
        Ok(DenseNet {
            backend,
            config,
            plan,
            params,
            grads: None,
            momentum,
            optimizer: OptimizerSettings::default(),
            group_of,
            lr_factor: 1.0,
            trainability,
            mode: MemoryMode::Efficient,
            step: 0,
            seed,
            mask_overrides: None,
            params_version: WeightKey::next_version(),
            memory_budget: None,
            _elem: PhantomData,
        })
    }

    pub fn config(&self) -> &DenseNetConfig {
        &self.config
    }
    pub fn plan(&self) -> &Plan {
        &self.plan
    }
    pub fn backend(&self) -> &B {
        &self.backend
    }
    pub fn parameter_count(&self) -> usize {
        self.plan.parameter_count()
    }
    pub fn memory_mode(&self) -> MemoryMode {
        self.mode
    }
    pub fn set_memory_mode(&mut self, mode: MemoryMode) {
        self.mode = mode;
    }
    /// Completed optimizer steps.
    pub fn step(&self) -> u64 {
        self.step
    }
    /// Base seed of the dropout masks (mixed with the step number).
    pub fn seed(&self) -> u64 {
        self.seed
    }
    /// The top-level SGD settings (see [`DenseNet::optimizer_settings`] for the groups).
    pub fn optimizer(&self) -> SgdConfig {
        self.optimizer.sgd
    }
    /// Refuses (with `ERR_MEMORY`, before allocating) any pass whose estimated peak, model
    /// included, exceeds `bytes`. None removes the limit.
    pub fn set_memory_budget(&mut self, bytes: Option<u64>) {
        self.memory_budget = bytes;
    }
    pub fn memory_budget(&self) -> Option<u64> {
        self.memory_budget
    }

    /// Whether the backend fuses BN-ReLU into the dense layers' convolutions at this geometry
    /// (asked for the first layer's first conv).
    fn fuses_bn_conv(&self, geo: &Geometry) -> bool {
        let Some(l) = self.plan.blocks.first().and_then(|b| b.layers.first()) else { return false };
        let (h, w) = geo.blocks[0];
        self.backend.fuses_bn_conv(&crate::geometry::ConvGeom::of(&l.conv1, geo.n, h, w))
    }

    /// What this model and one pass on `shape` need (see [`MemoryEstimate`]).
    pub fn memory_estimate(&self, shape: &[usize]) -> Result<MemoryEstimate> {
        let geo = Geometry::new(&self.config, shape)?;
        Ok(self.estimate(&geo))
    }

    fn estimate(&self, geo: &Geometry) -> MemoryEstimate {
        let workspace = self.backend.workspace_bytes(&memory::conv_geometries(&self.plan, geo));
        memory::estimate_for(&self.plan, geo, std::mem::size_of::<T>(), self.fuses_bn_conv(geo), workspace)
    }

    /// Bytes held now: parameters and running statistics, and gradients and momentum once trained.
    pub fn held_bytes(&self) -> u64 {
        let size = std::mem::size_of::<T>() as u64;
        let count = |bufs: &mut dyn Iterator<Item = &B::Buf>| bufs.map(|b| B::len(b) as u64).sum::<u64>();
        let n = count(&mut self.params.iter()) + self.grads.as_ref().map_or(0, |g| count(&mut g.iter())) + count(&mut self.momentum.iter().flatten());
        n * size
    }

    /// Bytes the backend keeps between steps for reuse (on the CPU: the buffers of the last
    /// step, about its working set; see `densenet_cpu::pool`).
    pub fn cached_bytes(&self) -> u64 {
        self.backend.cached_bytes()
    }

    /// Frees what the backend keeps between steps; the next step allocates afresh.
    pub fn release_cached(&self) {
        self.backend.trim();
    }

    fn check_budget(&self, geo: &Geometry, train: bool) -> Result<()> {
        let Some(budget) = self.memory_budget else { return Ok(()) };
        let est = self.estimate(geo);
        let (what, needed) = if train {
            (format!("a training step on a batch of {} ({:?} mode)", geo.n, self.mode), est.training_total(self.mode))
        } else {
            (format!("predict on a batch of {}", geo.n), est.inference_total())
        };
        if needed > budget {
            return Err(memory::over_budget(&what, needed, budget));
        }
        Ok(())
    }

    /// Sets the top-level SGD settings; the parameter groups stay.
    pub fn set_optimizer(&mut self, cfg: SgdConfig) -> Result<()> {
        cfg.validate()?;
        self.optimizer.sgd = cfg;
        Ok(())
    }

    /// Every tensor (parameters and running statistics) copied to the host, in plan order.
    pub fn params_host(&self) -> Vec<Vec<T>> {
        self.params.iter().map(|b| self.backend.download(B::src(b))).collect()
    }

    /// [`DenseNet::params_host`] for bytes that leave the process: a device failure, not garbage.
    fn params_host_checked(&self) -> Result<Vec<Vec<T>>> {
        let host = self.params_host();
        self.backend.take_error()?;
        Ok(host)
    }

    /// Replaces every tensor (plan order, exact sizes); all or nothing.
    pub fn set_params_host(&mut self, tensors: &[Vec<T>]) -> Result<()> {
        if tensors.len() != self.plan.specs.len() {
            return Err(Error::InvalidArg(format!("expected {} tensors, got {}", self.plan.specs.len(), tensors.len())));
        }
        for (spec, t) in self.plan.specs.iter().zip(tensors) {
            if t.len() != spec.numel() {
                return Err(Error::Shape(format!("tensor '{}' needs {} values, got {}", spec.name, spec.numel(), t.len())));
            }
        }
        self.params = tensors.iter().map(|t| self.backend.upload(t)).collect::<Result<Vec<_>>>()?;
        self.params_version = WeightKey::next_version();
        Ok(())
    }

    /// The gradients of the last training step (zeros before the first), in plan order.
    pub fn grads_host(&self) -> Vec<Vec<T>> {
        match &self.grads {
            Some(g) => g.iter().map(|b| self.backend.download(B::src(b))).collect(),
            None => self.plan.specs.iter().map(|s| vec![T::ZERO; s.numel()]).collect(),
        }
    }

    /// The momentum buffers (None before a tensor's first step), in plan order.
    pub fn momentum_host(&self) -> Vec<Option<Vec<T>>> {
        self.momentum.iter().map(|m| m.as_ref().map(|b| self.backend.download(B::src(b)))).collect()
    }

    /// Replays the given dropout masks (layer name → CNHW mask, 1 = keep) instead of hashing.
    #[cfg(feature = "test-hooks")]
    pub fn set_mask_overrides(&mut self, masks: HashMap<String, Vec<T>>) -> Result<()> {
        let mut out = HashMap::new();
        for (name, m) in masks {
            out.insert(name, self.backend.upload(&m)?);
        }
        self.mask_overrides = Some(out);
        Ok(())
    }

    /// Overwrites the gradients (tests of the numerics guard).
    #[cfg(feature = "test-hooks")]
    pub fn set_grads_host(&mut self, grads: &[Vec<T>]) -> Result<()> {
        self.grads = Some(grads.iter().map(|g| self.backend.upload(g)).collect::<Result<Vec<_>>>()?);
        Ok(())
    }

    /// Sets the step counter (tests of the per-step dropout masks).
    #[cfg(feature = "test-hooks")]
    pub fn set_step(&mut self, step: u64) {
        self.step = step;
    }

    /// Eval-mode logits [N, classes] for an NCHW input. Keeps no training tape.
    pub fn predict<I: Float>(&self, input: &[I], shape: &[usize]) -> Result<Vec<T>> {
        let logits = self.infer_logits(input, shape)?;
        let host = self.backend.download(B::src(&logits));
        self.backend.take_error()?;
        Ok(host)
    }

    /// Checks, uploads (NCHW → CNHW) and runs inference within the memory budget; the logits
    /// stay on the device and are finite.
    fn infer_logits<I: Float>(&self, input: &[I], shape: &[usize]) -> Result<B::Buf> {
        let geo = self.check_input(input.len(), shape)?;
        self.check_budget(&geo, false)?;
        let x = self.backend.upload_with(input.len(), &mut |dst| to_cnhw::<I, T>(input, &geo, self.config.in_channels, dst))?;
        let mut cx = self.context(false, 0, None, &geo)?;
        let logits = passes::infer(&self.plan, x, &geo, &mut cx)?;
        self.backend.take_error()?;
        self.check_logits(&logits)?;
        Ok(logits)
    }

    /// Non-finite logits (an input or weights that overflow) are an error, never a silent NaN.
    fn check_logits(&self, logits: &B::Buf) -> Result<()> {
        let found = self.backend.first_non_finite(B::src(logits));
        self.backend.take_error()?;
        match found {
            None => Ok(()),
            Some((i, v)) => {
                let k = self.config.num_classes;
                Err(Error::NonFinite(format!("the logit of sample {} for class {} is {v}: the input or the weights overflow in {}", i / k, i % k, T::NAME)))
            }
        }
    }

    /// Eval-mode loss, correct count and logits.
    pub fn eval_step<I: Float>(&self, input: &[I], shape: &[usize], labels: &[i64]) -> Result<StepOutput> {
        let labels = self.check_labels(labels, shape)?;
        let logits = self.infer_logits(input, shape)?;
        let l = self.backend.softmax_cross_entropy(B::src(&logits), &labels, self.config.num_classes)?;
        let logits = self.backend.download(B::src(&logits)).iter().map(|v| v.to_f64()).collect();
        self.backend.take_error()?;
        Ok(StepOutput { loss: l.loss, correct: l.correct, logits })
    }

    /// One SGD step on a batch (train mode). On a NaN or Inf in the loss or any gradient the
    /// update is refused: parameters, running statistics and optimizer state stay unchanged.
    pub fn train_step<I: Float>(&mut self, input: &[I], shape: &[usize], labels: &[i64]) -> Result<StepOutput> {
        let pending = self.compute_gradients(input, shape, labels)?;
        self.check_finite(pending.output.loss)?;
        self.apply(pending)
    }

    /// One data-parallel SGD step: this rank's share of the global batch in, the same update
    /// on every rank (see `distributed.rs`). Loss and correct count are the global batch's.
    pub fn train_step_distributed<I: Float>(&mut self, input: &[I], shape: &[usize], labels: &[i64], dp: &DataParallel<T, B>) -> Result<StepOutput> {
        let pending = self.compute_gradients_with(input, shape, labels, Some(dp))?;
        self.check_finite(pending.output.loss)?;
        self.apply(pending)
    }

    /// Forward and backward in train mode: fills the gradients and returns the step output with
    /// the running-statistics updates still pending. Nothing else changes.
    pub fn compute_gradients<I: Float>(&mut self, input: &[I], shape: &[usize], labels: &[i64]) -> Result<PendingStep<B::Buf>> {
        self.compute_gradients_with(input, shape, labels, None)
    }

    fn compute_gradients_with<I: Float>(&mut self, input: &[I], shape: &[usize], labels: &[i64], dp: Option<&DataParallel<T, B>>) -> Result<PendingStep<B::Buf>> {
        let geo = self.check_input(input.len(), shape)?;
        let labels = self.check_labels(labels, shape)?;
        self.check_budget(&geo, true)?;
        let x = self.backend.upload_with(input.len(), &mut |dst| to_cnhw::<I, T>(input, &geo, self.config.in_channels, dst))?;
        self.gradients_of(x, &geo, &labels, dp)
    }

    /// [`DenseNet::train_step`] on an input already on the device, channel-major ([C, N, H, W]):
    /// for tests that plan a step at sizes whose host input would not fit (a recording device).
    #[cfg(feature = "test-hooks")]
    pub fn train_step_on_device(&mut self, x: B::Buf, shape: &[usize], labels: &[i64]) -> Result<StepOutput> {
        let geo = self.check_input(B::len(&x), shape)?;
        let labels = self.check_labels(labels, shape)?;
        self.check_budget(&geo, true)?;
        let pending = self.gradients_of(x, &geo, &labels, None)?;
        self.check_finite(pending.output.loss)?;
        self.apply(pending)
    }

    /// Forward and backward from the uploaded input `x` (see [`DenseNet::compute_gradients`]).
    fn gradients_of(&mut self, x: B::Buf, geo: &Geometry, labels: &[usize], dp: Option<&DataParallel<T, B>>) -> Result<PendingStep<B::Buf>> {
        let mut grads = match self.grads.take() {
            Some(g) => g,
            None => self.plan.specs.iter().map(|s| self.backend.alloc(s.numel())).collect::<Result<Vec<_>>>()?,
        };
        for g in &mut grads {
            self.backend.fill_zero(B::dst(g));
        }
        let mut dropout_seed = splitmix64(self.seed ^ splitmix64(self.step.wrapping_add(0x5eed)));
        if let Some(rank) = dp.map(|d| d.comm.rank()).filter(|&r| r > 0) {
            // Each replica draws its own masks (rank 0 keeps the single-process ones).
            dropout_seed = splitmix64(dropout_seed ^ rank as u64);
        }
        let stages = StageOrder::new(&self.plan);
        let frontier = stages.frontier(&self.plan, &self.trainability);
        let result = (|| {
            let mut cx = self.context(true, dropout_seed, Some(&mut grads), geo)?;
            cx.sync = dp.filter(|d| d.sync_bn).map(|d| d.comm);
            let tape = passes::forward_train(&self.plan, x, geo, self.mode, &stages, frontier, &mut cx)?;
            let mut l = self.backend.softmax_cross_entropy(B::src(&tape.head.logits), labels, self.config.num_classes)?;
            let logits: Vec<f64> = self.backend.download(B::src(&tape.head.logits)).iter().map(|v| v.to_f64()).collect();
            let total = match dp {
                Some(dp) => distributed::global_loss(&self.backend, dp, geo.n, &mut l)?,
                None => geo.n as f64,
            };
            if frontier != NOTHING_TRAINS {
                passes::backward(&self.plan, tape, geo, B::src(&l.dlogits), &stages, frontier, &mut cx)?;
            }
            let mut updates = std::mem::take(&mut cx.bn_updates);
            drop(cx);
            // A failed op since the loss (backward) leaves garbage gradients: its error, not them.
            self.backend.take_error()?;
            if let Some(dp) = dp {
                distributed::reduce_gradients(&self.backend, &self.plan, dp, &mut grads, &mut updates, geo.n as f64 / total)?;
                self.backend.take_error()?;
            }
            Ok(PendingStep { updates, output: StepOutput { loss: l.loss, correct: l.correct, logits } })
        })();
        self.grads = Some(grads);
        result
    }

    /// Commits a step: the SGD update of every trainable tensor (one call, see
    /// [`Backend::sgd_steps`]), then the running statistics. Everything that can fail for want of
    /// memory (the momentum buffers of a tensor's first step) is allocated before anything
    /// changes and kept only when the step succeeds, so such a failure leaves the model as it
    /// was. A device failure during the update kernels themselves is reported, the step not counted.
    fn apply(&mut self, pending: PendingStep<B::Buf>) -> Result<StepOutput> {
        let mut fresh_momentum = Vec::with_capacity(self.plan.specs.len());
        for (i, spec) in self.plan.specs.iter().enumerate() {
            let needs = self.updates(i) && self.momentum[i].is_none() && self.optimizer.for_param(self.group_of[i], self.lr_factor).momentum != 0.0;
            fresh_momentum.push(if needs { Some(self.backend.alloc(spec.numel())?) } else { None });
        }
        self.backend.take_error()?;
        self.params_version = WeightKey::next_version();
        // Each updated tensor's hyper-parameters and whether its momentum buffer holds a step; a
        // frozen parameter gets no weight decay and no momentum: its bits stay unchanged.
        let configs: Vec<Option<(SgdConfig, bool)>> =
            (0..self.plan.specs.len()).map(|i| self.updates(i).then(|| (self.optimizer.for_param(self.group_of[i], self.lr_factor), self.momentum[i].is_some()))).collect();
        let be = &self.backend;
        let grads = self.grads.as_ref().expect("a pending step has gradients");
        let updates = self
            .params
            .iter_mut()
            .zip(self.momentum.iter_mut().zip(fresh_momentum.iter_mut()))
            .zip(grads)
            .zip(configs)
            .filter_map(|(((param, (kept, fresh)), grad), cfg)| {
                let (cfg, initialized) = cfg?;
                let buffer = if initialized { kept.as_mut() } else { fresh.as_mut() };
                let momentum = if cfg.momentum != 0.0 { buffer.map(|m| (B::dst(m), initialized)) } else { None };
                Some(SgdUpdate { param: B::dst(param), grad: B::src(grad), momentum, cfg })
            })
            .collect();
        // The parameters first, then the running statistics (disjoint tensors, so the order
        // changes no bits): a device that fails to take the update skips the rest, and the
        // model is as before.
        be.sgd_steps(updates);
        for (bn, mean, var) in &pending.updates {
            let (rm, rv) = crate::layers::context::two_mut(&mut self.params, bn.mean, bn.var);
            be.bn_update_running(B::src(mean), B::src(var), B::dst(rm), B::dst(rv));
        }
        self.backend.take_error()?;
        for (kept, fresh) in self.momentum.iter_mut().zip(fresh_momentum) {
            if fresh.is_some() {
                *kept = fresh;
            }
        }
        self.step += 1;
        Ok(pending.output)
    }

    /// Whether the optimizer updates tensor `i` (a trainable parameter that is not frozen).
    fn updates(&self, i: usize) -> bool {
        self.plan.specs[i].kind.trainable() && self.trainability.trains(i)
    }

    /// The numerics guard: an error naming the loss or the first gradient holding a NaN or Inf.
    pub fn check_finite(&self, loss: f64) -> Result<()> {
        if !loss.is_finite() {
            return Err(Error::NonFinite(format!("the loss is {loss} at step {}; the update was refused and the model is unchanged", self.step)));
        }
        let Some(grads) = &self.grads else { return Ok(()) };
        let trains = &self.trainability.trains;
        let (specs, views): (Vec<_>, Vec<_>) =
            self.plan.specs.iter().zip(grads).zip(trains).filter(|((spec, _), &t)| spec.kind.trainable() && t).map(|((spec, g), _)| (spec, B::src(g))).unzip();
        let found = self.backend.first_non_finite_of(&views);
        self.backend.take_error()?;
        if let Some((t, i, v)) = found {
            return Err(Error::NonFinite(format!(
                "the gradient of '{}' is {v:?} at element {i} (step {}); the update was refused and the model is unchanged",
                specs[t].name, self.step
            )));
        }
        Ok(())
    }

    /// The context of one pass; its scratch buffers are sized from the plan (each allocated once,
    /// on first use, at the largest size the pass needs).
    fn context<'a>(&'a self, train: bool, dropout_seed: u64, grads: Option<&'a mut [B::Buf]>, geo: &Geometry) -> Result<Ctx<'a, T, B>> {
        let sizes = memory::scratch_sizes(&self.plan, geo);
        let scratch = Scratch { z: Slot::planned(sizes.z), b: Slot::planned(sizes.bz), z2: Slot::planned(sizes.bz), d: Slot::planned(sizes.d), t: Slot::planned(sizes.t) };
        Ok(Ctx {
            be: &self.backend,
            params: &self.params,
            grads,
            train,
            drop_rate: self.plan.drop_rate,
            dropout_seed,
            masks: if train { self.mask_overrides.as_ref() } else { None },
            scratch,
            bn_updates: Vec::new(),
            feature_stats: None,
            deferred_bn: None,
            sync: None,
            weights_version: (!train).then_some(self.params_version),
            trainability: Some(&self.trainability),
        })
    }

    fn check_input(&self, len: usize, shape: &[usize]) -> Result<Geometry> {
        let geo = Geometry::new(&self.config, shape)?;
        let expected = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).ok_or_else(|| Error::Shape(format!("input shape {shape:?} is too large")))?;
        if len != expected {
            return Err(Error::Shape(format!("input has {len} values but shape {shape:?} needs {expected}")));
        }
        Ok(geo)
    }

    fn check_labels(&self, labels: &[i64], shape: &[usize]) -> Result<Vec<usize>> {
        let n = shape.first().copied().unwrap_or(0);
        if labels.len() != n {
            return Err(Error::Label(format!("got {} labels for a batch of {n}", labels.len())));
        }
        labels
            .iter()
            .enumerate()
            .map(|(i, &l)| {
                if l < 0 || l as usize >= self.config.num_classes {
                    Err(Error::Label(format!("label at index {i} is {l}, expected 0..{}", self.config.num_classes - 1)))
                } else {
                    Ok(l as usize)
                }
            })
            .collect()
    }

    /// Weights and BN statistics as safetensors bytes (torchvision names), with the config and
    /// the caller's metadata (string pairs) in the header.
    pub fn weights_bytes(&self, metadata: HashMap<String, String>) -> Result<Vec<u8>> {
        if metadata.contains_key("densenet.config") {
            return Err(Error::InvalidArg("metadata key 'densenet.config' is reserved: the model writes its own config".into()));
        }
        let mut meta = metadata;
        meta.insert("densenet.config".to_string(), self.config.to_json());
        Params { tensors: self.params_host_checked()? }.to_safetensors(&self.plan, &[], Some(meta))
    }

    /// Loads weights (any float dtype; `norm_final` accepted for `norm5`); all or nothing.
    /// `source` names the bytes in errors (a path, a URL).
    pub fn load_weights(&mut self, bytes: &[u8], source: &str) -> Result<()> {
        let meta = crate::params::decode_safetensors_metadata(bytes, source)?;
        if meta.contains_key("densenet.optimizer") && meta.contains_key("densenet.step") {
            return Err(Error::Weights(format!("{source} is a training checkpoint, not a weights file: restore it with loadCheckpoint (it holds the optimizer state too)")));
        }
        let (params, _, _) = Params::<T>::from_safetensors(&self.plan, bytes, source, None)?;
        self.set_params_host(&params.tensors)
    }

    /// Weights, BN statistics, optimizer state, step, seed and the caller's JSON.
    pub fn checkpoint_bytes(&self, extra_json: &str) -> Result<Vec<u8>> {
        let momentum = self.momentum_host();
        self.backend.take_error()?;
        let mut extra = Vec::new();
        for (spec, buf) in self.plan.specs.iter().zip(&momentum) {
            if let Some(b) = buf {
                extra.push((format!("optimizer.momentum.{}", spec.name), b.as_slice(), spec.shape.clone()));
            }
        }
        let mut meta = HashMap::new();
        meta.insert("densenet.config".to_string(), self.config.to_json());
        meta.insert("densenet.optimizer".to_string(), serde_json::to_string(&self.optimizer.sgd).expect("plain numbers serialize"));
        self.finetune_metadata(&mut meta);
        meta.insert("densenet.step".to_string(), self.step.to_string());
        meta.insert("densenet.seed".to_string(), self.seed.to_string());
        meta.insert("densenet.dtype".to_string(), T::NAME.to_string());
        meta.insert("densenet.extra".to_string(), extra_json.to_string());
        Params { tensors: self.params_host_checked()? }.to_safetensors(&self.plan, &extra, Some(meta))
    }

    /// Restores what `checkpoint_bytes` wrote; returns the caller's JSON. All or nothing.
    pub fn load_checkpoint(&mut self, bytes: &[u8], source: &str) -> Result<String> {
        let p = source;
        let (params, extra, meta) = Params::<T>::from_safetensors(&self.plan, bytes, p, Some("optimizer."))?;
        let get = |k: &str| meta.get(k).ok_or_else(|| Error::Weights(format!("{p}: not a checkpoint (metadata '{k}' missing)")));
        let config =
            DenseNetConfig::from_json(get("densenet.config")?).map_err(|e| Error::Weights(format!("{p}: metadata 'densenet.config' is not a valid config: {}", e.message())))?;
        if config != self.config {
            return Err(Error::Weights(format!("{p}: checkpoint was saved for config {} but the model has {}", config.to_json(), self.config.to_json())));
        }
        let opt: SgdConfig = serde_json::from_str(get("densenet.optimizer")?).map_err(|e| Error::Weights(format!("{p}: bad optimizer metadata: {e}")))?;
        opt.validate().map_err(|e| Error::Weights(format!("{p}: bad optimizer settings: {}", e.message())))?;
        let step: u64 = get("densenet.step")?.parse().map_err(|e| Error::Weights(format!("{p}: bad step: {e}")))?;
        let seed: u64 = get("densenet.seed")?.parse().map_err(|e| Error::Weights(format!("{p}: bad seed: {e}")))?;
        let mut momentum: Vec<Option<Vec<T>>> = vec![None; self.plan.specs.len()];
        for (name, v) in extra {
            let key = name.strip_prefix("optimizer.momentum.").unwrap_or("");
            let i = self.plan.index_of(key).ok_or_else(|| Error::Weights(format!("{p}: unexpected optimizer tensor '{name}'")))?;
            if v.len() != self.plan.specs[i].numel() {
                return Err(Error::Weights(format!("{p}: optimizer tensor '{name}' has {} values, expected {}", v.len(), self.plan.specs[i].numel())));
            }
            momentum[i] = Some(v);
        }
        let extra_json = get("densenet.extra")?.clone();
        // The caller parses it after this returns: refuse it now, before anything is replaced.
        serde_json::from_str::<serde_json::Value>(&extra_json)
            .map_err(|e| Error::Weights(format!("{p}: metadata 'densenet.extra' (the state saved with the checkpoint) is not JSON: {e}")))?;
        let finetune = self.parse_finetune_metadata(&meta, p)?;
        let momentum = momentum.into_iter().map(|m| m.map(|v| self.backend.upload(&v)).transpose()).collect::<Result<Vec<_>>>()?;
        self.set_params_host(&params.tensors)?;
        self.momentum = momentum;
        self.optimizer.sgd = opt;
        self.apply_finetune_metadata(finetune);
        self.step = step;
        self.seed = seed;
        Ok(extra_json)
    }
}

/// NCHW (any float type) to CNHW in `T`.
fn to_cnhw<I: Float, T: Float>(input: &[I], geo: &Geometry, c: usize, dst: &mut [T]) {
    let hw = geo.h * geo.w;
    for n in 0..geo.n {
        for ci in 0..c {
            let s = (n * c + ci) * hw;
            let d = (ci * geo.n + n) * hw;
            for i in 0..hw {
                dst[d + i] = T::from_f64(input[s + i].to_f64());
            }
        }
    }
}
