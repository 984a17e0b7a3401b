//! A DenseNet with its parameters, gradients and optimizer: inference, the training step,
//! weights and checkpoints.

use crate::config::DenseNetConfig;
use crate::error::{Error, Result};
use crate::float::Float;
use crate::geometry::Geometry;
use crate::layers::context::{Ctx, MaskOverrides, MemoryMode, Scratch};
use crate::layers::{dense_layer, head, stem, transition};
use crate::ops::batchnorm;
use crate::ops::dropout::splitmix64;
use crate::ops::loss;
use crate::optim::{Sgd, SgdConfig};
use crate::params::{read_file, write_atomic, Params};
use crate::plan::Plan;
use crate::tape::Tape;
use std::collections::HashMap;
use std::path::Path;

/// Result of one training or evaluation step.
#[derive(Debug, Clone)]
pub struct StepOutput {
    pub loss: f64,
    pub correct: usize,
    /// Logits [N, classes] (row-major).
    pub logits: Vec<f64>,
}

pub struct DenseNet<T: Float> {
    pub config: DenseNetConfig,
    pub plan: Plan,
    pub params: Params<T>,
    pub grads: Params<T>,
    pub optimizer: Sgd<T>,
    pub mode: MemoryMode,
    /// Completed optimizer steps.
    pub step: u64,
    /// Base seed of the dropout masks (mixed with the step number).
    pub seed: u64,
    /// Replayed dropout masks (tests against a reference run).
    pub mask_overrides: Option<MaskOverrides<T>>,
    pool: rayon::ThreadPool,
}

fn build_pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new().num_threads(threads.max(1)).build().expect("thread pool")
}

/// Threads used when none is given: the machine's available parallelism.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

impl<T: Float> DenseNet<T> {
    pub fn new(config: DenseNetConfig, seed: u64) -> Result<Self> {
        config.validate()?;
        let plan = Plan::new(&config);
        let params = Params::init(&plan, seed);
        let grads = Params::zeros(&plan);
        let optimizer = Sgd::new(SgdConfig::default(), &plan);
        Ok(DenseNet { config, plan, params, grads, optimizer, mode: MemoryMode::Efficient, step: 0, seed, mask_overrides: None, pool: build_pool(default_threads()) })
    }

    pub fn set_threads(&mut self, threads: usize) {
        self.pool = build_pool(threads);
    }

    pub fn threads(&self) -> usize {
        self.pool.current_num_threads()
    }

    pub fn parameter_count(&self) -> usize {
        self.plan.parameter_count()
    }

    /// Eval-mode logits [N, classes] for an NCHW input.
    pub fn predict<I: Float>(&self, input: &[I], shape: &[usize]) -> Result<Vec<T>> {
        let geo = self.check_input(input.len(), shape)?;
        let x = to_cnhw::<I, T>(input, &geo, self.config.in_channels);
        self.pool.install(|| {
            let mut cx = self.eval_context();
            let tape = forward(&self.plan, x, &geo, &mut cx);
            Ok(tape.head.logits)
        })
    }

    /// Eval-mode loss, correct count and logits.
    pub fn eval_step<I: Float>(&self, input: &[I], shape: &[usize], labels: &[i64]) -> Result<StepOutput> {
        let labels = self.check_labels(labels, shape)?;
        let logits = self.predict(input, shape)?;
        let l = loss::softmax_cross_entropy(&logits, &labels, self.config.num_classes);
        Ok(StepOutput { loss: l.loss, correct: l.correct, logits: logits.iter().map(|v| v.to_f64()).collect() })
    }

    /// One SGD step on a batch (train mode). On a NaN or Inf in the loss or any gradient the
    /// update is refused: parameters, running statistics and optimizer state stay unchanged.
    pub fn train_step<I: Float>(&mut self, input: &[I], shape: &[usize], labels: &[i64]) -> Result<StepOutput> {
        let (updates, out) = self.compute_gradients(input, shape, labels)?;
        self.check_finite(out.loss)?;
        let plan = &self.plan;
        for (bn, s) in &updates {
            let (rm, rv) = two_mut_params(&mut self.params.tensors, bn.mean, bn.var);
            batchnorm::update_running(s, rm, rv);
        }
        self.optimizer.step(plan, &mut self.params.tensors, &self.grads.tensors);
        self.step += 1;
        Ok(out)
    }

