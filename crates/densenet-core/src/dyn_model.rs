//! The object-safe model interface every binding holds as one boxed object, whatever the
//! element type and backend behind it.

use crate::backend::Backend;
use crate::collective::{Collective, DataParallel, ViaHost};
use crate::config::DenseNetConfig;
use crate::error::Result;
use crate::float::Float;
use crate::freeze::FrozenBatchNorm;
use crate::layers::context::MemoryMode;
use crate::memory::MemoryEstimate;
use crate::model::finetune::ParameterInfo;
use crate::model::{DenseNet, StepOutput};
use crate::optim::SgdConfig;
use crate::param_groups::OptimizerSettings;
use std::collections::HashMap;

/// A DenseNet behind a vtable: f32 inputs in, f32 logits out, bytes for weights and checkpoints.
pub trait Model: Send + Sync {
    fn config(&self) -> &DenseNetConfig;
    /// "f32" or "f64": the element type of the weights and the arithmetic.
    fn dtype(&self) -> &'static str;
    /// "cpu", "cuda", ...
    fn backend_name(&self) -> &'static str;
    fn parameter_count(&self) -> usize;
    fn memory_mode(&self) -> MemoryMode;
    fn set_memory_mode(&mut self, mode: MemoryMode);
    fn optimizer(&self) -> SgdConfig;
    fn set_optimizer(&mut self, cfg: SgdConfig) -> Result<()>;
    /// Completed optimizer steps.
    fn step(&self) -> u64;
    fn predict(&self, input: &[f32], shape: &[usize]) -> Result<Vec<f32>>;
    fn train_step(&mut self, input: &[f32], shape: &[usize], labels: &[i64]) -> Result<StepOutput>;
    /// One data-parallel step over a host collective (MPI); see `DenseNet::train_step_distributed`.
    fn train_step_distributed(&mut self, input: &[f32], shape: &[usize], labels: &[i64], comm: &dyn Collective, sync_bn: bool) -> Result<StepOutput>;
    fn eval_step(&self, input: &[f32], shape: &[usize], labels: &[i64]) -> Result<StepOutput>;
    fn weights_bytes(&self, metadata: HashMap<String, String>) -> Result<Vec<u8>>;
    fn load_weights(&mut self, bytes: &[u8], source: &str) -> Result<()>;
    fn checkpoint_bytes(&self, extra_json: &str) -> Result<Vec<u8>>;
    fn load_checkpoint(&mut self, bytes: &[u8], source: &str) -> Result<String>;
    fn memory_estimate(&self, shape: &[usize]) -> Result<MemoryEstimate>;
    fn set_memory_budget(&mut self, bytes: Option<u64>);
    fn memory_budget(&self) -> Option<u64>;
    /// Bytes the model holds now: parameters, and gradients and momentum once trained.
    fn memory_estimate_held(&self) -> u64;
    /// Bytes the backend keeps between calls for reuse (freed by nothing else; reused by the next step).
    fn memory_cached(&self) -> u64;
    /// See [`Backend::device_memory_available`]: None when the model lives in host memory.
    fn device_memory_available(&self) -> Option<u64>;

    // ---- fine-tuning (see `model/finetune.rs`) ----
    fn freeze(&mut self, specs: &[String]) -> Result<()>;
    fn unfreeze(&mut self, specs: &[String]) -> Result<()>;
    fn frozen_batch_norm(&self) -> FrozenBatchNorm;
    fn set_frozen_batch_norm(&mut self, mode: FrozenBatchNorm);
    fn parameters(&self) -> Vec<ParameterInfo>;
    fn trainable_parameter_count(&self) -> usize;
    fn optimizer_settings(&self) -> OptimizerSettings;
    fn set_optimizer_settings(&mut self, settings: OptimizerSettings) -> Result<()>;
    fn lr_factor(&self) -> f64;
    fn set_lr_factor(&mut self, factor: f64) -> Result<()>;
    fn reset_classifier(&mut self, num_classes: usize, seed: u64) -> Result<()>;
}

