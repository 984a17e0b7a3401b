//! NCCL for the CUDA backend (feature `cuda`): [`NcclCollective`] is the core's
//! [`DeviceCollective`] on [`Cuda<T>`] buffers: NCCL's in-place all-reduce (sum) on the device
//! pointer, queued on the backend's own stream, so gradients never leave the GPU.
//!
//! libnccl.so.2 is loaded at run time (the build needs no NCCL): from
//! `$DENSENET_NCCL_LIB` (a path; then only that) when set, else by its soname through the usual library search
//! (`LD_LIBRARY_PATH`: the `nvidia-nccl-cu13` wheel's `nvidia/nccl/lib`, which PyTorch's CUDA 13
//! wheels also install). The types and signatures are nccl.h's (the few below: cudarc's NCCL
//! bindings would make the linked build need libnccl);
//! the loading is ours because cudarc's loader looks for `libnccl.so`/`libnccl.so.13` only (the
//! wheels ship `libnccl.so.2` alone) and panics unless every symbol of NCCL 2.28+ is present. We
//! resolve only the six functions used here, so any NCCL 2.x serves.
//!
//! A group: rank 0 makes a unique id ([`NcclCollective::unique_id`]), every rank receives its 128
//! bytes (over MPI: [`densenet_core::collective::broadcast_bytes_from_rank0`] on the host
//! collective), and every rank calls [`NcclCollective::from_unique_id`] with its rank and the
//! world size (it blocks until all have joined). [`NcclCollective::world_of_one`] is the group
//! of one process (the GPU check's smoke run).

use crate::cuda::{Cuda, CudaDevice};
use crate::device::{Device, Elem};
use crate::Buf;
use cudarc::driver::{result as drv, CudaContext, CudaStream};
use densenet_core::{DeviceCollective, Error, Float, Result};
use std::ffi::{c_char, c_int, c_void, CStr};
use std::sync::{Arc, OnceLock};

/// Bytes of an NCCL unique id (`NCCL_UNIQUE_ID_BYTES` in nccl.h).
pub const NCCL_UNIQUE_ID_BYTES: usize = 128;

/// The nccl.h types we pass, with nccl.h's values.
#[allow(non_camel_case_types)]
mod abi {
    #[repr(C)]
    #[derive(Clone, Copy, Debug)]
    pub struct ncclUniqueId {
        pub internal: [std::ffi::c_char; super::NCCL_UNIQUE_ID_BYTES],
    }
    pub type ncclComm_t = *mut std::ffi::c_void;
    pub type cudaStream_t = *mut std::ffi::c_void;
    #[repr(C)]
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum ncclDataType_t {
        ncclFloat32 = 7,
        ncclFloat64 = 8,
    }
    #[repr(C)]
    #[derive(Clone, Copy)]
    pub enum ncclRedOp_t {
        ncclSum = 0,
    }
}

/// ncclResult_t as the C ABI returns it (an int; 0 = ncclSuccess).
type NcclResult = u32;
type GetVersion = unsafe extern "C" fn(*mut c_int) -> NcclResult;
type GetUniqueId = unsafe extern "C" fn(*mut abi::ncclUniqueId) -> NcclResult;
type CommInitRank = unsafe extern "C" fn(*mut abi::ncclComm_t, c_int, abi::ncclUniqueId, c_int) -> NcclResult;
type AllReduce = unsafe extern "C" fn(*const c_void, *mut c_void, usize, abi::ncclDataType_t, abi::ncclRedOp_t, abi::ncclComm_t, abi::cudaStream_t) -> NcclResult;
type CommDestroy = unsafe extern "C" fn(abi::ncclComm_t) -> NcclResult;
type GetErrorString = unsafe extern "C" fn(NcclResult) -> *const c_char;

/// libnccl and the functions we call.
struct Lib {
    _lib: libloading::Library,
    /// What was loaded ("libnccl.so.2" or $DENSENET_NCCL_LIB) and its version ("2.28.9").
    name: String,
    version: String,
    get_unique_id: GetUniqueId,
    comm_init_rank: CommInitRank,
    all_reduce: AllReduce,
    comm_destroy: CommDestroy,
    get_error_string: GetErrorString,
}

