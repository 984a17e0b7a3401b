//! densenet-cuda: the CUDA backend of densenet-core.
//!
//! [`Gpu<T, D>`] implements [`densenet_core::Backend`] over a [`Device`]: every op is a launch of
//! our kernels (`kernels/densenet.cu`, one source for nvcc and for the host emulator) or a GEMM.
//! With the `cuda` feature, [`Cuda`] is that backend on an NVIDIA GPU through candle-core's CUDA
//! device (its context, stream, allocations and cuBLAS handle; our fatbin nvcc built for
//! sm_80/sm_90 loaded into its context; [`candle_interop`] for candle tensors); without it the crate builds with no CUDA toolkit at all and the
//! same backend runs on the kernels' host emulation in `densenet-cuda-kernels-host`'s tests.

mod backend;
pub mod device;

pub use backend::{cols_elements, Buf, Dst, Gpu, Src, BLOCK, COLS_BUDGET};
pub use device::{Addr, BlasDims, BlasIndexing, ColMajorGemm, Device, Elem, Gemm, Word};

#[cfg(feature = "cuda")]
mod cuda;
#[cfg(feature = "cuda")]
pub use cuda::{cuda, cuda_on, new_model, Cuda, CudaDevice, CudaMem, BLAS_WORKSPACE_BYTES};
/// candle tensors in and out of a model on a candle CUDA device.
#[cfg(feature = "cuda")]
pub mod candle_interop;
/// The candle this crate is built on (so that a caller's `Device` is the same type).
#[cfg(feature = "cuda")]
pub use candle_core;
#[cfg(feature = "cuda")]
pub mod nccl;
#[cfg(feature = "cuda")]
pub mod preflight;
#[cfg(feature = "cuda")]
pub use nccl::{nccl_smoke, NcclCollective, NcclElem, NcclSmoke, NCCL_UNIQUE_ID_BYTES};

/// Where a model runs: `"cpu"`, `"cuda"` (GPU 0) or `"cuda:N"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceSpec {
    Cpu,
    Cuda(usize),
}

impl DeviceSpec {
    /// Parses "cpu", "cuda", "cuda:N"; anything else is ERR_INVALID_ARG.
    pub fn parse(s: &str) -> densenet_core::Result<Self> {
        match s {
            "cpu" => Ok(DeviceSpec::Cpu),
            "cuda" => Ok(DeviceSpec::Cuda(0)),
            _ => s
                .strip_prefix("cuda:")
                .and_then(|n| if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) { n.parse().ok() } else { None })
                .map(DeviceSpec::Cuda)
                .ok_or_else(|| densenet_core::Error::InvalidArg(format!("device must be 'cpu', 'cuda' or 'cuda:N', got '{s}'"))),
        }
    }
}

/// Whether this build has the CUDA device (feature `cuda`).
pub const HAS_CUDA: bool = cfg!(feature = "cuda");

#[cfg(feature = "cuda")]
mod ptx;

#[cfg(test)]
mod tests {
    use super::DeviceSpec;

    #[test]
    fn device_specs() {
        assert_eq!(DeviceSpec::parse("cpu").unwrap(), DeviceSpec::Cpu);
        assert_eq!(DeviceSpec::parse("cuda").unwrap(), DeviceSpec::Cuda(0));
        assert_eq!(DeviceSpec::parse("cuda:3").unwrap(), DeviceSpec::Cuda(3));
        for bad in ["gpu", "cuda:", "cuda:-1", "cuda:x", "CUDA", "cuda:+1"] {
            assert_eq!(DeviceSpec::parse(bad).unwrap_err().code(), "ERR_INVALID_ARG", "{bad}");
        }
    }

    #[test]
    fn bn_statistics_split_few_channels_over_many_values() {
        use crate::backend::bn_segments;
        // norm0 of densenet121 at 224², batch 64: 64 channels of 64·112² values → 1,024 blocks.
        assert_eq!(bn_segments(64, 64 * 112 * 112), 16);
        // A CIFAR block at batch 64 (32²): segments of at least 16 Ki values.
        assert_eq!(bn_segments(24, 64 * 32 * 32), 4);
        // Channels enough to fill the GPU, or too few values: one block per channel.
        assert_eq!(bn_segments(1024, 1 << 24), 1);
        assert_eq!(bn_segments(5, 37), 1);
        assert_eq!(bn_segments(0, 100), 1);
    }
}

#[cfg(all(test, feature = "cuda"))]
mod ptx_tests {
    #[test]
    fn the_fatbin_is_embedded_with_every_kernel() {
        // The fatbin magic (0xBA55ED50, little-endian), SASS for sm_80 and sm_90 by default.
        assert_eq!(&super::ptx::FATBIN[..4], &[0x50, 0xED, 0x55, 0xBA]);
        assert!(super::ptx::CAPS.contains(&90), "{:?}", super::ptx::CAPS);
        // Every op (an `X(` row of DN_KERNELS_OF in densenet.cu) in both element types.
        let ops = include_str!("../../../kernels/densenet.cu").lines().filter(|l| l.starts_with("  X(")).count();
        assert!(ops > 20, "{ops} ops read from kernels/densenet.cu");
        assert_eq!(super::ptx::KERNELS.len(), 2 * ops, "{:?}", super::ptx::KERNELS);
        for k in super::ptx::KERNELS {
            assert!(k.ends_with("_f32") || k.ends_with("_f64"), "{k}");
        }
    }
}
