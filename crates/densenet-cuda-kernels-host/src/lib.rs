//! The host emulator of the CUDA kernels: a [`Device`] whose allocations are host memory and
//! whose launches run kernels/densenet.cu compiled with g++ on kernels/emu.h (blocks in turn,
//! each CUDA thread a fiber, `__syncthreads` a barrier). `densenet_cuda::Gpu<T, Emu>` is then the
//! CUDA backend with every kernel and every launch argument real and only cuBLAS replaced by a
//! plain loop; the tests compare it with `densenet_cpu::Cpu<T>`.

use densenet_core::{Error, Result};
use densenet_cuda::{Addr, Device, Elem, Gemm, Gpu, Word};
use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::collections::BTreeSet;
use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::sync::Mutex;

extern "C" {
    fn dn_emu_launch(name: *const c_char, gx: u32, gy: u32, gz: u32, bx: u32, by: u32, bz: u32, params: *mut *mut c_void) -> c_int;
    fn dn_emu_kernel_count() -> u32;
    fn dn_emu_kernel_name(i: u32) -> *const c_char;
    fn dn_emu_set_reverse_order(on: c_int);
    fn dn_emu_last_error() -> *const c_char;
    fn dn_emu_selftest(name: *const c_char, grid: u32, block: u32, out0: *mut c_void, out1: *mut c_void) -> c_int;
}

/// Runs blocks and threads in reverse order on this thread while `on` (a race detector: the
/// results of a kernel without races do not depend on the order its threads run in).
pub fn set_reverse_order(on: bool) {
    // SAFETY: sets a thread-local flag.
    unsafe { dn_emu_set_reverse_order(on as c_int) }
}

/// A host allocation standing in for device memory (touched only through raw addresses).
pub struct EmuMem {
    ptr: *mut u8,
    layout: Layout,
}
// SAFETY: the memory is owned; access goes through the device's raw addresses, ordered by the
// backend's calls.
unsafe impl Send for EmuMem {}
unsafe impl Sync for EmuMem {}

impl Drop for EmuMem {
    fn drop(&mut self) {
        // SAFETY: allocated by `alloc_zeroed` with this layout.
        unsafe { dealloc(self.ptr, self.layout) }
    }
}

/// The emulated device.
#[derive(Default)]
pub struct Emu;

/// Every kernel any emulated device of this process has launched (for the coverage test).
static LAUNCHED: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());

pub fn launched() -> BTreeSet<String> {
    LAUNCHED.lock().unwrap_or_else(|p| p.into_inner()).clone()
}

/// Every kernel entry point in kernels/densenet.cu.
pub fn kernel_names() -> Vec<String> {
    // SAFETY: the C side returns static NUL-terminated names for i < count.
    (0..unsafe { dn_emu_kernel_count() }).map(|i| unsafe { CStr::from_ptr(dn_emu_kernel_name(i)) }.to_string_lossy().into_owned()).collect()
}

/// The CUDA backend on the emulated device; `cols_budget` as in `Gpu::with_device` (small values
/// exercise the chunked conv paths).
pub fn backend<T: densenet_core::Float + Elem>(cols_budget: usize) -> Gpu<T, Emu> {
    Gpu::with_device(Emu, cols_budget)
}

fn f64_at(addr: Addr, i: usize) -> f64 {
    // SAFETY: callers pass in-bounds element indices of live allocations.
    unsafe { *(addr as *const f64).add(i) }
}
fn f32_at(addr: Addr, i: usize) -> f32 {
    // SAFETY: as above.
    unsafe { *(addr as *const f32).add(i) }
}

impl Device for Emu {
    type Mem<E: Elem> = EmuMem;