/// The error of a machine without NCCL.
fn missing(tried: &[String]) -> String {
    format!(
        "NCCL was asked for but libnccl.so.2 is not found: `pip install nvidia-nccl-cu13` (PyTorch's CUDA 13 wheels bring it too) and add its nvidia/nccl/lib directory to LD_LIBRARY_PATH, or set DENSENET_NCCL_LIB to the library's path (tried {})",
        tried.join("; ")
    )
}

fn load() -> std::result::Result<Lib, String> {
    // An explicit path is the only one tried (no silent fallback to another NCCL).
    let names: Vec<String> = match std::env::var("DENSENET_NCCL_LIB") {
        Ok(p) if !p.is_empty() => vec![p],
        _ => vec!["libnccl.so.2".into(), "libnccl.so".into()],
    };
    let mut tried = Vec::new();
    for name in names {
        // SAFETY: loading libnccl runs its initializers, which only set up NCCL's own state.
        match unsafe { libloading::Library::new(&name) } {
            Ok(lib) => return bind(lib, name),
            Err(e) => tried.push(format!("{name}: {e}")),
        }
    }
    Err(missing(&tried))
}

fn bind(lib: libloading::Library, name: String) -> std::result::Result<Lib, String> {
    macro_rules! sym {
        ($t:ty, $s:literal) => {
            // SAFETY: the symbol's C signature is nccl.h's (cudarc's bindings of it).
            *unsafe { lib.get::<$t>(concat!($s, "\0").as_bytes()) }.map_err(|e| format!("{name} is not a usable NCCL: no {}: {e}", $s))?
        };
    }
    let get_version: GetVersion = sym!(GetVersion, "ncclGetVersion");
    let get_unique_id = sym!(GetUniqueId, "ncclGetUniqueId");
    let comm_init_rank = sym!(CommInitRank, "ncclCommInitRank");
    let all_reduce = sym!(AllReduce, "ncclAllReduce");
    let comm_destroy = sym!(CommDestroy, "ncclCommDestroy");
    let get_error_string = sym!(GetErrorString, "ncclGetErrorString");
    let mut v: c_int = 0;
    // SAFETY: an out-pointer to an int.
    let version = if unsafe { get_version(&mut v) } == 0 { version_string(v) } else { "unknown".into() };
    Ok(Lib { _lib: lib, name, version, get_unique_id, comm_init_rank, all_reduce, comm_destroy, get_error_string })
}

/// NCCL_VERSION_CODE → "2.28.9" (codes ≥ 2.9 are major·10000 + minor·100 + patch).
fn version_string(code: c_int) -> String {
    if code >= 10000 {
        format!("{}.{}.{}", code / 10000, code % 10000 / 100, code % 100)
    } else {
        format!("{}.{}.{}", code / 1000, code % 1000 / 100, code % 100)
    }
}

/// libnccl, loaded once per process; `Error::Device` naming libnccl.so.2 when it is not there.
fn lib() -> Result<&'static Lib> {
    static LIB: OnceLock<std::result::Result<Lib, String>> = OnceLock::new();
    LIB.get_or_init(load).as_ref().map_err(|m| Error::Device(m.clone()))
}

impl Lib {
    fn check(&self, r: NcclResult, what: &str) -> Result<()> {
        if r == 0 {
            return Ok(());
        }
        // SAFETY: NCCL returns a static NUL-terminated string for any result code.
        let msg = unsafe {
            let p = (self.get_error_string)(r);
            if p.is_null() {
                String::new()
            } else {
                CStr::from_ptr(p).to_string_lossy().into_owned()
            }
        };
        Err(Error::Device(format!("{what} failed: {msg} (ncclResult {r}; NCCL {} from {}; NCCL_DEBUG=WARN tells more)", self.version, self.name)))
    }
}

