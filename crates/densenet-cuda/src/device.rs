//! The device seam under [`crate::Gpu`]: raw allocations, copies, kernel launches by name and
//! a row-major GEMM. Implemented by the CUDA device (feature `cuda`: cudarc + cuBLAS + our PTX)
//! and by the host emulator of the kernels (`densenet-cuda-kernels-host`, for the tests), so
//! everything above it — which kernel runs with which arguments on which view — is the same code
//! on both and is tested without a GPU.

use densenet_core::{Error, Result};

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

/// A GEMM's sizes as cuBLAS takes them (column-major m, n, k, lda, ldb, ldc).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlasDims<I> {
    pub m: I,
    pub n: I,
    pub k: I,
    pub lda: I,
    pub ldb: I,
    pub ldc: I,
}

/// Which cuBLAS entry point a GEMM goes to: `cublas<t>gemm` (32-bit sizes) when every size,
/// leading dimension and operand extent (leading dimension × stored columns) fits an `i32`, else
/// `cublas<t>gemm_64` (64-bit sizes, cuBLAS 12+). Splitting the product would not do: in the
/// channel-major layout a row stride is N·H·W, which no piece of the product makes smaller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlasIndexing {
    I32(BlasDims<i32>),
    I64(BlasDims<i64>),
}

impl ColMajorGemm {
    /// Stored elements each operand spans: ld × its stored columns (A is k×m stored when
    /// transposed, else m×k; B is n×k or k×n; C is m×n).
    fn extents(&self) -> [u128; 3] {
        let (ld, cols) = (|v: usize| v as u128, |t: bool, a: usize, b: usize| if t { a as u128 } else { b as u128 });
        [ld(self.lda) * cols(self.trans_a, self.m, self.k), ld(self.ldb) * cols(self.trans_b, self.k, self.n), ld(self.ldc) * self.n as u128]
    }

    /// The sizes converted for cuBLAS, without truncation (see [`BlasIndexing`]); an
    /// `Error::InvalidArg` naming the GEMM where a size does not fit even 64 bits.
    pub fn blas_indexing(&self) -> Result<BlasIndexing> {
        let wide = |v: usize| {
            i64::try_from(v).map_err(|_| {
                Error::InvalidArg(format!("GEMM {}×{}×{} (ld {}, {}, {}): {v} does not fit cuBLAS's 64-bit sizes", self.m, self.n, self.k, self.lda, self.ldb, self.ldc))
            })
        };
        let d = BlasDims { m: wide(self.m)?, n: wide(self.n)?, k: wide(self.k)?, lda: wide(self.lda)?, ldb: wide(self.ldb)?, ldc: wide(self.ldc)? };
        let narrow = |v: i64| i32::try_from(v).ok();
        let small = (|| Some(BlasDims { m: narrow(d.m)?, n: narrow(d.n)?, k: narrow(d.k)?, lda: narrow(d.lda)?, ldb: narrow(d.ldb)?, ldc: narrow(d.ldc)? }))();
        Ok(match small {
            Some(s) if self.extents().iter().all(|&e| e <= i32::MAX as u128) => BlasIndexing::I32(s),
            _ => BlasIndexing::I64(d),
        })
    }
}

/// Every call that reaches the device returns its failure as an error naming the op (a launch
/// refused or faulted, a copy, an allocation): [`crate::Gpu`] keeps the first one of an op that
/// cannot return it and reports it from its next fallible call.
pub trait Device: Send + Sync + 'static {
    /// An owned, zero-filled allocation of `len` elements of `E`.
    type Mem<E: Elem>: Send + Sync;

    fn name(&self) -> &'static str;
    /// A zeroed allocation; an `Error::Memory` naming the bytes when the device has no room.
    fn alloc<E: Elem>(&self, len: usize) -> Result<Self::Mem<E>>;
    fn upload<E: Elem>(&self, data: &[E]) -> Result<Self::Mem<E>>;
    fn addr<E: Elem>(mem: &Self::Mem<E>) -> Addr;
    /// Copies `len` elements from `src` to the host (waits for the queued work, so a fault of
    /// an earlier kernel surfaces here).
    fn download<E: Elem>(&self, src: Addr, len: usize) -> Result<Vec<E>>;
    fn memset_zero(&self, dst: Addr, bytes: usize) -> Result<()>;
    fn memcpy(&self, dst: Addr, src: Addr, bytes: usize) -> Result<()>;
    /// Launches kernel `name` on a 1-D grid of `grid` blocks of `block` threads.
    fn launch(&self, name: &str, grid: u32, block: u32, params: &[Word]) -> Result<()>;
    /// f32 or f64 GEMM (`double` selects the type), in the device's fixed order.
    fn gemm(&self, g: &Gemm, double: bool) -> Result<()>;
    /// Bytes still allocatable (free + cached unused); None when the device's memory is the host's.
    fn memory_available(&self) -> Option<u64> {
        None
    }
    /// Bytes the device keeps allocated for its own use besides the buffers asked for (the
    /// cuBLAS workspace on a GPU).
    fn workspace_bytes(&self) -> u64 {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::{BlasDims, BlasIndexing, Gemm};

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

    /// The 1×1 conv of a bottleneck reading block 1's whole input (256 channels of 56×56 per
    /// sample, DenseNet-264 at 224²): y[128, P] = W[128, 256] · x[256, P], P = N·56·56.
    fn block1_conv(batch: usize) -> Gemm {
        let p = batch * 56 * 56;
        Gemm { m: 128, n: p, k: 256, a: 0, lda: 256, ta: false, b: 0, ldb: p, tb: false, c: 0, ldc: p, accumulate: false }
    }

    #[test]
    fn gemms_whose_operands_pass_two_to_the_31_elements_use_64_bit_sizes() {
        // x holds 256·3136·N elements: 2,146,729,984 at N = 2,674, 2,147,532,800 (> 2³¹ − 1) at 2,675.
        let at = |n: usize| block1_conv(n).column_major().blas_indexing().unwrap();
        let p: usize = 2674 * 3136;
        assert_eq!(at(2674), BlasIndexing::I32(BlasDims { m: p as i32, n: 128, k: 256, lda: p as i32, ldb: 256, ldc: p as i32 }));
        let p: usize = 2675 * 3136;
        assert_eq!(at(2675), BlasIndexing::I64(BlasDims { m: p as i64, n: 128, k: 256, lda: p as i64, ldb: 256, ldc: p as i64 }));
        // A size past i32 itself (not only an extent) is carried whole, never truncated.
        let big = (i32::MAX as usize) + 7;
        let g = Gemm { m: 2, n: big, k: 3, a: 0, lda: 3, ta: false, b: 0, ldb: big, tb: false, c: 0, ldc: big, accumulate: true };
        match g.column_major().blas_indexing().unwrap() {
            BlasIndexing::I64(d) => assert_eq!((d.m, d.n, d.k, d.lda, d.ldb, d.ldc), (big as i64, 2, 3, big as i64, 3, big as i64)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_size_past_64_bits_is_a_typed_error() {
        let g = Gemm { m: 2, n: usize::MAX, k: 3, a: 0, lda: 3, ta: false, b: 0, ldb: usize::MAX, tb: false, c: 0, ldc: usize::MAX, accumulate: false };
        let e = g.column_major().blas_indexing().unwrap_err();
        assert_eq!(e.code(), "ERR_INVALID_ARG", "{e}");
        assert!(e.message().contains(&usize::MAX.to_string()), "{e}");
    }
}
