//! The kernels nvcc built: FATBIN (SASS per CUDA_COMPUTE_CAP + PTX of the highest), CAPS,
//! KERNELS: see build.rs.

include!(concat!(env!("OUT_DIR"), "/ptx.rs"));