/// A unique id's bytes as NCCL's struct (exactly 128 bytes, else `ERR_INVALID_ARG`).
fn id_from_bytes(bytes: &[u8]) -> Result<abi::ncclUniqueId> {
    if bytes.len() != NCCL_UNIQUE_ID_BYTES {
        return Err(Error::InvalidArg(format!("an NCCL unique id is {NCCL_UNIQUE_ID_BYTES} bytes, got {}", bytes.len())));
    }
    let mut internal = [0 as c_char; NCCL_UNIQUE_ID_BYTES];
    for (d, &b) in internal.iter_mut().zip(bytes) {
        *d = b as c_char;
    }
    Ok(abi::ncclUniqueId { internal })
}

fn id_to_bytes(id: &abi::ncclUniqueId) -> Vec<u8> {
    id.internal.iter().map(|&c| c as u8).collect()
}

/// A rank of a world: 0 ≤ rank < world, world ≥ 1 and within NCCL's int.
fn check_rank(rank: usize, world: usize) -> Result<()> {
    if world == 0 || world > c_int::MAX as usize || rank >= world {
        return Err(Error::InvalidArg(format!("NCCL rank {rank} of a world of {world}: need 0 <= rank < world")));
    }
    Ok(())
}

/// The element types NCCL reduces for us.
pub trait NcclElem: Float + Elem {
    const NCCL: abi::ncclDataType_t;
}
impl NcclElem for f32 {
    const NCCL: abi::ncclDataType_t = abi::ncclDataType_t::ncclFloat32;
}
impl NcclElem for f64 {
    const NCCL: abi::ncclDataType_t = abi::ncclDataType_t::ncclFloat64;
}

/// This process's member of an NCCL group, on one GPU.
pub struct NcclCollective {
    lib: &'static Lib,
    comm: abi::ncclComm_t,
    ctx: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    ordinal: usize,
    rank: usize,
    world: usize,
}

impl NcclCollective {
    /// A fresh unique id (rank 0 makes it; every rank of the group must receive its bytes).
    pub fn unique_id() -> Result<Vec<u8>> {
        let lib = lib()?;
        let mut id = abi::ncclUniqueId { internal: [0; NCCL_UNIQUE_ID_BYTES] };
        // SAFETY: an out-pointer to an ncclUniqueId.
        lib.check(unsafe { (lib.get_unique_id)(&mut id) }, "ncclGetUniqueId")?;
        Ok(id_to_bytes(&id))
    }

    /// The group of this process alone (its unique id made here).
    pub fn world_of_one(device: &CudaDevice) -> Result<Self> {
        let id = Self::unique_id()?;
        Self::from_unique_id(device, &id, 0, 1)
    }

    /// Joins the group of `world` ranks that rank 0's `id` names, as `rank`, on `device`'s GPU.
    /// Blocks until every rank has joined. The id, rank and world are checked first
    /// (`ERR_INVALID_ARG`); no libnccl is `ERR_DEVICE` naming libnccl.so.2.
    pub fn from_unique_id(device: &CudaDevice, id: &[u8], rank: usize, world: usize) -> Result<Self> {
        let id = id_from_bytes(id)?;
        check_rank(rank, world)?;
        let lib = lib()?;
        // NCCL takes the GPU from the current context.
        device.bind()?;
        let mut comm: abi::ncclComm_t = std::ptr::null_mut();
        // SAFETY: an out-pointer, a checked rank of a checked world, an id of 128 bytes.
        lib.check(unsafe { (lib.comm_init_rank)(&mut comm, world as c_int, id, rank as c_int) }, "ncclCommInitRank")?;
        Ok(NcclCollective { lib, comm, ctx: device.context().clone(), stream: device.stream().clone(), ordinal: device.ordinal(), rank, world })
    }

    /// "NCCL 2.28.9 (libnccl.so.2)".
    pub fn library(&self) -> String {
        format!("NCCL {} ({})", self.lib.version, self.lib.name)
    }

