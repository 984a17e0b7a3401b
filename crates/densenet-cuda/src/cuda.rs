//! The CUDA device (feature `cuda`), through candle: candle-core's [`candle_core::CudaDevice`]
//! owns the context, the stream and the cuBLAS handle, and allocates; our kernels (the fatbin
//! nvcc built) are loaded into its context and launched on its stream, and our GEMMs run on its
//! cuBLAS handle. A candle user hands the SDK their device ([`crate::cuda_on`]) and shares its
//! stream and memory pool. Views at an offset into a block buffer are raw device pointers (a
//! candle tensor cannot be a channel range of another buffer), so below the allocation the ops
//! use the cudarc handles candle exposes. Thin on purpose: everything above the [`Device`] seam
//! is the code the host-emulated tests run.

use crate::device::{Addr, BlasIndexing, Device, Elem, Gemm, Word};
use crate::{Gpu, COLS_BUDGET};
use candle_core::cuda_backend::cudarc;
use cudarc::cublas::{sys as blas_sys, CudaBlas};
use cudarc::driver::{result as drv, sys as drv_sys, CudaContext, CudaFunction, CudaModule, CudaSlice, CudaStream, DevicePtr, LaunchConfig, PushKernelArg};
use densenet_core::{Error, Float, Result};
use std::collections::HashMap;
use std::ffi::c_void;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex};

/// The CUDA backend for element type `T`.
pub type Cuda<T> = Gpu<T, CudaDevice>;

/// The cuBLAS workspace we allocate and hand to the handle (cublasSetWorkspace): NVIDIA's
/// recommendation for Hopper (4 MiB for older GPUs; more is never wrong), and a size the memory
/// estimate can count, which cuBLAS's own per-architecture default is not.
pub const BLAS_WORKSPACE_BYTES: usize = 32 << 20;

/// A GPU with our kernels loaded into a candle device's context.
pub struct CudaDevice {
    candle: candle_core::CudaDevice,
    ctx: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    _module: Arc<CudaModule>,
    functions: HashMap<&'static str, CudaFunction>,
    /// The kernel queued last: a fault surfaces at the next synchronization, which names it.
    last_launch: Mutex<&'static str>,
    /// The device's default memory pool (CUmemoryPool), which the stream-ordered allocations use.
    pool: usize,
    /// candle's cuBLAS handle; cuBLAS handles are not to be used from two threads at once, so our
    /// GEMMs take the lock.
    blas: Arc<CudaBlas>,
    blas_lock: Mutex<()>,
    /// The handle's workspace (BLAS_WORKSPACE_BYTES) while this device lives (see Drop).
    blas_workspace: Option<CudaMem<u32>>,
    ordinal: usize,
    description: String,
}

/// A stream-ordered device allocation (a candle/cudarc slice of bytes) and its address.
pub struct CudaMem<E> {
    slice: CudaSlice<u8>,
    ptr: drv_sys::CUdeviceptr,
    _e: PhantomData<E>,
}

impl<E> CudaMem<E> {
    /// The bytes, as the cudarc slice candle tensors are made of.
    pub fn slice(&self) -> &CudaSlice<u8> {
        &self.slice
    }
}

fn device_err(what: &str) -> impl Fn(drv::DriverError) -> Error + '_ {
    move |e| Error::Device(format!("{what}: {e}"))
}

impl CudaDevice {
    /// Opens GPU `ordinal` as a candle device with its own stream, then [`CudaDevice::from_candle`].
    /// Every failure is an `Error::Device` naming what is missing.
    pub fn new(ordinal: usize) -> Result<Self> {
        // The driver's CUDA version and the cuBLAS the addon linked, before candle initializes CUDA.
        crate::preflight::check_cuda_libraries()?;
        let count = CudaContext::device_count().map_err(device_err("cannot initialize the CUDA driver"))?;
        if ordinal >= count.max(0) as usize {
            return Err(Error::Device(format!("cuda:{ordinal} was asked for but this machine has {count} CUDA device(s)")));
        }
        let dev = candle_core::CudaDevice::new_with_stream(ordinal).map_err(|e| Error::Device(format!("candle cannot open cuda:{ordinal}: {e}")))?;
        Self::from_candle(&dev)
    }

