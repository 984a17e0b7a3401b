//! A model of either element type behind one interface.

use densenet_core::{DenseNet, DenseNetConfig, Error, MemoryMode, Result, SgdConfig, StepOutput};
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

pub enum AnyModel {
    F32(DenseNet<f32>),
    F64(DenseNet<f64>),
}

/// A model shared with its async tasks; `None` once disposed.
pub type Shared = Arc<Mutex<Option<AnyModel>>>;

/// Runs `f` on the model; a panic in an earlier call does not make it unusable.
pub fn with<R>(m: &Shared, f: impl FnOnce(&mut AnyModel) -> Result<R>) -> Result<R> {
    let mut guard: MutexGuard<'_, Option<AnyModel>> = m.lock().unwrap_or_else(|p| p.into_inner());
    match guard.as_mut() {
        Some(model) => f(model),
        None => Err(Error::InvalidArg("the model was disposed".into())),
    }
}

macro_rules! each {
    ($self:expr, $m:ident => $e:expr) => {
        match $self {
            AnyModel::F32($m) => $e,
            AnyModel::F64($m) => $e,
        }
    };
}

impl AnyModel {
    pub fn new(config: DenseNetConfig, dtype: &str, seed: u64) -> Result<Self> {
        match dtype {
            "f32" => Ok(AnyModel::F32(DenseNet::new(config, seed)?)),
            "f64" => Ok(AnyModel::F64(DenseNet::new(config, seed)?)),
            other => Err(Error::InvalidArg(format!("dtype must be 'f32' or 'f64', got '{other}'"))),
        }
    }
    pub fn config(&self) -> &DenseNetConfig {
        each!(self, m => &m.config)
    }
    pub fn parameter_count(&self) -> usize {
        each!(self, m => m.parameter_count())
    }
    pub fn set_threads(&mut self, n: usize) {
        each!(self, m => m.set_threads(n))
    }
    pub fn set_mode(&mut self, mode: MemoryMode) {
        each!(self, m => m.mode = mode)
    }
    pub fn optimizer(&self) -> SgdConfig {
        each!(self, m => m.optimizer.config)
    }
    pub fn set_optimizer(&mut self, cfg: SgdConfig) {
        each!(self, m => m.optimizer.config = cfg)
    }
    pub fn step(&self) -> u64 {
        each!(self, m => m.step)
    }
    pub fn predict(&self, input: &[f32], shape: &[usize]) -> Result<Vec<f32>> {
        each!(self, m => m.predict(input, shape).map(|v| v.iter().map(|x| densenet_core::Float::to_f64(*x) as f32).collect()))
    }
    pub fn train_step(&mut self, input: &[f32], shape: &[usize], labels: &[i64]) -> Result<StepOutput> {
        each!(self, m => m.train_step(input, shape, labels))
    }
    pub fn eval_step(&self, input: &[f32], shape: &[usize], labels: &[i64]) -> Result<StepOutput> {
        each!(self, m => m.eval_step(input, shape, labels))
    }
    pub fn save(&self, path: &Path, metadata: HashMap<String, String>) -> Result<()> {
        each!(self, m => m.save_with(path, metadata))
    }
    pub fn load(&mut self, path: &Path) -> Result<()> {
        each!(self, m => m.load(path))
    }
    pub fn save_checkpoint(&self, path: &Path, extra: &str) -> Result<()> {
        each!(self, m => m.save_checkpoint(path, extra))
    }
    pub fn load_checkpoint(&mut self, path: &Path) -> Result<String> {
        each!(self, m => m.load_checkpoint(path))
    }
}