    /// buf ← Σ over ranks, in place at `addr` (`len` elements of `dtype`) on `stream`.
    fn all_reduce_raw(&self, addr: u64, len: usize, dtype: abi::ncclDataType_t, stream: &CudaStream) -> Result<()> {
        if len == 0 {
            return Ok(());
        }
        let p = addr as *mut c_void;
        // SAFETY: `len` elements of `dtype` at a live allocation of this GPU; in place (send =
        // receive) is NCCL's documented in-place all-reduce; queued on the stream that owns the buffer.
        let r = unsafe { (self.lib.all_reduce)(p as *const c_void, p, len, dtype, abi::ncclRedOp_t::ncclSum, self.comm, stream.cu_stream() as abi::cudaStream_t) };
        self.lib.check(r, "ncclAllReduce")
    }
}

impl Drop for NcclCollective {
    fn drop(&mut self) {
        if self.ctx.bind_to_thread().is_ok() {
            let _ = self.stream.synchronize();
        }
        // SAFETY: created by ncclCommInitRank, destroyed once, its work finished above.
        let _ = unsafe { (self.lib.comm_destroy)(self.comm) };
    }
}

impl<T: NcclElem> DeviceCollective<T, Cuda<T>> for NcclCollective {
    fn rank(&self) -> usize {
        self.rank
    }
    fn world_size(&self) -> usize {
        self.world
    }
    fn all_reduce_sum(&self, be: &Cuda<T>, buf: &mut Buf<CudaDevice, T>) -> Result<()> {
        let dev = be.device();
        if dev.ordinal() != self.ordinal {
            return Err(Error::InvalidArg(format!("the NCCL group is on cuda:{}, the buffer on cuda:{}", self.ordinal, dev.ordinal())));
        }
        // A failure queued before the reduction is reported first (the buffer may be garbage).
        densenet_core::Backend::<T>::take_error(be)?;
        dev.bind()?;
        self.all_reduce_raw(buf.addr(), buf.len(), T::NCCL, dev.stream())
    }
    fn all_reduce_sum_host(&self, buf: &mut [f64]) -> Result<()> {
        if buf.is_empty() {
            return Ok(());
        }
        let derr = |what: &'static str| move |e: drv::DriverError| Error::Device(format!("NCCL host all-reduce: {what}: {e}"));
        self.ctx.bind_to_thread().map_err(derr("bind"))?;
        let cu = self.stream.cu_stream();
        let bytes = std::mem::size_of_val(buf);
        // A small stream-ordered device buffer: up, summed, down.
        // SAFETY: a live stream of the bound context.
        let ptr = unsafe { drv::malloc_async(cu, bytes) }.map_err(derr("allocate"))?;
        let r = (|| {
            // SAFETY: `bytes` bytes at ptr; pageable host memory is staged/completed by the copies and the sync.
            unsafe { drv::memcpy_htod_async(ptr, buf, cu) }.map_err(derr("upload"))?;
            self.all_reduce_raw(ptr, buf.len(), abi::ncclDataType_t::ncclFloat64, &self.stream)?;
            unsafe { drv::memcpy_dtoh_async(buf, ptr, cu) }.map_err(derr("download"))?;
            self.stream.synchronize().map_err(derr("synchronize"))
        })();
        // SAFETY: allocated above on this stream; the work reading it is ordered before.
        let _ = unsafe { drv::free_async(ptr, cu) };
        r
    }
}

/// What [`nccl_smoke`] found.
#[derive(Debug, Clone)]
pub struct NcclSmoke {
    /// The world size (1).
    pub ranks: usize,
    /// Σ of the f32 buffer after the all-reduce, and what it must be (world × Σ of the input).
    pub sum: f64,
    pub expected: f64,
    /// The reduced f32 and f64 device buffers and the host values all hold world × the input.
    pub ok: bool,
    /// "NCCL 2.28.9 (libnccl.so.2)".
    pub library: String,
    pub device: String,
}