    /// Forward and backward in train mode: fills `self.grads`, returns the pending running-stat
    /// updates and the step output. Nothing else changes (the numerics guard runs after it).
    pub fn compute_gradients<I: Float>(&mut self, input: &[I], shape: &[usize], labels: &[i64]) -> Result<(Vec<(crate::plan::BnRef, batchnorm::BatchStats<T>)>, StepOutput)> {
        let geo = self.check_input(input.len(), shape)?;
        let labels = self.check_labels(labels, shape)?;
        let x = to_cnhw::<I, T>(input, &geo, self.config.in_channels);
        for g in &mut self.grads.tensors {
            g.fill(T::ZERO);
        }
        let dropout_seed = splitmix64(self.seed ^ splitmix64(self.step.wrapping_add(0x5eed)));
        let classes = self.config.num_classes;
        let (updates, result) = self.pool.install(|| {
            let mut cx = Ctx {
                params: &self.params.tensors,
                grads: Some(&mut self.grads.tensors),
                train: true,
                mode: self.mode,
                drop_rate: self.plan.drop_rate,
                dropout_seed,
                masks: self.mask_overrides.as_ref(),
                scratch: Scratch::default(),
                bn_updates: Vec::new(),
            };
            let tape = forward(&self.plan, x, &geo, &mut cx);
            let l = loss::softmax_cross_entropy(&tape.head.logits, &labels, classes);
            let logits: Vec<f64> = tape.head.logits.iter().map(|v| v.to_f64()).collect();
            backward(&self.plan, tape, &geo, &l.dlogits, &mut cx);
            (std::mem::take(&mut cx.bn_updates), StepOutput { loss: l.loss, correct: l.correct, logits })
        });
        Ok((updates, result))
    }

    /// The numerics guard: an error naming the loss or the first gradient holding a NaN or Inf.
    pub fn check_finite(&self, loss: f64) -> Result<()> {
        if !loss.is_finite() {
            return Err(Error::NonFinite(format!("the loss is {loss} at step {}; the update was refused and the model is unchanged", self.step)));
        }
        for (spec, g) in self.plan.specs.iter().zip(&self.grads.tensors) {
            if spec.kind.trainable() {
                if let Some(i) = g.iter().position(|v| !v.is_finite()) {
                    return Err(Error::NonFinite(format!(
                        "the gradient of '{}' is {:?} at element {i} (step {}); the update was refused and the model is unchanged",
                        spec.name, g[i], self.step
                    )));
                }
            }
        }
        Ok(())
    }

