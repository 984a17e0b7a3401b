//! The CUDA device (feature `cuda`): cudarc's driver API, dynamically loaded (the build needs no
//! libcuda), one stream per model, stream-ordered allocations, our kernels from the embedded PTX
//! and cuBLAS for the GEMMs. Thin on purpose: everything above the [`Device`] seam is the code
//! the host-emulated tests run.

use crate::device::{Addr, BlasIndexing, Device, Elem, Gemm, Word};
use crate::{Gpu, COLS_BUDGET};
use cudarc::cublas::{result as blas, sys as blas_sys};
use cudarc::driver::{result as drv, sys as drv_sys, CudaContext, CudaStream};
use densenet_core::{Error, Float, Result};
use std::collections::HashMap;
use std::ffi::{c_void, CString};
use std::marker::PhantomData;
use std::sync::{Arc, Mutex};

/// The CUDA backend for element type `T`.
pub type Cuda<T> = Gpu<T, CudaDevice>;

/// The cuBLAS workspace we allocate and hand to the handle (cublasSetWorkspace): NVIDIA's
/// recommendation for Hopper (4 MiB for older GPUs; more is never wrong), and a size the memory
/// estimate can count, which cuBLAS's own per-architecture default is not.
pub const BLAS_WORKSPACE_BYTES: usize = 32 << 20;

/// A GPU with our kernels loaded and a cuBLAS handle on the model's stream.
pub struct CudaDevice {
    ctx: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    functions: HashMap<&'static str, usize>,
    /// The kernel queued last: a fault surfaces at the next synchronization, which names it.
    last_launch: Mutex<&'static str>,
    module: usize,
    /// The device's default memory pool (CUmemoryPool), which our stream-ordered allocations use.
    pool: usize,
    /// cublasHandle_t; cuBLAS handles are not to be used from two threads at once.
    blas: Mutex<usize>,
    /// The handle's workspace (BLAS_WORKSPACE_BYTES), freed after the handle.
    blas_workspace: Option<CudaMem<u32>>,
    ordinal: usize,
    description: String,
}

/// A stream-ordered device allocation.
pub struct CudaMem<E> {
    ptr: drv_sys::CUdeviceptr,
    ctx: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    _e: PhantomData<E>,
}

impl<E> Drop for CudaMem<E> {
    fn drop(&mut self) {
        if self.ptr != 0 && self.ctx.bind_to_thread().is_ok() {
            // SAFETY: allocated by malloc_async on this stream; work queued before the free that
            // reads the memory is ordered before it on the same stream.
            let _ = unsafe { drv::free_async(self.ptr, self.stream.cu_stream()) };
        }
    }
}

fn device_err(what: &str) -> impl Fn(drv::DriverError) -> Error + '_ {
    move |e| Error::Device(format!("{what}: {e}"))
}

fn lib_present(f: unsafe fn() -> bool) -> bool {
    // SAFETY: only tries to dlopen the library.
    std::panic::catch_unwind(|| unsafe { f() }).unwrap_or(false)
}

