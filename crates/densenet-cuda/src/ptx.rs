//! The kernels nvcc built: FATBIN (SASS per DENSENET_CUDA_CAPS + PTX of the highest), CAPS,
//! KERNELS: see build.rs.

include!(concat!(env!("OUT_DIR"), "/ptx.rs"));
