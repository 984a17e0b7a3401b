//! densenet-core: DenseNet and DenseNet-BC (CIFAR and ImageNet variants) with memory-efficient
//! training — shared block feature buffers, BN-ReLU recomputation, shared gradient buffers —
//! exact to PyTorch. Tensors are stored channel-major (CNHW) inside the network.

pub mod config;
pub mod error;
pub mod float;
pub mod geometry;
pub mod layers;
pub mod model;
pub mod ops;
pub mod optim;
pub mod params;
pub mod plan;
pub mod summary;
pub mod tape;

pub use config::{DenseNetConfig, PRESET_NAMES};
pub use error::{Error, Result};
pub use float::Float;
pub use layers::context::MemoryMode;
pub use model::{default_threads, DenseNet, StepOutput};
pub use optim::{LrSchedule, SgdConfig};