    /// Our kernels and GEMMs on a candle device: its context, stream, memory pool and cuBLAS
    /// handle (the handle gets our workspace while this device lives, then its default back).
    pub fn from_candle(dev: &candle_core::CudaDevice) -> Result<Self> {
        let stream = dev.cuda_stream();
        let ctx = stream.context().clone();
        ctx.bind_to_thread().map_err(device_err("cannot make the CUDA context current"))?;
        let ordinal = ctx.ordinal();
        let (major, minor) = ctx.compute_capability().map_err(device_err("cannot read the compute capability"))?;
        let cap = (major * 10 + minor) as u32;
        let name = ctx.name().unwrap_or_else(|_| "unknown GPU".into());
        let built = crate::ptx::CAPS;
        if !built.iter().any(|&c| c <= cap) {
            return Err(Error::Device(format!("{name} (cuda:{ordinal}) has compute capability {major}.{minor}; this build has kernels for {built:?} only (DENSENET_CUDA_CAPS)")));
        }
        // Keep freed blocks in the pool across synchronizations (the default threshold 0 hands
        // them back to the driver at every sync, and a training step synchronizes often): a
        // caching allocator, as PyTorch's. On an allocation failure the pool is trimmed and retried.
        let mut pool: drv_sys::CUmemoryPool = std::ptr::null_mut();
        let mut threshold = u64::MAX;
        // SAFETY: out-pointer and attribute value of the documented types.
        unsafe {
            drv_sys::cuDeviceGetDefaultMemPool(&mut pool, ctx.cu_device()).result().map_err(device_err("cuDeviceGetDefaultMemPool"))?;
            drv_sys::cuMemPoolSetAttribute(pool, drv_sys::CUmemPool_attribute::CU_MEMPOOL_ATTR_RELEASE_THRESHOLD, &mut threshold as *mut u64 as *mut c_void)
                .result()
                .map_err(device_err("cuMemPoolSetAttribute"))?;
        }
        // A fatbin image: the driver picks the SASS for this GPU, else JIT-compiles the PTX.
        // (A Vec<u8> from the system allocator is 16-byte aligned; the fatbin header needs 8.)
        let image = cudarc::nvrtc::Ptx::from_binary(crate::ptx::FATBIN.to_vec());
        let module = ctx.load_module(image).map_err(device_err(&format!("cannot load the kernels (built for sm_{built:?}) on {name}")))?;
        let mut functions = HashMap::new();
        for &fname in crate::ptx::KERNELS {
            functions.insert(fname, module.load_function(fname).map_err(device_err(&format!("kernel {fname}")))?);
        }
        let blas = dev.cublas_handle();
        let handle = *blas.handle();
        // FP32 GEMMs in full FP32 unless DENSENET_CUDA_TF32=1 (TF32 tensor cores, ~10-bit mantissa).
        // (candle's own matmuls choose their compute type per call, not through the math mode.)
        let math = if std::env::var("DENSENET_CUDA_TF32").as_deref() == Ok("1") {
            blas_sys::cublasMath_t::CUBLAS_TF32_TENSOR_OP_MATH
        } else {
            blas_sys::cublasMath_t::CUBLAS_DEFAULT_MATH
        };
        // SAFETY: a live handle.
        unsafe { blas_sys::cublasSetMathMode(handle, math) }.result().map_err(|e| Error::Device(format!("cuBLAS math mode: {e:?}")))?;
        let mut this = CudaDevice {
            candle: dev.clone(),
            ctx,
            stream,
            _module: module,
            functions,
            last_launch: Mutex::new("(none yet)"),
            pool: pool as usize,
            blas,
            blas_lock: Mutex::new(()),
            blas_workspace: None,
            ordinal,
            description: format!("{name} (cuda:{ordinal}, sm_{cap})"),
        };
        let workspace = this.alloc::<u32>(BLAS_WORKSPACE_BYTES / 4)?;
        // SAFETY: a live handle and BLAS_WORKSPACE_BYTES bytes of device memory that outlive its
        // use: Drop hands the handle back its default workspace before freeing them.
        unsafe { blas_sys::cublasSetWorkspace_v2(handle, workspace.ptr as *mut c_void, BLAS_WORKSPACE_BYTES) }
            .result()
            .map_err(|e| Error::Device(format!("cuBLAS workspace: {e:?}")))?;
        this.blas_workspace = Some(workspace);
        Ok(this)
    }