    fn eval_context(&self) -> Ctx<'_, T> {
        Ctx {
            params: &self.params.tensors,
            grads: None,
            train: false,
            mode: self.mode,
            drop_rate: self.plan.drop_rate,
            dropout_seed: 0,
            masks: None,
            scratch: Scratch::default(),
            bn_updates: Vec::new(),
        }
    }

    fn check_input(&self, len: usize, shape: &[usize]) -> Result<Geometry> {
        let geo = Geometry::new(&self.config, shape)?;
        let expected: usize = shape.iter().product();
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

    /// Weights and BN statistics as safetensors bytes (torchvision names).
    pub fn weights_bytes(&self) -> Result<Vec<u8>> {
        let mut meta = HashMap::new();
        meta.insert("densenet.config".to_string(), self.config.to_json());
        self.params.to_safetensors(&self.plan, &[], Some(meta))
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        write_atomic(path, &self.weights_bytes()?)
    }

    /// Weights with the caller's metadata (string pairs) beside the config in the header.
    pub fn weights_bytes_with(&self, metadata: HashMap<String, String>) -> Result<Vec<u8>> {
        if metadata.contains_key("densenet.config") {
            return Err(Error::InvalidArg("metadata key 'densenet.config' is reserved: the model writes its own config".into()));
        }
        let mut meta = metadata;
        meta.insert("densenet.config".to_string(), self.config.to_json());
        self.params.to_safetensors(&self.plan, &[], Some(meta))
    }

    pub fn save_with(&self, path: &Path, metadata: HashMap<String, String>) -> Result<()> {
        write_atomic(path, &self.weights_bytes_with(metadata)?)
    }

    /// Loads weights (any float dtype; `norm_final` accepted for `norm5`); all or nothing.
    pub fn load(&mut self, path: &Path) -> Result<()> {
        let bytes = read_file(path)?;
        let (params, _, _) = Params::from_safetensors(&self.plan, &bytes, &path.display().to_string(), None)?;
        self.params = params;
        Ok(())
    }

    /// Weights, BN statistics, optimizer state, step and the caller's JSON, atomically.
    pub fn save_checkpoint(&self, path: &Path, extra_json: &str) -> Result<()> {
        let mut extra = Vec::new();
        for (spec, buf) in self.plan.specs.iter().zip(&self.optimizer.momentum) {
            if let Some(b) = buf {
                extra.push((format!("optimizer.momentum.{}", spec.name), b.as_slice(), spec.shape.clone()));
            }
        }
        let mut meta = HashMap::new();
        meta.insert("densenet.config".to_string(), self.config.to_json());
        meta.insert("densenet.optimizer".to_string(), serde_json::to_string(&self.optimizer.config).unwrap());
        meta.insert("densenet.step".to_string(), self.step.to_string());
        meta.insert("densenet.seed".to_string(), self.seed.to_string());
        meta.insert("densenet.dtype".to_string(), T::NAME.to_string());
        meta.insert("densenet.extra".to_string(), extra_json.to_string());
        write_atomic(path, &self.params.to_safetensors(&self.plan, &extra, Some(meta))?)
    }

    /// Restores what `save_checkpoint` wrote; returns the caller's JSON. All or nothing.
    pub fn load_checkpoint(&mut self, path: &Path) -> Result<String> {
        let bytes = read_file(path)?;
        let p = path.display().to_string();
        let (params, extra, meta) = Params::from_safetensors(&self.plan, &bytes, &p, Some("optimizer."))?;
        let get = |k: &str| meta.get(k).ok_or_else(|| Error::Weights(format!("{p}: not a checkpoint (metadata '{k}' missing)")));
        let config = DenseNetConfig::from_json(get("densenet.config")?)?;
        if config != self.config {
            return Err(Error::Weights(format!("{p}: checkpoint was saved for config {} but the model has {}", config.to_json(), self.config.to_json())));
        }
        let opt: SgdConfig = serde_json::from_str(get("densenet.optimizer")?).map_err(|e| Error::Weights(format!("{p}: bad optimizer metadata: {e}")))?;
        let step: u64 = get("densenet.step")?.parse().map_err(|e| Error::Weights(format!("{p}: bad step: {e}")))?;
        let seed: u64 = get("densenet.seed")?.parse().map_err(|e| Error::Weights(format!("{p}: bad seed: {e}")))?;
        let mut momentum = vec![None; self.plan.specs.len()];
        for (name, v) in extra {
            let key = name.strip_prefix("optimizer.momentum.").unwrap_or("");
            let i = self.plan.index_of(key).ok_or_else(|| Error::Weights(format!("{p}: unexpected optimizer tensor '{name}'")))?;
            if v.len() != self.plan.specs[i].numel() {
                return Err(Error::Weights(format!("{p}: optimizer tensor '{name}' has {} values, expected {}", v.len(), self.plan.specs[i].numel())));
            }
            momentum[i] = Some(v);
        }
        let extra_json = get("densenet.extra")?.clone();
        self.params = params;
        self.optimizer = Sgd { config: opt, momentum };
        self.step = step;
        self.seed = seed;
        Ok(extra_json)
    }
}