impl CudaDevice {
    /// Opens GPU `ordinal`: the driver (libcuda), the device, our PTX for its compute capability,
    /// cuBLAS. Every failure is an `Error::Device` naming what is missing.
    pub fn new(ordinal: usize) -> Result<Self> {
        // The driver's CUDA version and the cuBLAS cudarc will pick, before cudarc loads them.
        crate::preflight::check_cuda_libraries()?;
        if !lib_present(drv_sys::is_culib_present) {
            return Err(Error::Device(
                "CUDA was asked for but the NVIDIA driver library (libcuda.so.1) is not on this machine: no NVIDIA GPU driver is installed, or LD_LIBRARY_PATH does not reach it"
                    .into(),
            ));
        }
        if !lib_present(blas_sys::is_culib_present) {
            return Err(Error::Device(
                "CUDA was asked for but cuBLAS 13 (libcublas.so.13, libcublasLt.so.13) is not found: install the CUDA 13 toolkit or `pip install nvidia-cublas` and add its lib directory to LD_LIBRARY_PATH".into(),
            ));
        }
        let count = CudaContext::device_count().map_err(device_err("cannot initialize the CUDA driver"))?;
        if ordinal >= count.max(0) as usize {
            return Err(Error::Device(format!("cuda:{ordinal} was asked for but this machine has {count} CUDA device(s)")));
        }
        let ctx = CudaContext::new(ordinal).map_err(device_err(&format!("cannot open cuda:{ordinal}")))?;
        let (major, minor) = ctx.compute_capability().map_err(device_err("cannot read the compute capability"))?;
        let cap = (major * 10 + minor) as u32;
        let name = ctx.name().unwrap_or_else(|_| "unknown GPU".into());
        let built = crate::ptx::CAPS;
        if !built.iter().any(|&c| c <= cap) {
            return Err(Error::Device(format!("{name} (cuda:{ordinal}) has compute capability {major}.{minor}; this build has kernels for {built:?} only (CUDA_COMPUTE_CAP)")));
        }
        let stream = ctx.new_stream().map_err(device_err("cannot create a stream"))?;
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
        // A fatbin image: the driver picks the SASS for this GPU, else JIT-compiles the PTX; the
        // context is current (CudaContext::new binds it).
        // (Copied to 8-byte-aligned memory: the fatbin header has 64-bit fields.)
        let mut image = vec![0u64; crate::ptx::FATBIN.len().div_ceil(8)];
        // SAFETY: `image` holds at least FATBIN.len() bytes.
        unsafe { std::ptr::copy_nonoverlapping(crate::ptx::FATBIN.as_ptr(), image.as_mut_ptr() as *mut u8, crate::ptx::FATBIN.len()) };
        // SAFETY: a complete fatbin image in aligned memory.
        let module =
            unsafe { drv::module::load_data(image.as_ptr() as *const c_void) }.map_err(device_err(&format!("cannot load the kernels (built for sm_{built:?}) on {name}")))?;
        let mut functions = HashMap::new();
        for &fname in crate::ptx::KERNELS {
            // SAFETY: the module is loaded and the name comes from its own PTX.
            let f = unsafe { drv::module::get_function(module, CString::new(fname).unwrap()) }.map_err(device_err(&format!("kernel {fname}")))?;
            functions.insert(fname, f as usize);
        }
        let handle = blas::create_handle().map_err(|e| Error::Device(format!("cannot create a cuBLAS handle: {e:?}")))?;
        // SAFETY: a fresh handle and a live stream.
        unsafe { blas::set_stream(handle, stream.cu_stream() as _) }.map_err(|e| Error::Device(format!("cuBLAS: {e:?}")))?;
        // FP32 GEMMs in full FP32 unless DENSENET_CUDA_TF32=1 (TF32 tensor cores, ~10-bit mantissa).
        let math = if std::env::var("DENSENET_CUDA_TF32").as_deref() == Ok("1") {
            blas_sys::cublasMath_t::CUBLAS_TF32_TENSOR_OP_MATH
        } else {
            blas_sys::cublasMath_t::CUBLAS_DEFAULT_MATH
        };
        // SAFETY: a live handle.
        unsafe { blas_sys::cublasSetMathMode(handle, math) }.result().map_err(|e| Error::Device(format!("cuBLAS math mode: {e:?}")))?;
        let mut dev = CudaDevice {
            ctx,
            stream,
            functions,
            last_launch: Mutex::new("(none yet)"),
            module: module as usize,
            pool: pool as usize,
            blas: Mutex::new(handle as usize),
            blas_workspace: None,
            ordinal,
            description: format!("{name} (cuda:{ordinal}, sm_{cap})"),
        };
        let workspace = dev.alloc::<u32>(BLAS_WORKSPACE_BYTES / 4)?;
        // SAFETY: a live handle and BLAS_WORKSPACE_BYTES bytes of device memory that outlive it
        // (dropped after the handle is destroyed, see Drop).
        unsafe { blas_sys::cublasSetWorkspace_v2(handle, workspace.ptr as *mut c_void, BLAS_WORKSPACE_BYTES) }
            .result()
            .map_err(|e| Error::Device(format!("cuBLAS workspace: {e:?}")))?;
        dev.blas_workspace = Some(workspace);
        Ok(dev)
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

    fn oom(&self, bytes: usize, e: drv::DriverError) -> Error {
        let free = drv::mem_get_info().map(|(f, t)| format!(" ({f} of {t} bytes free)")).unwrap_or_default();
        if e.0 == drv_sys::CUresult::CUDA_ERROR_OUT_OF_MEMORY {
            Error::Memory(format!("GPU out of memory: cannot allocate {bytes} bytes on {}{free}", self.description))
        } else {
            Error::Device(format!("cannot allocate {bytes} bytes on {}: {e}", self.description))
        }
    }
}

// SAFETY: the raw module/handle values are only used under the context (bound per call) and the
// cuBLAS handle under its mutex; CUfunction handles are immutable once loaded.
unsafe impl Send for CudaDevice {}
unsafe impl Sync for CudaDevice {}

impl Drop for CudaDevice {
    fn drop(&mut self) {
        if self.ctx.bind_to_thread().is_ok() {
            let _ = self.stream.synchronize();
            let h = *self.blas.get_mut().unwrap_or_else(|p| p.into_inner());
            // SAFETY: created in `new`, destroyed once; the module has no live launches after the sync.
            unsafe {
                let _ = blas::destroy_handle(h as blas_sys::cublasHandle_t);
                let _ = drv::module::unload(self.module as drv_sys::CUmodule);
            }
        }
        // The workspace outlives the handle that used it.
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
        let cu = self.stream.cu_stream();
        // SAFETY: a live stream of the bound context.
        let ptr = match unsafe { drv::malloc_async(cu, bytes) } {
            Ok(p) => p,
            Err(_) => {
                // The pool may hold freed blocks: wait for the stream, give them back, retry once.
                self.synchronize()?;
                // SAFETY: the device's default pool.
                let _ = unsafe { drv_sys::cuMemPoolTrimTo(self.pool as drv_sys::CUmemoryPool, 0) };
                unsafe { drv::malloc_async(cu, bytes) }.map_err(|e| self.oom(bytes, e))?
            }
        };
        let mem = CudaMem { ptr, ctx: self.ctx.clone(), stream: self.stream.clone(), _e: PhantomData };
        // SAFETY: `bytes` bytes at ptr, on the same stream.
        unsafe { drv::memset_d8_async(ptr, 0, bytes, cu) }.map_err(device_err("memset"))?;
        Ok(mem)
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
        let (&kernel, &f) = self.functions.get_key_value(name).ok_or_else(|| Error::Internal(format!("no kernel {name} in the loaded PTX")))?;
        let mut words = params.to_vec();
        let mut ptrs: Vec<*mut c_void> = words.iter_mut().map(|w| w as *mut Word as *mut c_void).collect();
        // SAFETY: every parameter of our kernels is 8 bytes; `ptrs` has one entry per parameter.
        let r = unsafe { drv::launch_kernel(f as drv_sys::CUfunction, (grid, 1, 1), (block, 1, 1), 0, self.stream.cu_stream(), &mut ptrs) };
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
        let guard = self.blas.lock().unwrap_or_else(|p| p.into_inner());
        let h = *guard as blas_sys::cublasHandle_t;
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

/// The CUDA backend on GPU `ordinal` (see [`CudaDevice::new`] for the errors).
pub fn cuda<T: Float + Elem>(ordinal: usize) -> Result<Cuda<T>> {
    // cudarc's dynamic loading panics on a missing symbol; turn any such panic into ERR_DEVICE.
    let dev = std::panic::catch_unwind(|| CudaDevice::new(ordinal)).unwrap_or_else(|p| {
        let msg = p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string())).unwrap_or_default();
        Err(Error::Device(format!("cannot start CUDA on cuda:{ordinal}: {msg}")))
    })?;
    Ok(Gpu::with_device(dev, COLS_BUDGET))
}