impl<T: Float, B: Backend<T> + 'static> Model for DenseNet<T, B> {
    fn config(&self) -> &DenseNetConfig {
        DenseNet::config(self)
    }
    fn dtype(&self) -> &'static str {
        T::NAME
    }
    fn backend_name(&self) -> &'static str {
        self.backend().name()
    }
    fn device_memory_available(&self) -> Option<u64> {
        self.backend().device_memory_available()
    }
    fn parameter_count(&self) -> usize {
        DenseNet::parameter_count(self)
    }
    fn memory_mode(&self) -> MemoryMode {
        DenseNet::memory_mode(self)
    }
    fn set_memory_mode(&mut self, mode: MemoryMode) {
        DenseNet::set_memory_mode(self, mode)
    }
    fn optimizer(&self) -> SgdConfig {
        DenseNet::optimizer(self)
    }
    fn set_optimizer(&mut self, cfg: SgdConfig) -> Result<()> {
        DenseNet::set_optimizer(self, cfg)
    }
    fn step(&self) -> u64 {
        DenseNet::step(self)
    }
    fn predict(&self, input: &[f32], shape: &[usize]) -> Result<Vec<f32>> {
        Ok(DenseNet::predict(self, input, shape)?.iter().map(|v| v.to_f64() as f32).collect())
    }
    fn train_step(&mut self, input: &[f32], shape: &[usize], labels: &[i64]) -> Result<StepOutput> {
        DenseNet::train_step(self, input, shape, labels)
    }
    fn train_step_distributed(&mut self, input: &[f32], shape: &[usize], labels: &[i64], comm: &dyn Collective, sync_bn: bool) -> Result<StepOutput> {
        let via = ViaHost(comm);
        DenseNet::train_step_distributed(self, input, shape, labels, &DataParallel { comm: &via, sync_bn })
    }
    fn eval_step(&self, input: &[f32], shape: &[usize], labels: &[i64]) -> Result<StepOutput> {
        DenseNet::eval_step(self, input, shape, labels)
    }
    fn weights_bytes(&self, metadata: HashMap<String, String>) -> Result<Vec<u8>> {
        DenseNet::weights_bytes(self, metadata)
    }
    fn load_weights(&mut self, bytes: &[u8], source: &str) -> Result<()> {
        DenseNet::load_weights(self, bytes, source)
    }
    fn checkpoint_bytes(&self, extra_json: &str) -> Result<Vec<u8>> {
        DenseNet::checkpoint_bytes(self, extra_json)
    }
    fn load_checkpoint(&mut self, bytes: &[u8], source: &str) -> Result<String> {
        DenseNet::load_checkpoint(self, bytes, source)
    }
    fn memory_estimate(&self, shape: &[usize]) -> Result<MemoryEstimate> {
        DenseNet::memory_estimate(self, shape)
    }
    fn set_memory_budget(&mut self, bytes: Option<u64>) {
        DenseNet::set_memory_budget(self, bytes)
    }
    fn memory_budget(&self) -> Option<u64> {
        DenseNet::memory_budget(self)
    }
    fn memory_estimate_held(&self) -> u64 {
        DenseNet::held_bytes(self)
    }
    fn memory_cached(&self) -> u64 {
        DenseNet::cached_bytes(self)
    }
    fn freeze(&mut self, specs: &[String]) -> Result<()> {
        DenseNet::freeze(self, specs)
    }
    fn unfreeze(&mut self, specs: &[String]) -> Result<()> {
        DenseNet::unfreeze(self, specs)
    }
    fn frozen_batch_norm(&self) -> FrozenBatchNorm {
        DenseNet::frozen_batch_norm(self)
    }
    fn set_frozen_batch_norm(&mut self, mode: FrozenBatchNorm) {
        DenseNet::set_frozen_batch_norm(self, mode)
    }
    fn parameters(&self) -> Vec<ParameterInfo> {
        DenseNet::parameters(self)
    }
    fn trainable_parameter_count(&self) -> usize {
        DenseNet::trainable_parameter_count(self)
    }
    fn optimizer_settings(&self) -> OptimizerSettings {
        DenseNet::optimizer_settings(self)
    }
    fn set_optimizer_settings(&mut self, settings: OptimizerSettings) -> Result<()> {
        DenseNet::set_optimizer_settings(self, settings)
    }
    fn lr_factor(&self) -> f64 {
        DenseNet::lr_factor(self)
    }
    fn set_lr_factor(&mut self, factor: f64) -> Result<()> {
        DenseNet::set_lr_factor(self, factor)
    }
    fn reset_classifier(&mut self, num_classes: usize, seed: u64) -> Result<()> {
        DenseNet::reset_classifier(self, num_classes, seed)
    }
}
