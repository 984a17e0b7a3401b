//! The kernels. Every op works on channel-major (CNHW) slices; forward and backward side by side.

pub mod batchnorm;
pub mod conv;
pub mod dropout;
pub mod gemm;
pub mod linear;
pub mod loss;
pub mod packed_backward;
pub mod packed_conv;
pub mod packed_wgrad;
pub mod pool;
pub mod profile;
pub mod simd;
pub mod weight_cache;
