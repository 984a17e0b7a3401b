//! A model of either element type behind one interface.

use crate::core_err;
use densenet_core::{DenseNet, DenseNetConfig, MemoryMode, SgdConfig, StepOutput};
use napi::{Error, Result, Status};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

pub enum AnyModel {
    F32(DenseNet<f32>),
    F64(DenseNet<f64>),
}

/// Locks a model; a panic in an earlier call does not make it unusable.
pub fn lock(m: &Arc<Mutex<AnyModel>>) -> MutexGuard<'_, AnyModel> {
    m.lock().unwrap_or_else(|p| p.into_inner())
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
            "f32" => Ok(AnyModel::F32(DenseNet::new(config, seed).map_err(core_err)?)),
            "f64" => Ok(AnyModel::F64(DenseNet::new(config, seed).map_err(core_err)?)),
            other => Err(Error::new(Status::InvalidArg, format!("[ERR_INVALID_ARG] dtype must be 'f32' or 'f64', got '{other}'"))),
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
    pub fn predict(&self, input: &[f32], shape: &[usize]) -> densenet_core::Result<Vec<f32>> {
        each!(self, m => m.predict(input, shape).map(|v| v.iter().map(|x| densenet_core::Float::to_f64(*x) as f32).collect()))
    }
    pub fn train_step(&mut self, input: &[f32], shape: &[usize], labels: &[i64]) -> densenet_core::Result<StepOutput> {
        each!(self, m => m.train_step(input, shape, labels))
    }
    pub fn eval_step(&self, input: &[f32], shape: &[usize], labels: &[i64]) -> densenet_core::Result<StepOutput> {
        each!(self, m => m.eval_step(input, shape, labels))
    }
    pub fn save(&self, path: &Path) -> densenet_core::Result<()> {
        each!(self, m => m.save(path))
    }
    pub fn load(&mut self, path: &Path) -> densenet_core::Result<()> {
        each!(self, m => m.load(path))
    }
    pub fn save_checkpoint(&self, path: &Path, extra: &str) -> densenet_core::Result<()> {
        each!(self, m => m.save_checkpoint(path, extra))
    }
    pub fn load_checkpoint(&mut self, path: &Path) -> densenet_core::Result<String> {
        each!(self, m => m.load_checkpoint(path))
    }
}
