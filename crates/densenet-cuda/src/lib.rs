//! densenet-cuda: the CUDA backend of densenet-core.
//!
//! [`Gpu<T, D>`] implements [`densenet_core::Backend`] over a [`Device`]: every op is a launch of
//! our kernels (`kernels/densenet.cu`, one source for nvcc and for the host emulator) or a GEMM.
//! With the `cuda` feature, [`Cuda`] is that backend on an NVIDIA GPU (cudarc, cuBLAS, the PTX
//! nvcc built for sm_80/sm_90); without it the crate builds with no CUDA toolkit at all and the
//! same backend runs on the kernels' host emulation in `densenet-cuda-kernels-host`'s tests.

mod backend;
pub mod device;

pub use backend::{Buf, Dst, Gpu, Src, BLOCK};
pub use device::{Addr, Device, Elem, Gemm, Word};

#[cfg(feature = "cuda")]
mod cuda;
#[cfg(feature = "cuda")]
pub use cuda::{cuda, Cuda, CudaDevice};

#[cfg(feature = "cuda")]
mod ptx {
    // (compute capability, PTX) for each CUDA_COMPUTE_CAP the build compiled (build.rs).
    include!(concat!(env!("OUT_DIR"), "/ptx.rs"));
}