    /// The candle device the model runs on (for candle tensors on the same stream).
    pub fn candle(&self) -> &candle_core::CudaDevice {
        &self.candle
    }

    /// "NVIDIA H200 (cuda:0, sm_90)".
    pub fn description(&self) -> &str {
        &self.description
    }

    /// The GPU's ordinal (N of cuda:N).
    pub fn ordinal(&self) -> usize {
        self.ordinal
    }

    pub(crate) fn context(&self) -> &Arc<CudaContext> {
        &self.ctx
    }

    /// The stream every op of this device is queued on.
    pub(crate) fn stream(&self) -> &Arc<CudaStream> {
        &self.stream
    }

    /// (free, total) bytes of device memory.
    pub fn memory_info(&self) -> Result<(usize, usize)> {
        self.bind()?;
        drv::mem_get_info().map_err(device_err("cuMemGetInfo"))
    }

    /// Waits for all queued work; a fault of a queued kernel is an error naming the last one.
    pub fn synchronize(&self) -> Result<()> {
        self.stream.synchronize().map_err(|e| self.async_err("stream synchronize", e))
    }

    pub(crate) fn bind(&self) -> Result<()> {
        self.ctx.bind_to_thread().map_err(|e| Error::Device(format!("{}: cannot make the context current: {e}", self.description)))
    }

    /// An error of a call that waited for queued work: the kernel that faulted is one queued
    /// before it (kernels run asynchronously), so the message names the last one queued.
    fn async_err(&self, what: &str, e: drv::DriverError) -> Error {
        let last = *self.last_launch.lock().unwrap_or_else(|p| p.into_inner());
        Error::Device(format!(
            "{what} on {}: {e} (a kernel fault surfaces at the next synchronization; the last kernel queued was {last}; CUDA_LAUNCH_BLOCKING=1 names the one that faulted)",
            self.description
        ))
    }

    fn oom(&self, bytes: usize, e: &str) -> Error {
        let free = drv::mem_get_info().map(|(f, t)| format!(" ({f} of {t} bytes free)")).unwrap_or_default();
        if e.contains("CUDA_ERROR_OUT_OF_MEMORY") {
            Error::Memory(format!("GPU out of memory: cannot allocate {bytes} bytes on {}{free}", self.description))
        } else {
            Error::Device(format!("cannot allocate {bytes} bytes on {}: {e}", self.description))
        }
    }
}

impl Drop for CudaDevice {
    fn drop(&mut self) {
        if self.ctx.bind_to_thread().is_ok() {
            let _ = self.stream.synchronize();
            if self.blas_workspace.is_some() {
                // SAFETY: a live handle; a null workspace of 0 bytes restores cuBLAS's default, so
                // candle's later GEMMs on the handle never see our freed workspace.
                let _ = unsafe { blas_sys::cublasSetWorkspace_v2(*self.blas.handle(), std::ptr::null_mut(), 0) };
            }
        }
        self.blas_workspace = None;
    }
}

impl Device for CudaDevice {
    type Mem<E: Elem> = CudaMem<E>;