    fn name(&self) -> &'static str {
        "cuda-emu"
    }
    fn alloc<E: Elem>(&self, len: usize) -> Result<EmuMem> {
        let bytes = len.max(1).checked_mul(std::mem::size_of::<E>()).ok_or_else(|| Error::Memory(format!("cannot allocate {len} elements")))?;
        let layout = Layout::from_size_align(bytes, 16).map_err(|e| Error::Memory(e.to_string()))?;
        // SAFETY: non-zero size. black_box: an allocation whose memory is never read (a test
        // of the out-of-memory error drops it at once) may otherwise be optimized away, and
        // the null check with it, so that an impossible size "succeeds".
        let ptr = std::hint::black_box(unsafe { alloc_zeroed(layout) });
        if ptr.is_null() {
            return Err(Error::Memory(format!("out of memory: cannot allocate {bytes} bytes")));
        }
        Ok(EmuMem { ptr, layout })
    }
    fn upload<E: Elem>(&self, data: &[E]) -> Result<EmuMem> {
        let m = self.alloc::<E>(data.len())?;
        // SAFETY: the allocation holds data.len() elements.
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), m.ptr as *mut E, data.len()) };
        Ok(m)
    }
    fn addr<E: Elem>(mem: &EmuMem) -> Addr {
        mem.ptr as Addr
    }
    fn download<E: Elem>(&self, src: Addr, len: usize) -> Result<Vec<E>> {
        // SAFETY: the backend passes views inside live allocations.
        Ok(unsafe { std::slice::from_raw_parts(src as *const E, len) }.to_vec())
    }
    fn memset_zero(&self, dst: Addr, bytes: usize) -> Result<()> {
        // SAFETY: as above.
        unsafe { std::ptr::write_bytes(dst as *mut u8, 0, bytes) };
        Ok(())
    }
    fn memcpy(&self, dst: Addr, src: Addr, bytes: usize) -> Result<()> {
        // SAFETY: as above (views of one op never overlap).
        unsafe { std::ptr::copy(src as *const u8, dst as *mut u8, bytes) };
        Ok(())
    }
    fn launch(&self, name: &str, grid: u32, block: u32, params: &[Word]) -> Result<()> {
        launch_3d(name, [grid, 1, 1], [block, 1, 1], params)
    }
    fn gemm(&self, g: &Gemm, double: bool) -> Result<()> {
        // Reference GEMM: f64 accumulation in k order (cuBLAS's order differs; tests allow for it).
        let at = |i: usize, p: usize| if g.ta { p * g.lda + i } else { i * g.lda + p };
        let bt = |p: usize, j: usize| if g.tb { j * g.ldb + p } else { p * g.ldb + j };
        for i in 0..g.m {
            for j in 0..g.n {
                let mut acc = 0f64;
                for p in 0..g.k {
                    acc += if double { f64_at(g.a, at(i, p)) * f64_at(g.b, bt(p, j)) } else { f32_at(g.a, at(i, p)) as f64 * f32_at(g.b, bt(p, j)) as f64 };
                }
                let ci = i * g.ldc + j;
                // SAFETY: C is an in-bounds view of a live allocation.
                unsafe {
                    if double {
                        let c = (g.c as *mut f64).add(ci);
                        *c = if g.accumulate { *c + acc } else { acc };
                    } else {
                        let c = (g.c as *mut f32).add(ci);
                        *c = if g.accumulate { *c + acc as f32 } else { acc as f32 };
                    }
                }
            }
        }
        Ok(())
    }
}

/// The last launch's failure on this thread as an `Error::Device` naming `what`.
fn launch_error(what: String, rc: c_int) -> Error {
    // SAFETY: a NUL-terminated thread-local string, valid until the next launch on this thread.
    let why = unsafe { CStr::from_ptr(dn_emu_last_error()) }.to_string_lossy().into_owned();
    Error::Device(format!("{what} failed ({rc}): {why}"))
}

/// Runs one of the emulator's self-test kernels (csrc/emu_selftest.cpp) on a 1-D grid; each
/// writes one 8-byte value per block into `out0` (and `out1`), which must hold `grid` values.
pub fn emu_selftest(name: &str, grid: u32, block: u32, out0: &mut [u64], out1: &mut [u64]) -> Result<()> {
    assert!(out0.len() >= grid as usize && out1.len() >= grid as usize, "one output value per block");
    let cname = CString::new(name).map_err(|_| Error::InvalidArg(format!("kernel name {name:?} has a NUL byte")))?;
    // SAFETY: the outputs hold a value per block, which is all a self-test kernel writes.
    let rc = unsafe { dn_emu_selftest(cname.as_ptr(), grid, block, out0.as_mut_ptr() as *mut c_void, out1.as_mut_ptr() as *mut c_void) };
    if rc == 0 {
        Ok(())
    } else {
        Err(launch_error(format!("emulated self-test {name} ({grid} blocks of {block})"), rc))
    }
}

/// Runs kernel `name` on the emulator with a 3-D grid and block (what cuLaunchKernel takes): an
/// `Error::Device` naming the kernel and the reason when the emulator, like CUDA, refuses the
/// configuration or a block's threads diverge at a barrier.
pub fn launch_3d(name: &str, grid: [u32; 3], block: [u32; 3], params: &[Word]) -> Result<()> {
    LAUNCHED.lock().unwrap_or_else(|p| p.into_inner()).insert(name.to_string());
    let mut words = params.to_vec();
    let mut ptrs: Vec<*mut c_void> = words.iter_mut().map(|w| w as *mut Word as *mut c_void).collect();
    let cname = CString::new(name).map_err(|_| Error::InvalidArg(format!("kernel name {name:?} has a NUL byte")))?;
    // SAFETY: every kernel parameter is 8 bytes and `ptrs` holds one pointer per parameter.
    let rc = unsafe { dn_emu_launch(cname.as_ptr(), grid[0], grid[1], grid[2], block[0], block[1], block[2], ptrs.as_mut_ptr()) };
    if rc == 0 {
        Ok(())
    } else {
        Err(launch_error(format!("emulated launch of {name} (grid {grid:?}, block {block:?})"), rc))
    }
}