fn two_mut_params<T>(v: &mut [Vec<T>], i: usize, j: usize) -> (&mut [T], &mut [T]) {
    crate::layers::context::two_mut(v, i, j)
}

fn to_cnhw<I: Float, T: Float>(input: &[I], geo: &Geometry, c: usize) -> Vec<T> {
    let hw = geo.h * geo.w;
    let mut dst = vec![T::ZERO; input.len()];
    for n in 0..geo.n {
        for ci in 0..c {
            let s = (n * c + ci) * hw;
            let d = (ci * geo.n + n) * hw;
            for i in 0..hw {
                dst[d + i] = T::from_f64(input[s + i].to_f64());
            }
        }
    }
    dst
}

/// The whole forward pass (train or eval, per `cx`).
pub(crate) fn forward<T: Float>(plan: &Plan, input: Vec<T>, geo: &Geometry, cx: &mut Ctx<T>) -> Tape<T> {
    let n = geo.n;
    let (h0, w0) = geo.blocks[0];
    let mut blocks: Vec<Vec<T>> = Vec::with_capacity(plan.blocks.len());
    let mut buf = vec![T::ZERO; plan.blocks[0].width() * n * h0 * w0];
    let stem_tape = stem::forward(&plan.stem, &input, geo, &mut buf, cx);
    let mut layers = Vec::new();
    let mut transitions = Vec::new();
    for (bi, block) in plan.blocks.iter().enumerate() {
        let (h, w) = geo.blocks[bi];
        let tapes: Vec<_> = block.layers.iter().map(|l| dense_layer::forward(l, &mut buf, n, h, w, cx)).collect();
        layers.push(tapes);
        if let Some(t) = plan.transitions.get(bi) {
            let (h2, w2) = geo.blocks[bi + 1];
            let mut next = vec![T::ZERO; plan.blocks[bi + 1].width() * n * h2 * w2];
            transitions.push(transition::forward(t, &buf, &mut next, n, h, w, cx));
            blocks.push(std::mem::replace(&mut buf, next));
        }
    }
    let (h, w) = *geo.blocks.last().unwrap();
    let head_out = head::forward(&plan.head, &buf, n, h * w, cx);
    blocks.push(buf);
    Tape { input, stem: stem_tape, blocks, layers, transitions, head: head_out }
}

/// The whole backward pass from d(logits): one shared gradient buffer per block, walked back.
pub(crate) fn backward<T: Float>(plan: &Plan, tape: Tape<T>, geo: &Geometry, dlogits: &[T], cx: &mut Ctx<T>) {
    let n = geo.n;
    let Tape { input, stem: stem_tape, mut blocks, mut layers, mut transitions, head: head_out } = tape;
    let last = plan.blocks.len() - 1;
    let (h, w) = geo.blocks[last];
    let mut grad = vec![T::ZERO; plan.blocks[last].width() * n * h * w];
    head::backward(&plan.head, &head_out, &blocks[last], dlogits, &mut grad, n, h * w, cx);
    drop(head_out);
    for bi in (0..plan.blocks.len()).rev() {
        let (h, w) = geo.blocks[bi];
        let buf = blocks.pop().unwrap();
        let block = &plan.blocks[bi];
        let tapes = layers.pop().unwrap();
        for (l, t) in block.layers.iter().zip(tapes).rev() {
            dense_layer::backward(l, t, &buf, &mut grad, n, h, w, cx);
        }
        drop(buf);
        let dprefix = &grad[..block.c0 * n * h * w];
        if bi > 0 {
            let (hp, wp) = geo.blocks[bi - 1];
            let prev = &blocks[bi - 1];
            let stats = transitions.pop().unwrap();
            let mut gprev = vec![T::ZERO; plan.blocks[bi - 1].width() * n * hp * wp];
            transition::backward(&plan.transitions[bi - 1], &stats, prev, dprefix, &mut gprev, n, hp, wp, cx);
            grad = gprev;
        } else {
            stem::backward(&plan.stem, stem_tape, &input, geo, dprefix, cx);
            break;
        }
    }
}
