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

/// The same product in BLAS's column-major terms (what cuBLAS is called with): a row-major
/// matrix with row stride ld is its transpose in column-major with leading dimension ld, so
/// row-major C = op(A)·op(B) is column-major Cᵀ = op(B)ᵀ·op(A)ᵀ: the operands swap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ColMajorGemm {
    pub trans_a: bool,
    pub trans_b: bool,
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub a: Addr,
    pub lda: usize,
    pub b: Addr,
    pub ldb: usize,
    pub c: Addr,
    pub ldc: usize,
    /// β = 1 (accumulate) or 0.
    pub accumulate: bool,
}

impl Gemm {
    pub fn column_major(&self) -> ColMajorGemm {
        ColMajorGemm {
            trans_a: self.tb,
            trans_b: self.ta,
            m: self.n,
            n: self.m,
            k: self.k,
            a: self.b,
            lda: self.ldb,
            b: self.a,
            ldb: self.lda,
            c: self.c,
            ldc: self.ldc,
            accumulate: self.accumulate,
        }
    }
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

#[cfg(test)]
mod tests {
    use super::Gemm;

    /// Row-major reference: C[i, j] (+)= Σ op(A)[i, p] op(B)[p, j].
    fn row_major(g: &Gemm, a: &[f64], b: &[f64], c: &mut [f64]) {
        for i in 0..g.m {
            for j in 0..g.n {
                let s: f64 = (0..g.k).map(|p| a[if g.ta { p * g.lda + i } else { i * g.lda + p }] * b[if g.tb { j * g.ldb + p } else { p * g.ldb + j }]).sum();
                let ci = i * g.ldc + j;
                c[ci] = if g.accumulate { c[ci] + s } else { s };
            }
        }
    }

    /// BLAS reference (column-major, as cublas<t>gemm): C[i + j·ldc] = β·C + Σ op(A)(i, p) op(B)(p, j).
    #[allow(clippy::too_many_arguments)]
    fn blas(t_a: bool, t_b: bool, m: usize, n: usize, k: usize, a: &[f64], lda: usize, b: &[f64], ldb: usize, beta: f64, c: &mut [f64], ldc: usize) {
        for i in 0..m {
            for j in 0..n {
                let s: f64 = (0..k).map(|p| a[if t_a { i * lda + p } else { p * lda + i }] * b[if t_b { p * ldb + j } else { j * ldb + p }]).sum();
                c[i + j * ldc] = beta * c[i + j * ldc] + s;
            }
        }
    }

    #[test]
    fn the_column_major_call_computes_the_row_major_product() {
        let (m, n, k) = (3usize, 5usize, 4usize);
        for ta in [false, true] {
            for tb in [false, true] {
                for accumulate in [false, true] {
                    // Leading dimensions with padding, as views into wider buffers have.
                    let lda = if ta { m + 2 } else { k + 1 };
                    let ldb = if tb { k + 3 } else { n + 1 };
                    let ldc = n + 2;
                    let a: Vec<f64> = (0..(if ta { k } else { m }) * lda).map(|i| (i as f64 * 0.37).sin()).collect();
                    let b: Vec<f64> = (0..(if tb { n } else { k }) * ldb).map(|i| (i as f64 * 0.71).cos()).collect();
                    let c0: Vec<f64> = (0..m * ldc).map(|i| i as f64 * 0.01).collect();
                    let g = Gemm { m, n, k, a: 0, lda, ta, b: 0, ldb, tb, c: 0, ldc, accumulate };
                    let mut want = c0.clone();
                    row_major(&g, &a, &b, &mut want);
                    let cm = g.column_major();
                    // The call's operands are the row-major call's B and A.
                    let mut got = c0.clone();
                    blas(cm.trans_a, cm.trans_b, cm.m, cm.n, cm.k, &b, cm.lda, &a, cm.ldb, if cm.accumulate { 1.0 } else { 0.0 }, &mut got, cm.ldc);
                    for (x, y) in got.iter().zip(&want) {
                        assert!((x - y).abs() < 1e-12, "ta={ta} tb={tb} acc={accumulate}: {x} vs {y}");
                    }
                }
            }
        }
    }
}
