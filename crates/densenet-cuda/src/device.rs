//! The device seam under [`crate::Gpu`]: raw allocations, copies, kernel launches by name and
//! a row-major GEMM. Implemented by the CUDA device (feature `cuda`: cudarc + cuBLAS + our PTX)
//! and by the host emulator of the kernels (`densenet-cuda-kernels-host`, for the tests), so
//! everything above it — which kernel runs with which arguments on which view — is the same code
//! on both and is tested without a GPU.

use densenet_core::Result;

/// An element type a device buffer may hold (T, f64 scratch, i64 labels, u32 argmax).
pub trait Elem: Copy + Default + Send + Sync + 'static {}
impl Elem for f32 {}
impl Elem for f64 {}
impl Elem for i64 {}
impl Elem for u32 {}

/// A device address (already offset to a view's start); 0 is the null pointer.
pub type Addr = u64;

/// One kernel parameter: every parameter of our kernels is 8 bytes (a pointer, a `long long`,
/// an `unsigned long long` or a `double`), passed as its bit pattern.
pub type Word = u64;

/// Row-major GEMM operands: C[m, n] = op(A)[m, k] · op(B)[k, n] (+ C when `accumulate`).
/// `lda`/`ldb`/`ldc` are the row strides of A, B and C as stored (A stored [k, m] when `ta`).
#[derive(Clone, Copy, Debug)]
pub struct Gemm {
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub a: Addr,
    pub lda: usize,
    pub ta: bool,
    pub b: Addr,
    pub ldb: usize,
    pub tb: bool,
    pub c: Addr,
    pub ldc: usize,
    pub accumulate: bool,
}

pub trait Device: Send + Sync + 'static {
    /// An owned, zero-filled allocation of `len` elements of `E`.
    type Mem<E: Elem>: Send + Sync;

    fn name(&self) -> &'static str;
    /// A zeroed allocation; an `Error::Memory` naming the bytes when the device has no room.
    fn alloc<E: Elem>(&self, len: usize) -> Result<Self::Mem<E>>;
    fn upload<E: Elem>(&self, data: &[E]) -> Result<Self::Mem<E>>;
    fn addr<E: Elem>(mem: &Self::Mem<E>) -> Addr;
    /// Copies `len` elements from `src` to the host (waits for the queued work).
    fn download<E: Elem>(&self, src: Addr, len: usize) -> Vec<E>;
    fn memset_zero(&self, dst: Addr, bytes: usize);
    fn memcpy(&self, dst: Addr, src: Addr, bytes: usize);
    /// Launches kernel `name` on a 1-D grid of `grid` blocks of `block` threads.
    fn launch(&self, name: &str, grid: u32, block: u32, params: &[Word]);
    /// f32 or f64 GEMM (`double` selects the type), in the device's fixed order.
    fn gemm(&self, g: &Gemm, double: bool);
    /// Bytes still allocatable (free + cached unused); None when the device's memory is the host's.
    fn memory_available(&self) -> Option<u64> {
        None
    }
}