    fn name(&self) -> &'static str {
        "cuda"
    }
    fn alloc<E: Elem>(&self, len: usize) -> Result<CudaMem<E>> {
        self.bind()?;
        let bytes = len.max(1).checked_mul(std::mem::size_of::<E>()).ok_or_else(|| Error::Memory(format!("cannot allocate {len} elements")))?;
        // candle's allocation: stream-ordered (cuMemAllocAsync on its stream), zeroed.
        let slice = match self.candle.alloc_zeros::<u8>(bytes) {
            Ok(s) => s,
            Err(_) => {
                // The pool may hold freed blocks: wait for the stream, give them back, retry once.
                self.synchronize()?;
                // SAFETY: the device's default pool.
                let _ = unsafe { drv_sys::cuMemPoolTrimTo(self.pool as drv_sys::CUmemoryPool, 0) };
                self.candle.alloc_zeros::<u8>(bytes).map_err(|e| self.oom(bytes, &e.to_string()))?
            }
        };
        let ptr = {
            let (ptr, _record) = slice.device_ptr(&self.stream);
            ptr
        };
        Ok(CudaMem { ptr, slice, _e: PhantomData })
    }
    fn upload<E: Elem>(&self, data: &[E]) -> Result<CudaMem<E>> {
        let mem = self.alloc::<E>(data.len())?;
        if !data.is_empty() {
            // SAFETY: the allocation holds data.len() elements; a pageable source is staged before
            // the call returns.
            unsafe { drv::memcpy_htod_async(mem.ptr, data, self.stream.cu_stream()) }.map_err(device_err("upload"))?;
        }
        Ok(mem)
    }
    fn addr<E: Elem>(mem: &CudaMem<E>) -> Addr {
        mem.ptr
    }
    fn download<E: Elem>(&self, src: Addr, len: usize) -> Result<Vec<E>> {
        self.bind()?;
        let mut out = vec![E::default(); len];
        // SAFETY: `src` is a view of `len` elements of a live allocation.
        unsafe { drv::memcpy_dtoh_async(&mut out, src, self.stream.cu_stream()) }.map_err(|e| self.async_err("download", e))?;
        self.synchronize()?;
        Ok(out)
    }
    fn memset_zero(&self, dst: Addr, bytes: usize) -> Result<()> {
        self.bind()?;
        // SAFETY: a view of a live allocation.
        unsafe { drv::memset_d8_async(dst, 0, bytes, self.stream.cu_stream()) }.map_err(|e| self.async_err(&format!("memset of {bytes} bytes"), e))
    }
    fn memcpy(&self, dst: Addr, src: Addr, bytes: usize) -> Result<()> {
        self.bind()?;
        // SAFETY: views of live allocations.
        unsafe { drv::memcpy_dtod_async(dst, src, bytes, self.stream.cu_stream()) }.map_err(|e| self.async_err(&format!("copy of {bytes} bytes"), e))
    }
    fn launch(&self, name: &str, grid: u32, block: u32, params: &[Word]) -> Result<()> {
        self.bind()?;
        let (&kernel, f) = self.functions.get_key_value(name).ok_or_else(|| Error::Internal(format!("no kernel {name} in the loaded PTX")))?;
        // Every parameter of our kernels is one 8-byte word (a pointer, a size or a scalar's bits).
        let mut args = self.stream.launch_builder(f);
        for w in params {
            args.arg(w);
        }
        let cfg = LaunchConfig { grid_dim: (grid, 1, 1), block_dim: (block, 1, 1), shared_mem_bytes: 0 };
        // SAFETY: the parameters are the kernel's, in its order, as the backend built them.
        let r = unsafe { args.launch(cfg) };
        r.map_err(|e| self.async_err(&format!("launch of {name} ({grid} blocks of {block} threads)"), e))?;
        *self.last_launch.lock().unwrap_or_else(|p| p.into_inner()) = kernel;
        Ok(())
    }
    fn memory_available(&self) -> Option<u64> {
        self.bind().ok()?;
        let (free, _) = drv::mem_get_info().ok()?;
        let attr = |a: drv_sys::CUmemPool_attribute| {
            let mut v = 0u64;
            // SAFETY: the pool's u64 attributes.
            unsafe { drv_sys::cuMemPoolGetAttribute(self.pool as drv_sys::CUmemoryPool, a, &mut v as *mut u64 as *mut c_void) }.result().ok().map(|_| v)
        };
        let reserved = attr(drv_sys::CUmemPool_attribute::CU_MEMPOOL_ATTR_RESERVED_MEM_CURRENT)?;
        let used = attr(drv_sys::CUmemPool_attribute::CU_MEMPOOL_ATTR_USED_MEM_CURRENT)?;
        Some(free as u64 + reserved.saturating_sub(used))
    }
    fn workspace_bytes(&self) -> u64 {
        BLAS_WORKSPACE_BYTES as u64
    }
    fn gemm(&self, g: &Gemm, double: bool) -> Result<()> {
        self.bind()?;
        let c = g.column_major();
        let sizes = c.blas_indexing()?;
        // The guard lives to the end of the call: one GEMM at a time on this handle.
        let guard = self.blas_lock.lock().unwrap_or_else(|p| p.into_inner());
        let h = *self.blas.handle();
        let op = |t: bool| if t { blas_sys::cublasOperation_t::CUBLAS_OP_T } else { blas_sys::cublasOperation_t::CUBLAS_OP_N };
        let (ta, tb) = (op(c.trans_a), op(c.trans_b));
        let beta = if c.accumulate { 1.0 } else { 0.0 };
        // SAFETY (every call): the views hold the operands the backend sized; α and β are host scalars.
        let status = match (sizes, double) {
            (BlasIndexing::I32(d), true) => unsafe {
                blas_sys::cublasDgemm_v2(h, ta, tb, d.m, d.n, d.k, &1f64, c.a as *const f64, d.lda, c.b as *const f64, d.ldb, &beta, c.c as *mut f64, d.ldc)
            },
            (BlasIndexing::I32(d), false) => unsafe {
                blas_sys::cublasSgemm_v2(h, ta, tb, d.m, d.n, d.k, &1f32, c.a as *const f32, d.lda, c.b as *const f32, d.ldb, &(beta as f32), c.c as *mut f32, d.ldc)
            },
            (BlasIndexing::I64(d), true) => unsafe {
                blas_sys::cublasDgemm_v2_64(h, ta, tb, d.m, d.n, d.k, &1f64, c.a as *const f64, d.lda, c.b as *const f64, d.ldb, &beta, c.c as *mut f64, d.ldc)
            },
            (BlasIndexing::I64(d), false) => unsafe {
                blas_sys::cublasSgemm_v2_64(h, ta, tb, d.m, d.n, d.k, &1f32, c.a as *const f32, d.lda, c.b as *const f32, d.ldb, &(beta as f32), c.c as *mut f32, d.ldc)
            },
        };
        drop(guard);
        status.result().map_err(|e| Error::Device(format!("cuBLAS GEMM {}×{}×{} ({}) on {}: {e:?}", g.m, g.n, g.k, if double { "f64" } else { "f32" }, self.description)))
    }
}

