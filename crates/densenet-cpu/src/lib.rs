//! densenet-cpu: the CPU backend of densenet-core — gemm with runtime-dispatched AVX-512/AVX2
//! kernels, rayon-parallel BN and pooling loops, and a per-op profiler (`DENSENET_PROFILE=1`).
//! Work runs on the caller's rayon pool: wrap calls in `ThreadPool::install` to choose threads.

pub mod awake;
mod backend;
pub mod ops;
pub mod pool;

pub use awake::keep_workers_awake;
pub use backend::Cpu;

use densenet_core::{DenseNet, DenseNetConfig, Error, Model, Result};

/// A DenseNet on the CPU of element type `dtype` ("f32" or "f64"), weights initialized from `seed`.
pub fn new_model(config: DenseNetConfig, dtype: &str, seed: u64) -> Result<Box<dyn Model>> {
    match dtype {
        "f32" => Ok(Box::new(DenseNet::new(Cpu::<f32>::new(), config, seed)?)),
        "f64" => Ok(Box::new(DenseNet::new(Cpu::<f64>::new(), config, seed)?)),
        other => Err(Error::InvalidArg(format!("dtype must be 'f32' or 'f64', got '{other}'"))),
    }
}

/// The memory estimate of `config` on `shape` for the CPU backend as [`new_model`] would build it
/// (`elem_bytes` 4 or 8): the same figures as that model's `memory_estimate`.
pub fn memory_estimate(config: &densenet_core::DenseNetConfig, shape: &[usize], elem_bytes: usize) -> Result<densenet_core::MemoryEstimate> {
    let fused = if elem_bytes == 8 { ops::packed_conv::available::<f64>() } else { ops::packed_conv::available::<f32>() };
    densenet_core::memory::estimate_fused(config, shape, elem_bytes, fused)
}