/// The NCCL smoke run of the GPU check: on `cuda:ordinal`, a group of one process all-reduces a
/// known f32 and f64 device buffer (and host values through a device buffer) in place.
pub fn nccl_smoke(ordinal: usize) -> Result<NcclSmoke> {
    let f32s: Cuda<f32> = crate::cuda(ordinal)?;
    let f64s: Cuda<f64> = crate::cuda(ordinal)?;
    let nc = NcclCollective::world_of_one(f32s.device())?;
    let world = DeviceCollective::<f32, Cuda<f32>>::world_size(&nc) as f64;
    let input: Vec<f64> = (1..=1000).map(|i| i as f64 * 0.5).collect();
    let want: Vec<f64> = input.iter().map(|v| v * world).collect();
    let mut ok = true;

    let mut a = densenet_core::Backend::<f32>::upload(&f32s, &input.iter().map(|&v| v as f32).collect::<Vec<_>>())?;
    DeviceCollective::<f32, Cuda<f32>>::all_reduce_sum(&nc, &f32s, &mut a)?;
    let got: Vec<f64> = f32s.device().download::<f32>(a.addr(), a.len())?.into_iter().map(|v| v as f64).collect();
    ok &= got == want;
    let sum: f64 = got.iter().sum();

    // The f64 backend on the same GPU: its own device, so its own group of one.
    let nc64 = NcclCollective::world_of_one(f64s.device())?;
    let mut b = densenet_core::Backend::<f64>::upload(&f64s, &input)?;
    DeviceCollective::<f64, Cuda<f64>>::all_reduce_sum(&nc64, &f64s, &mut b)?;
    ok &= f64s.device().download::<f64>(b.addr(), b.len())? == want;

    let mut host = input.clone();
    DeviceCollective::<f32, Cuda<f32>>::all_reduce_sum_host(&nc, &mut host)?;
    ok &= host == want;

    Ok(NcclSmoke { ranks: world as usize, sum, expected: want.iter().sum(), ok, library: nc.library(), device: f32s.device().description().to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_id_bytes_round_trip() {
        let bytes: Vec<u8> = (0..128u32).map(|i| (i * 89 + 200) as u8).collect();
        let id = id_from_bytes(&bytes).unwrap();
        assert_eq!(id_to_bytes(&id), bytes);
        for bad in [0usize, 127, 129] {
            assert_eq!(id_from_bytes(&vec![0; bad]).unwrap_err().code(), "ERR_INVALID_ARG", "{bad} bytes");
        }
    }

    #[test]
    fn ranks_must_lie_in_the_world() {
        check_rank(0, 1).unwrap();
        check_rank(3, 4).unwrap();
        for (rank, world) in [(0, 0), (1, 1), (4, 4), (0, c_int::MAX as usize + 1)] {
            assert_eq!(check_rank(rank, world).unwrap_err().code(), "ERR_INVALID_ARG", "{rank} of {world}");
        }
    }

    #[test]
    fn version_codes() {
        assert_eq!(version_string(22809), "2.28.9");
        assert_eq!(version_string(23007), "2.30.7");
        assert_eq!(version_string(2804), "2.8.4");
    }

    /// libnccl where it is installed (needs no GPU to load or to make a unique id); where it
    /// is not, the typed error that names it. Never silently passes: it prints which it checked.
    #[test]
    fn libnccl_loads_or_is_a_typed_error_naming_it() {
        match NcclCollective::unique_id() {
            Ok(id) => {
                assert_eq!(id.len(), NCCL_UNIQUE_ID_BYTES);
                assert!(id.iter().any(|&b| b != 0), "an all-zero unique id");
                let l = lib().unwrap();
                eprintln!("libnccl loaded: NCCL {} from {}", l.version, l.name);
            }
            Err(e) => {
                assert_eq!(e.code(), "ERR_DEVICE", "{e}");
                let m = e.to_string();
                if m.contains("libnccl.so.2 is not found") {
                    assert!(m.contains("nvidia-nccl-cu13"), "{m}");
                    eprintln!("no libnccl here: checked the typed error: {m}");
                } else {
                    // libnccl present but ncclGetUniqueId failed (e.g. no network interface in a sandbox).
                    assert!(m.contains("ncclGetUniqueId"), "{m}");
                    eprintln!("libnccl loaded but could not make an id here: {m}");
                }
            }
        }
    }
}