/// A DenseNet on GPU `ordinal` of element type `dtype` ("f32" or "f64"), weights from `seed`.
pub fn new_model(config: densenet_core::DenseNetConfig, dtype: &str, seed: u64, ordinal: usize) -> Result<Box<dyn densenet_core::Model>> {
    match dtype {
        "f32" => Ok(Box::new(densenet_core::DenseNet::new(cuda::<f32>(ordinal)?, config, seed)?)),
        "f64" => Ok(Box::new(densenet_core::DenseNet::new(cuda::<f64>(ordinal)?, config, seed)?)),
        other => Err(Error::InvalidArg(format!("dtype must be 'f32' or 'f64', got '{other}'"))),
    }
}

/// `open`'s device, a panic in candle or cudarc while starting (e.g. a poisoned lock) being
/// ERR_DEVICE naming `what`, not an abort.
fn started(what: &str, open: impl FnOnce() -> Result<CudaDevice> + std::panic::UnwindSafe) -> Result<CudaDevice> {
    std::panic::catch_unwind(open).unwrap_or_else(|p| {
        let msg = p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string())).unwrap_or_default();
        Err(Error::Device(format!("cannot start CUDA on {what}: {msg}")))
    })
}

/// The CUDA backend on GPU `ordinal` (see [`CudaDevice::new`] for the errors).
pub fn cuda<T: Float + Elem>(ordinal: usize) -> Result<Cuda<T>> {
    Ok(Gpu::with_device(started(&format!("cuda:{ordinal}"), || CudaDevice::new(ordinal))?, COLS_BUDGET))
}

/// The CUDA backend on a candle device (see [`CudaDevice::from_candle`]): the model's buffers and
/// launches share the device's stream and memory pool with the caller's candle tensors.
pub fn cuda_on<T: Float + Elem>(device: &candle_core::CudaDevice) -> Result<Cuda<T>> {
    Ok(Gpu::with_device(started("the candle device", || CudaDevice::from_candle(device))?, COLS_BUDGET))
}
