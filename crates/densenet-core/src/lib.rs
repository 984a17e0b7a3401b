//! densenet-core: DenseNet and DenseNet-BC (CIFAR and ImageNet variants) with memory-efficient
//! training — shared block feature buffers, BN-ReLU recomputation, shared gradient buffers —
//! exact to PyTorch, written once over a [`Backend`]. No file system and no threads here:
//! weights and checkpoints go in and out as bytes, and the bindings own I/O and thread pools.
//! Tensors are stored channel-major (CNHW) inside the network.

pub mod backend;
pub mod collective;
mod config;
mod distributed;
mod dyn_model;
mod error;
mod float;
pub mod freeze;
pub mod geometry;
mod layers;
pub mod memory;
mod model;
mod optim;
mod param_groups;
mod params;
mod passes;
pub mod plan;
pub mod summary;
mod tape;

pub use backend::{Backend, BatchStats, BnArgs, GradOut, LossOut, MaskSource, SgdUpdate, WeightKey};
pub use collective::{broadcast_bytes_from_rank0, Collective, DataParallel, DeviceCollective, ViaHost};
pub use config::{DenseNetConfig, PRESET_NAMES};
pub use dyn_model::Model;
pub use error::{Error, Result};
pub use float::{Float, FloatSliceMut};
pub use freeze::FrozenBatchNorm;
pub use layers::context::MemoryMode;
pub use memory::MemoryEstimate;
pub use model::finetune::ParameterInfo;
pub use model::{DenseNet, PendingStep, StepOutput};
pub use optim::{LrSchedule, SgdConfig};
pub use param_groups::{OptimizerSettings, ParamGroup};
pub use params::{decode_safetensors_metadata, init_params};
